//! Deduplication at import: one attachment mailed 1,000 times, in different
//! transfer encodings and inside different messages, is stored once, and
//! `aox show counts` shows it.

use base64::Engine as _;

use crate::cli_support::{add_user, json};
use crate::harness::TestDb;
use crate::import_support::{assert_consistent, import_json, n};

const ATTACHMENT_SIZE: usize = 20_000;
const MESSAGES: usize = 1_000;

/// 20,000 bytes of deterministic noise: incompressible, and unlike anything
/// else in the store.
fn attachment() -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..ATTACHMENT_SIZE)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn base64_lines(data: &[u8], width: usize, eol: &str) -> String {
    let text = base64::engine::general_purpose::STANDARD.encode(data);
    let mut out = String::new();
    for chunk in text.as_bytes().chunks(width) {
        out.push_str(std::str::from_utf8(chunk).unwrap());
        out.push_str(eol);
    }
    out
}

/// Quoted-printable of binary data: every byte outside printable ASCII (and
/// `=`) escaped, CR and LF included, soft line breaks before column 76.
fn quoted_printable(data: &[u8], eol: &str) -> String {
    let mut out = String::new();
    let mut column = 0;
    for &b in data {
        let piece = if (33..=126).contains(&b) && b != b'=' {
            (b as char).to_string()
        } else {
            format!("={b:02X}")
        };
        if column + piece.len() > 75 {
            out.push('=');
            out.push_str(eol);
            column = 0;
        }
        column += piece.len();
        out.push_str(&piece);
    }
    out.push_str(eol);
    out
}

/// Message `i`: its own sender, subject, text and header order, and the
/// attachment in one of four encodings.
fn message(i: usize, data: &[u8]) -> Vec<u8> {
    let variant = i % 4;
    let eol = if variant == 0 { "\r\n" } else { "\n" };
    let boundary = format!("=_boundary_{i}_{}", i * 7919 % 1000);
    let (ctype, name) = match i % 3 {
        0 => ("application/octet-stream", "report.bin"),
        1 => ("application/pdf", "report.pdf"),
        _ => ("application/x-data", "data"),
    };
    let mut head = vec![
        format!("From: Sender {i} <s{i}@example.net>"),
        "To: archive@example.org".to_string(),
        format!("Subject: Report number {i}"),
        format!(
            "Date: Tue, 3 Jan 2006 {:02}:{:02}:00 +0000",
            i / 60 % 24,
            i % 60
        ),
        format!("Message-ID: <dedup-{i}@example.net>"),
        "MIME-Version: 1.0".to_string(),
        format!("Content-Type: multipart/mixed; boundary=\"{boundary}\""),
    ];
    if i % 2 == 1 {
        head.reverse();
    }
    let text = format!("Here is report {i}.{eol}Regards,{eol}Sender {i}{eol}");
    let (cte, body) = match variant {
        0 => ("base64", base64_lines(data, 76, eol)),
        1 => ("base64", base64_lines(data, 64, eol)),
        2 => ("quoted-printable", quoted_printable(data, eol)),
        _ => ("Base64", base64_lines(data, 76, eol)),
    };
    let disposition = if variant == 3 {
        format!("Content-Disposition: attachment;{eol}\tfilename=\"{name}\"")
    } else {
        format!("Content-Disposition: attachment; filename={name}")
    };
    let mut m = String::new();
    for h in head {
        m.push_str(&h);
        m.push_str(eol);
    }
    m.push_str(eol);
    m.push_str(&format!(
        "--{boundary}{eol}Content-Type: text/plain; charset=us-ascii{eol}{eol}{text}\
         --{boundary}{eol}Content-Type: {ctype}; name=\"{name}\"{eol}{disposition}{eol}\
         Content-Transfer-Encoding: {cte}{eol}{eol}{body}--{boundary}--{eol}"
    ));
    m.into_bytes()
}

/// Writes the 1,000 messages as one mbox and imports it as alice's Reports;
/// returns the import's JSON summary and the raw size of the messages.
async fn import_thousand(db: &TestDb, data: &[u8]) -> (serde_json::Value, usize) {
    let dir = tempfile::tempdir().unwrap();
    let mbox = dir.path().join("dedup.mbox");
    let mut out = Vec::new();
    let mut raw_total = 0;
    for i in 0..MESSAGES {
        let m = message(i, data);
        raw_total += m.len();
        out.extend_from_slice(b"From s@example.net Tue Jan  3 10:00:00 2006\n");
        out.extend_from_slice(&m);
        out.push(b'\n');
    }
    std::fs::write(&mbox, &out).unwrap();
    add_user(db, "alice");
    let started = std::time::Instant::now();
    let v = import_json(db, "alice", "Reports", &[&mbox]);
    eprintln!(
        "imported {MESSAGES} messages ({:.1} MB) in {:.1?}",
        raw_total as f64 / 1e6,
        started.elapsed()
    );
    assert_eq!(n(&v, "read"), MESSAGES as u64, "{v}");
    assert_eq!(n(&v, "stored"), MESSAGES as u64, "{v}");
    assert_eq!(v["wrapped"], serde_json::json!([]), "{v}");
    assert_eq!(v["failures"], serde_json::json!([]), "{v}");
    assert_consistent(db, "alice", "Reports").await;
    (v, raw_total)
}

/// Exactly one body part is the attachment, and every message points at it.
#[tokio::test]
async fn import_stores_an_attachment_mailed_a_thousand_times_once() {
    let data = attachment();
    let db = TestDb::new().await;
    import_thousand(&db, &data).await;

    let owner = db.owner().await;
    let hash = {
        use sha2::Digest as _;
        sha2::Sha256::digest(&data).to_vec()
    };
    let rows = owner
        .query(
            "SELECT hash, data = $1 FROM bodyparts WHERE bytes = $2",
            &[&data, &(ATTACHMENT_SIZE as i64)],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "body parts of the attachment's size");
    assert_eq!(rows[0].get::<_, Vec<u8>>(0), hash);
    assert!(
        rows[0].get::<_, bool>(1),
        "the stored bytes are the attachment"
    );
    let referencing: i64 = owner
        .query_one(
            "SELECT count(DISTINCT message_id) FROM message_parts WHERE bodypart_hash = $1",
            &[&hash],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(referencing, MESSAGES as i64);
    // No leaf of any message is a second copy: the other leaves are the
    // thousand different texts.
    let leaves: i64 = owner
        .query_one(
            "SELECT count(DISTINCT bodypart_hash) FROM message_parts WHERE bodypart_hash IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(leaves, MESSAGES as i64 + 1);
}

/// `aox show counts` proves the deduplication: the body parts hold the
/// attachment once and a little text per message, nowhere near 1,000 copies.
#[tokio::test]
async fn import_dedup_shows_in_show_counts() {
    let data = attachment();
    let db = TestDb::new().await;
    let (v, raw_total) = import_thousand(&db, &data).await;

    let counts = json(&db.aox(&["--json", "show", "counts"]));
    let bodypart_bytes = counts["bodypart_bytes"].as_i64().unwrap();
    let message_bytes = counts["message_bytes"].as_i64().unwrap();
    eprintln!(
        "bodyparts {}, bodypart_bytes {bodypart_bytes}, message_bytes {message_bytes}, raw {raw_total}",
        counts["bodyparts"]
    );
    assert_eq!(counts["messages"], MESSAGES as i64, "{counts}");
    assert!(
        message_bytes > (MESSAGES * ATTACHMENT_SIZE) as i64,
        "logical size {message_bytes}"
    );
    assert_eq!(
        n(&v, "new_bodypart_bytes") as i64,
        bodypart_bytes,
        "the import's tally vs show counts"
    );
    // The attachment once, and per message a little text (well under 1 KB
    // each); one copy of the attachment per message would be 20 MB. Kept
    // originals are evidence, counted apart: the re-encoded messages (64-column
    // base64, quoted-printable) cannot be rebuilt from the canonical form by a
    // small delta, so their arriving bytes are kept whole.
    let bound = (ATTACHMENT_SIZE + MESSAGES * 1_000) as i64;
    let content_bytes = bodypart_bytes - counts["original_copy_bytes"].as_i64().unwrap();
    let owner = db.owner().await;
    let originals: i64 = owner
        .query_one(
            "SELECT count(*) FROM messages WHERE original_hash IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        content_bytes < bound,
        "content bytes {content_bytes} >= {bound} ({originals} messages keep their original bytes)"
    );
    assert_eq!(counts["original_copies"], originals, "{counts}");
}

/// A message already in the canonical form (CRLF, clean header, base64 at
/// 76 columns) is served as it came: nothing changed, so no second copy.
#[tokio::test]
async fn import_keeps_no_second_copy_of_a_message_that_is_already_canonical() {
    let data = attachment();
    let raw = message(0, &data);
    assert!(!raw.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("canonical.eml"), &raw).unwrap();
    let db = TestDb::new().await;
    add_user(&db, "alice");
    let v = import_json(&db, "alice", "INBOX", &[dir.path()]);
    assert_eq!(n(&v, "stored"), 1, "{v}");
    let row = db
        .owner()
        .await
        .query_one(
            "SELECT original_hash IS NULL, original_delta IS NOT NULL, rfc822_size FROM messages",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(2), raw.len() as i64, "RFC822.SIZE");
    assert!(row.get::<_, bool>(0), "a copy of the original was kept");
    assert!(
        !row.get::<_, bool>(1),
        "a delta was kept for an unchanged message"
    );
    // The attachment and the short text, nothing more.
    assert!(
        n(&v, "new_bodypart_bytes") < (ATTACHMENT_SIZE + 100) as u64,
        "{v}"
    );
}

/// A message whose only change in normalisation is bare LF to CRLF (mbox,
/// Unix maildirs) keeps no copy of its bytes: a delta of a few bytes says how
/// to give them back, and every stored body part is one a message refers to.
#[tokio::test]
async fn import_of_a_bare_lf_message_stores_no_second_copy() {
    let text =
        "A line of text that is long enough to notice when it is stored twice.\n".repeat(100);
    let lf = format!(
        "From: a@example.org\nTo: b@example.org\nSubject: bare LF\n\
         Date: Tue, 3 Jan 2006 10:00:00 +0000\nMessage-ID: <lf-only@example.org>\n\
         MIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\n{text}"
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("lf.eml"), &lf).unwrap();
    let db = TestDb::new().await;
    add_user(&db, "alice");
    let v = import_json(&db, "alice", "INBOX", &[dir.path()]);
    assert_eq!(n(&v, "stored"), 1, "{v}");
    let owner = db.owner().await;
    let row = owner
        .query_one(
            "SELECT original_hash IS NULL, octet_length(original_delta), rfc822_size FROM messages",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        row.get::<_, i64>(2),
        (lf.len() + lf.matches('\n').count()) as i64,
        "RFC822.SIZE of the CRLF form"
    );
    let delta: Option<i32> = row.get(1);
    assert!(delta.is_some_and(|d| d <= 8), "delta of {delta:?} bytes");
    assert!(row.get::<_, bool>(0), "original_hash with a delta");
    let unreferenced: i64 = owner
        .query_one(
            "SELECT count(*) FROM bodyparts b WHERE NOT EXISTS \
             (SELECT 1 FROM message_parts p WHERE p.bodypart_hash = b.hash) \
             AND NOT EXISTS (SELECT 1 FROM messages g WHERE g.original_hash = b.hash)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(unreferenced, 0, "body parts no message refers to ({v})");
    assert!(n(&v, "new_bodypart_bytes") <= text.len() as u64 * 2, "{v}");

    // And --original still gives the LF bytes back.
    let out = dir.path().join("original");
    crate::import_support::export_maildir(&db, "alice", "INBOX", &out, true);
    let files = crate::import_support::exported_maildir(&out);
    assert_eq!(files.len(), 1);
    assert!(files[0].bytes == lf.as_bytes());
}
