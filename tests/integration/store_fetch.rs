//! The FETCH loader: entries for a chunk of UIDs in UID order with what the
//! command asks for, CHANGEDSINCE (RFC 7162 §3.1.4.1), UIDs the mailbox does
//! not hold, and BODY[] / BODY[section] served from what it loaded.

use std::borrow::Cow;
use std::collections::HashMap;

use archiveopteryx::mime::section::{self, SectionSpec, SectionText};
use archiveopteryx::mime::{self, Ingested};
use archiveopteryx::store::fetch::{FetchRow, FetchWanted, chunks, fetch};
use archiveopteryx::store::inject::{self, NewMessage, SystemFlags};
use archiveopteryx::store::messages::bodypart_data;
use archiveopteryx::uidset::UidSet;

use crate::harness::TestDb;

const HEAD: &str = "From: Alice <alice@example.org>\r\nTo: bob@example.org\r\n\
    Date: Mon, 2 Jan 2006 15:04:05 +0000\r\nMIME-Version: 1.0\r\n";

fn plain(subject: &str) -> Vec<u8> {
    format!(
        "{HEAD}Subject: {subject}\r\nMessage-ID: <{subject}@example.org>\r\n\
         Content-Type: text/plain\r\n\r\nHello, {subject}.\r\n"
    )
    .into_bytes()
}

fn with_attachment() -> Vec<u8> {
    format!(
        "{HEAD}Subject: attached\r\nMessage-ID: <attached@example.org>\r\n\
         Content-Type: multipart/mixed; boundary=b\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n\
         --b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n\
         AAECAwQFBgcICQ==\r\n--b--\r\n"
    )
    .into_bytes()
}

fn signed() -> Vec<u8> {
    format!(
        "{HEAD}Subject: signed\r\nMessage-ID: <signed@example.org>\r\n\
         Content-Type: multipart/signed; boundary=sig; protocol=\"application/pgp-signature\"\r\n\r\n\
         --sig\r\nContent-Type: text/plain\r\n\r\nsigned words\r\n\
         --sig\r\nContent-Type: application/pgp-signature\r\n\r\nSIG\r\n--sig--\r\n"
    )
    .into_bytes()
}

struct Mailbox {
    db: TestDb,
    user: i64,
    inbox: i64,
    /// By UID.
    ingested: HashMap<u32, Ingested>,
}

const DATE_1: i64 = 1_136_214_245;
const DATE_4: i64 = 1_700_000_000;

/// Alice's INBOX: UIDs 1–3 in one batch (modseq 2), UID 4 in another
/// (modseq 3).
async fn mailbox() -> Mailbox {
    let db = TestDb::new().await;
    assert!(
        db.aox(&["add", "user", "alice", "secret", "alice@example.org"])
            .status
            .success()
    );
    let (user, inbox) =
        archiveopteryx::store::mailboxes::mailbox_id(&db.owner().await, "alice", "INBOX")
            .await
            .unwrap();
    let mut runtime = db.runtime().await;
    let seen = SystemFlags {
        seen: true,
        ..Default::default()
    };
    let flagged = SystemFlags {
        flagged: true,
        draft: true,
        ..Default::default()
    };
    let first = [
        (
            plain("one"),
            seen,
            vec!["$Forwarded".to_string(), "Work".into()],
        ),
        (with_attachment(), SystemFlags::default(), vec![]),
        (signed(), seen, vec!["Work".into()]),
    ];
    let mut ingested = HashMap::new();
    let batch: Vec<NewMessage> = first
        .into_iter()
        .enumerate()
        .map(|(i, (raw, flags, kw))| {
            let ing = mime::ingest(&raw);
            ingested.insert(i as u32 + 1, ing.clone());
            NewMessage::new(ing, raw, DATE_1, flags, kw)
        })
        .collect();
    let done = inject::inject(&mut runtime, user, inbox, &batch)
        .await
        .unwrap();
    assert_eq!((done.uids, done.modseq), (vec![1, 2, 3], 2));
    let raw = plain("four");
    let ing = mime::ingest(&raw);
    ingested.insert(4, ing.clone());
    let done = inject::inject(
        &mut runtime,
        user,
        inbox,
        &[NewMessage::new(ing, raw, DATE_4, flagged, vec![])],
    )
    .await
    .unwrap();
    assert_eq!((done.uids, done.modseq), (vec![4], 3));
    Mailbox {
        db,
        user,
        inbox,
        ingested,
    }
}

const EVERYTHING: FetchWanted = FetchWanted {
    envelope: true,
    bodystructure: true,
    body: true,
    parts: true,
    thread: true,
    modseq_filter: None,
};

fn uids(rows: &[FetchRow]) -> Vec<u32> {
    rows.iter().map(|r| r.uid).collect()
}

#[tokio::test]
async fn fetch_gives_entries_in_uid_order_with_flags_dates_and_sizes() {
    let m = mailbox().await;
    let runtime = m.db.runtime().await;
    let rows = fetch(
        &runtime,
        m.user,
        m.inbox,
        &UidSet::everything(),
        &EVERYTHING,
    )
    .await
    .unwrap();
    assert_eq!(uids(&rows), vec![1, 2, 3, 4]);
    assert_eq!(
        rows.iter().map(|r| r.modseq).collect::<Vec<_>>(),
        vec![2, 2, 2, 3]
    );
    assert!(rows[0].flags.seen && !rows[0].flags.flagged);
    assert_eq!(rows[1].flags, SystemFlags::default());
    assert!(rows[3].flags.flagged && rows[3].flags.draft && !rows[3].flags.seen);
    assert_eq!(rows[0].internal_date, DATE_1);
    assert_eq!(rows[3].internal_date, DATE_4);

    // Keyword ids name the user's keywords.
    let names: HashMap<i32, String> = runtime
        .query(
            "SELECT id, name::text FROM keywords WHERE user_id = $1",
            &[&m.user],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let named = |r: &FetchRow| {
        let mut k: Vec<String> = r.keywords.iter().map(|id| names[id].clone()).collect();
        k.sort();
        k
    };
    assert_eq!(named(&rows[0]), vec!["$Forwarded", "Work"]);
    assert!(rows[1].keywords.is_empty());
    assert_eq!(named(&rows[2]), vec!["Work"]);

    for row in &rows {
        let ing = &m.ingested[&row.uid];
        assert_eq!(row.rfc822_size, ing.wire.len() as u64);
        assert_eq!(row.envelope.as_deref(), Some(ing.envelope.as_str()));
        assert_eq!(
            row.bodystructure.as_deref(),
            Some(ing.bodystructure.as_str())
        );
        assert_eq!(row.body.as_deref(), Some(ing.body.as_str()));
        assert_eq!(row.parts, ing.parts);
        assert_eq!(row.thread_id, None);
        let sha: Vec<u8> = runtime
            .query_one(
                "SELECT raw_sha256 FROM messages WHERE user_id = $1 AND id = $2",
                &[&m.user, &row.message_id],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(sha, ing.raw_sha256);
    }
}

#[tokio::test]
async fn rfc9051_6_4_5_body_and_sections_served_from_loaded_parts_are_the_wire() {
    let m = mailbox().await;
    let runtime = m.db.runtime().await;
    let rows = fetch(
        &runtime,
        m.user,
        m.inbox,
        &UidSet::everything(),
        &EVERYTHING,
    )
    .await
    .unwrap();
    for row in &rows {
        let ing = &m.ingested[&row.uid];
        // BODY[]: every body part.
        let hashes: Vec<[u8; 32]> = row.parts.iter().filter_map(|p| p.bodypart).collect();
        let content = bodypart_data(&runtime, &hashes).await.unwrap();
        let wire = mime::render(&row.parts, &|h| content.get(h).cloned()).unwrap();
        assert_eq!(wire, ing.wire, "UID {}", row.uid);

        // BODY[1] and BODY[HEADER]: only what `needed` names is loaded.
        for (part, text) in [(&[1u32][..], None), (&[][..], Some(SectionText::Header))] {
            let spec = SectionSpec { part, text };
            let need = section::needed(&row.parts, &spec);
            let loaded = bodypart_data(&runtime, &need).await.unwrap();
            assert_eq!(loaded.len(), need.len());
            let lookup = |h: &[u8; 32]| loaded.get(h).map(|d| Cow::Borrowed(d.as_slice()));
            let served = section::section(&row.parts, &lookup, &spec)
                .unwrap()
                .unwrap();
            assert!(
                memchr::memmem::find(&ing.wire, &served).is_some(),
                "UID {}: {spec:?} is not in the wire",
                row.uid
            );
        }
    }
    // The signed message's first part, cut from its exact bytes.
    let signed = rows.iter().find(|r| r.uid == 3).unwrap();
    let spec = SectionSpec {
        part: &[1],
        text: None,
    };
    let loaded = bodypart_data(&runtime, &section::needed(&signed.parts, &spec))
        .await
        .unwrap();
    let lookup = |h: &[u8; 32]| loaded.get(h).map(|d| Cow::Borrowed(d.as_slice()));
    assert_eq!(
        section::section(&signed.parts, &lookup, &spec).unwrap(),
        Some(b"signed words".to_vec())
    );
}

#[tokio::test]
async fn fetch_loads_only_what_is_wanted() {
    let m = mailbox().await;
    let runtime = m.db.runtime().await;
    for bits in 0..16u8 {
        let wanted = FetchWanted {
            envelope: bits & 1 != 0,
            bodystructure: bits & 2 != 0,
            body: bits & 4 != 0,
            parts: bits & 8 != 0,
            thread: true,
            modseq_filter: None,
        };
        let rows = fetch(
            &runtime,
            m.user,
            m.inbox,
            &UidSet::from_values([2]),
            &wanted,
        )
        .await
        .unwrap();
        assert_eq!(uids(&rows), vec![2], "{wanted:?}");
        let (row, ing) = (&rows[0], &m.ingested[&2]);
        assert_eq!(
            row.envelope.as_deref(),
            wanted.envelope.then_some(ing.envelope.as_str())
        );
        assert_eq!(
            row.bodystructure.as_deref(),
            wanted.bodystructure.then_some(ing.bodystructure.as_str())
        );
        assert_eq!(
            row.body.as_deref(),
            wanted.body.then_some(ing.body.as_str())
        );
        assert_eq!(row.parts.is_empty(), !wanted.parts, "{wanted:?}");
        // The entry's own columns come whatever is asked.
        assert_eq!(row.rfc822_size, ing.wire.len() as u64);
        assert_eq!(row.modseq, 2);
    }
}

#[tokio::test]
async fn rfc7162_3_1_4_1_changedsince_returns_only_later_modseqs() {
    let m = mailbox().await;
    let runtime = m.db.runtime().await;
    let since = |modseq| FetchWanted {
        modseq_filter: Some(modseq),
        ..FetchWanted::default()
    };
    let all = UidSet::everything();
    let got = fetch(&runtime, m.user, m.inbox, &all, &since(1))
        .await
        .unwrap();
    assert_eq!(uids(&got), vec![1, 2, 3, 4]);
    let got = fetch(&runtime, m.user, m.inbox, &all, &since(2))
        .await
        .unwrap();
    assert_eq!(uids(&got), vec![4]);
    let got = fetch(&runtime, m.user, m.inbox, &all, &since(3))
        .await
        .unwrap();
    assert!(got.is_empty());
    // Out of bigint range: nothing is newer, and nothing fails.
    let got = fetch(&runtime, m.user, m.inbox, &all, &since(u64::MAX))
        .await
        .unwrap();
    assert!(got.is_empty());
}

#[tokio::test]
async fn uids_not_in_the_mailbox_are_skipped_and_chunks_cover_a_sparse_view() {
    let m = mailbox().await;
    let runtime = m.db.runtime().await;
    let asked = UidSet::from_ranges([(2, 2), (4, 9), (100, 200)]);
    let got = fetch(&runtime, m.user, m.inbox, &asked, &EVERYTHING)
        .await
        .unwrap();
    assert_eq!(uids(&got), vec![2, 4]);
    assert!(
        fetch(&runtime, m.user, m.inbox, &UidSet::new(), &EVERYTHING)
            .await
            .unwrap()
            .is_empty()
    );
    // Another user's mailbox id gives nothing.
    assert!(
        fetch(&runtime, m.user + 1, m.inbox, &asked, &EVERYTHING)
            .await
            .unwrap()
            .is_empty()
    );

    // A session whose view is 1, 3, 4 and 7 (7 since expunged elsewhere),
    // fetching 1:* two UIDs at a time.
    let known = UidSet::from_values([1, 3, 4, 7]);
    let parts = chunks(&UidSet::everything(), &known, 2);
    assert_eq!(
        parts.iter().map(UidSet::to_imap).collect::<Vec<_>>(),
        vec!["1,3", "4,7"]
    );
    let mut seen = Vec::new();
    for chunk in &parts {
        seen.extend(uids(
            &fetch(&runtime, m.user, m.inbox, chunk, &FetchWanted::default())
                .await
                .unwrap(),
        ));
    }
    assert_eq!(seen, vec![1, 3, 4]);
}

/// DESIGN §4.4: a UID range drives an index range scan, whatever the
/// planner believes about the table. A mailbox freshly filled by an import
/// has no statistics yet, and a plain join of the ranges with the entries
/// then read every entry of the mailbox for each FETCH of one UID (mbsync
/// fetches 5,000 messages one UID at a time: 10 ms each at 5,000 entries).
#[tokio::test]
async fn a_one_uid_fetch_reads_only_that_entry_of_a_large_mailbox() {
    let m = mailbox().await;
    // 2,000 more entries for UID 1's message, as a bulk import leaves them:
    // inserted in one statement, not yet analysed.
    let owner = m.db.owner().await;
    owner
        .execute(
            "INSERT INTO mailbox_entries (user_id, mailbox_id, uid, message_id, modseq, \
                                          internaldate, rfc822_size) \
             SELECT user_id, mailbox_id, g, message_id, modseq, internaldate, rfc822_size \
             FROM mailbox_entries, generate_series(5, 2004) AS g \
             WHERE user_id = $1 AND mailbox_id = $2 AND uid = 1",
            &[&m.user, &m.inbox],
        )
        .await
        .unwrap();
    let mut runtime = m.db.runtime().await;
    // pg_stat_xact_user_tables counts this transaction's reads at once,
    // without waiting for the statistics to be flushed.
    let tx = runtime.transaction().await.unwrap();
    let got = fetch(
        &tx,
        m.user,
        m.inbox,
        &UidSet::from_ranges([(1000, 1000), (1500, 1501)]),
        &FetchWanted::default(),
    )
    .await
    .unwrap();
    assert_eq!(uids(&got), vec![1000, 1500, 1501]);
    let row = tx
        .query_one(
            "SELECT coalesce(idx_tup_fetch, 0) + coalesce(seq_tup_read, 0) \
             FROM pg_stat_xact_user_tables WHERE relname = 'mailbox_entries'",
            &[],
        )
        .await
        .unwrap();
    let read: i64 = row.get(0);
    assert!(read <= 10, "read {read} entries to fetch 3");
}

#[tokio::test]
async fn entries_sharing_a_message_each_get_its_parts_and_thread() {
    let m = mailbox().await;
    let runtime = m.db.runtime().await;
    // A COPY within the mailbox: UID 10 is another entry for UID 2's message.
    runtime
        .execute(
            "INSERT INTO mailbox_entries (user_id, mailbox_id, uid, message_id, modseq, \
                    internaldate, rfc822_size) \
             SELECT user_id, mailbox_id, 10, message_id, 4, internaldate, rfc822_size \
             FROM mailbox_entries WHERE user_id = $1 AND mailbox_id = $2 AND uid = 2",
            &[&m.user, &m.inbox],
        )
        .await
        .unwrap();
    let owner = m.db.owner().await;
    let thread: i64 = owner
        .query_one(
            "INSERT INTO threads (user_id, root_message_id) VALUES ($1, 'attached@example.org') \
             RETURNING id",
            &[&m.user],
        )
        .await
        .unwrap()
        .get(0);
    owner
        .execute(
            "UPDATE messages SET thread_id = $3 WHERE user_id = $1 AND id = \
             (SELECT message_id FROM mailbox_entries WHERE user_id = $1 AND mailbox_id = $2 AND uid = 2)",
            &[&m.user, &m.inbox, &thread],
        )
        .await
        .unwrap();
    let rows = fetch(
        &runtime,
        m.user,
        m.inbox,
        &UidSet::from_values([2, 3, 10]),
        &EVERYTHING,
    )
    .await
    .unwrap();
    assert_eq!(uids(&rows), vec![2, 3, 10]);
    assert_eq!(rows[0].message_id, rows[2].message_id);
    assert_eq!(rows[0].parts, m.ingested[&2].parts);
    assert_eq!(rows[2].parts, m.ingested[&2].parts);
    assert_eq!(rows[0].thread_id, Some(thread));
    assert_eq!(rows[2].thread_id, Some(thread));
    assert_eq!(rows[1].thread_id, None);
    assert_eq!(rows[2].modseq, 4);
}
