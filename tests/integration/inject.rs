//! The injector: content once, UIDs and one modseq per batch, counters and
//! the change log kept exact, deduplication by content hash.

use archiveopteryx::mime;
use archiveopteryx::store::inject::{self, NewMessage, SystemFlags};

use crate::harness::TestDb;

fn message(subject: &str, attachment_b64: Option<&str>) -> Vec<u8> {
    let mut m = format!(
        "From: Alice <alice@example.org>\r\nTo: bob@example.org\r\nSubject: {subject}\r\n\
         Date: Mon, 2 Jan 2006 15:04:05 +0000\r\nMessage-ID: <{subject}@example.org>\r\nMIME-Version: 1.0\r\n"
    );
    match attachment_b64 {
        None => m.push_str("Content-Type: text/plain\r\n\r\nHello.\r\n"),
        Some(b64) => m.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n\
             --b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n{b64}\r\n--b--\r\n"
        )),
    }
    m.into_bytes()
}

fn new_message(raw: Vec<u8>, flags: SystemFlags, keywords: &[&str]) -> NewMessage {
    NewMessage::new(
        mime::ingest(&raw),
        raw,
        1_136_214_245,
        flags,
        keywords.iter().map(|k| k.to_string()).collect(),
    )
}

async fn alice_inbox(db: &TestDb) -> (i64, i64) {
    let out = db.aox(&["add", "user", "alice", "secret", "alice@example.org"]);
    assert!(out.status.success());
    let owner = db.owner().await;
    archiveopteryx::store::mailboxes::mailbox_id(&owner, "alice", "INBOX")
        .await
        .unwrap()
}

#[tokio::test]
async fn a_batch_gets_consecutive_uids_one_modseq_and_exact_counters() {
    let db = TestDb::new().await;
    let (user, inbox) = alice_inbox(&db).await;
    let mut runtime = db.runtime().await;
    let seen = SystemFlags {
        seen: true,
        ..Default::default()
    };
    let batch = vec![
        new_message(message("one", None), seen, &["$Forwarded"]),
        new_message(message("two", None), SystemFlags::default(), &[]),
        new_message(
            message("three", None),
            SystemFlags {
                deleted: true,
                ..Default::default()
            },
            &["$forwarded", "Work"],
        ),
    ];
    let sizes: i64 = batch.iter().map(|m| m.ingested.wire.len() as i64).sum();
    let first = inject::inject(&mut runtime, user, inbox, &batch)
        .await
        .unwrap();
    assert_eq!(first.uids, vec![1, 2, 3]);
    assert_eq!(first.modseq, 2);

    let second = inject::inject(
        &mut runtime,
        user,
        inbox,
        &[new_message(message("four", None), seen, &[])],
    )
    .await
    .unwrap();
    assert_eq!(second.uids, vec![4]);
    assert_eq!(second.modseq, 3);

    let row = runtime
        .query_one(
            "SELECT uidnext, highest_modseq, message_count, unseen_count, deleted_count, total_size \
             FROM mailboxes WHERE id = $1",
            &[&inbox],
        )
        .await
        .unwrap();
    let four = mime::ingest(&message("four", None)).wire.len() as i64;
    assert_eq!(
        (
            row.get::<_, i64>(0),
            row.get::<_, i64>(1),
            row.get::<_, i64>(2),
            row.get::<_, i64>(3),
            row.get::<_, i64>(4),
            row.get::<_, i64>(5)
        ),
        (5, 3, 4, 2, 1, sizes + four)
    );
    let changes = runtime
        .query("SELECT modseq, kind, uid_low, uid_high FROM mailbox_changes WHERE mailbox_id = $1 ORDER BY modseq", &[&inbox])
        .await
        .unwrap();
    let changes: Vec<(i64, String, i64, i64)> = changes
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(
        changes,
        vec![(2, "new".into(), 1, 3), (3, "new".into(), 4, 4)]
    );

    // Keywords are per user and case-insensitive: $Forwarded and $forwarded are one.
    let kw: i64 = runtime
        .query_one("SELECT count(*) FROM keywords WHERE user_id = $1", &[&user])
        .await
        .unwrap()
        .get(0);
    assert_eq!(kw, 2);
    let on_three: Vec<i32> = runtime
        .query_one(
            "SELECT keywords FROM mailbox_entries WHERE mailbox_id = $1 AND uid = 3",
            &[&inbox],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(on_three.len(), 2);
}

#[tokio::test]
async fn the_same_attachment_in_two_encodings_is_stored_once() {
    let db = TestDb::new().await;
    let (user, inbox) = alice_inbox(&db).await;
    let mut runtime = db.runtime().await;
    let payload: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 251) as u8).collect();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&payload);
    let wrapped: String = b64
        .as_bytes()
        .chunks(60)
        .map(|c| format!("{}\r\n", String::from_utf8_lossy(c)))
        .collect();
    let a = message("a", Some(&b64));
    let b = message("b", Some(wrapped.trim_end()));
    inject::inject(
        &mut runtime,
        user,
        inbox,
        &[new_message(a, SystemFlags::default(), &[])],
    )
    .await
    .unwrap();
    let second = inject::inject(
        &mut runtime,
        user,
        inbox,
        &[new_message(b, SystemFlags::default(), &[])],
    )
    .await
    .unwrap();
    let big: i64 = runtime
        .query_one("SELECT count(*) FROM bodyparts WHERE bytes = 20000", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(big, 1);
    // The text part and the attachment were already stored; what is new is
    // the second message's original bytes (its base64 lines were rewrapped).
    assert_eq!(second.new_bodyparts, 1, "{second:?}");
    let originals: i64 = runtime
        .query_one(
            "SELECT count(*) FROM bodyparts b JOIN messages m ON m.original_hash = b.hash",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(originals, 2);
}

#[tokio::test]
async fn the_same_bytes_twice_share_one_message_row_and_are_found_by_hash() {
    let db = TestDb::new().await;
    let (user, inbox) = alice_inbox(&db).await;
    let mut runtime = db.runtime().await;
    let raw = message("same", None);
    let sha = mime::ingest(&raw).raw_sha256;
    let present = inject::raw_hashes_present(&runtime, user, inbox, &[sha])
        .await
        .unwrap();
    assert!(present.is_empty());
    let batch = vec![
        new_message(raw.clone(), SystemFlags::default(), &[]),
        new_message(raw, SystemFlags::default(), &[]),
    ];
    let got = inject::inject(&mut runtime, user, inbox, &batch)
        .await
        .unwrap();
    assert_eq!(got.uids, vec![1, 2]);
    let messages: i64 = runtime
        .query_one("SELECT count(*) FROM messages", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(messages, 1);
    let present = inject::raw_hashes_present(&runtime, user, inbox, &[sha])
        .await
        .unwrap();
    assert!(present.contains(&sha));
}

#[tokio::test]
async fn stored_parts_render_back_to_the_served_bytes() {
    let db = TestDb::new().await;
    let (user, inbox) = alice_inbox(&db).await;
    let mut runtime = db.runtime().await;
    let raw = message("render", Some("aGVsbG8gd29ybGQ="));
    let ingested = mime::ingest(&raw);
    let wire = ingested.wire.clone();
    inject::inject(
        &mut runtime,
        user,
        inbox,
        &[NewMessage::new(
            ingested,
            raw,
            0,
            SystemFlags::default(),
            vec![],
        )],
    )
    .await
    .unwrap();
    let parts = runtime
        .query(
            "SELECT p.part, p.position, p.header, p.bodypart_hash, p.content_type, p.transfer_encoding, \
             p.encoded_bytes, p.lines FROM message_parts p WHERE p.user_id = $1 ORDER BY p.position",
            &[&user],
        )
        .await
        .unwrap();
    let parts: Vec<mime::Part> = parts
        .iter()
        .map(|r| mime::Part {
            part: r.get(0),
            position: r.get(1),
            header: r.get(2),
            bodypart: r
                .get::<_, Option<Vec<u8>>>(3)
                .map(|h| <[u8; 32]>::try_from(h.as_slice()).unwrap()),
            content_type: r.get(4),
            transfer_encoding: r.get(5),
            encoded_bytes: r.get::<_, i64>(6) as u64,
            lines: r.get::<_, i64>(7) as u64,
        })
        .collect();
    let leaves: std::collections::HashMap<Vec<u8>, Vec<u8>> = runtime
        .query("SELECT hash, data FROM bodyparts", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let rendered = mime::render(&parts, &|h: &[u8; 32]| leaves.get(&h[..]).cloned()).unwrap();
    assert_eq!(rendered, wire);
    let size: i64 = runtime
        .query_one("SELECT rfc822_size FROM mailbox_entries", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(size as usize, wire.len());
}

#[tokio::test]
async fn a_body_part_another_writer_stores_meanwhile_is_reused_not_duplicated() {
    // The injector looks up which parts are missing, then COPYs them. Here
    // another transaction inserts the attachment between the two: the COPY
    // waits for it, fails on the duplicate hash when it commits, and the
    // batch starts again and reuses the committed part.
    let db = TestDb::new().await;
    let (user, inbox) = alice_inbox(&db).await;
    let payload: Vec<u8> = (0..30_000u32).map(|i| (i * 13 % 253) as u8).collect();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&payload);
    let m = new_message(message("raced", Some(&b64)), SystemFlags::default(), &[]);
    let leaf = m
        .ingested
        .leaves
        .iter()
        .find(|l| l.decoded == payload)
        .expect("the attachment is a leaf");
    let hash = leaf.hash.to_vec();

    let mut other = db.owner().await;
    let other_tx = other.transaction().await.unwrap();
    other_tx
        .execute(
            "INSERT INTO bodyparts (hash, bytes, data) VALUES ($1, $2, $3)",
            &[&hash, &(payload.len() as i64), &payload],
        )
        .await
        .unwrap();

    let mut runtime = db.runtime().await;
    let runtime_pid: i32 = runtime
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    let injecting = tokio::spawn(async move {
        let done = inject::inject(&mut runtime, user, inbox, std::slice::from_ref(&m)).await;
        (done, runtime)
    });
    // Wait until the injector's COPY is blocked on the uncommitted part.
    let observer = db.superuser().await;
    loop {
        let waiting: bool = observer
            .query_one(
                "SELECT coalesce(bool_or(wait_event_type = 'Lock'), false) FROM pg_stat_activity WHERE pid = $1",
                &[&runtime_pid],
            )
            .await
            .unwrap()
            .get(0);
        if waiting {
            break;
        }
        assert!(
            !injecting.is_finished(),
            "the injector did not wait for the other writer"
        );
        tokio::task::yield_now().await;
    }
    other_tx.commit().await.unwrap();

    let (done, runtime) = injecting.await.unwrap();
    let done = done.expect("the batch is retried after the race");
    assert_eq!(done.uids, vec![1]);
    let copies: i64 = runtime
        .query_one("SELECT count(*) FROM bodyparts WHERE hash = $1", &[&hash])
        .await
        .unwrap()
        .get(0);
    assert_eq!(copies, 1);
    let referenced: i64 = runtime
        .query_one(
            "SELECT count(*) FROM message_parts WHERE user_id = $1 AND bodypart_hash = $2",
            &[&user, &hash],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(referenced, 1);
}
