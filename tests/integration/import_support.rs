//! Helpers shared by the `aox import` / `aox export` tests: running the
//! commands, writing small archives, generating big ones, and checking that a
//! mailbox's counters agree with its entries.

use std::path::{Path, PathBuf};
use std::process::Output;

use sha2::Digest as _;

use crate::cli_support::{json, ok};
use crate::harness::{TestDb, stderr, stdout};

/// Paths in the brief are relative to the package directory.
pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared/corpus`, next to the repository.
pub fn corpus_dir() -> PathBuf {
    manifest_dir().join("../shared/corpus")
}

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(bytes).into()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

/// Runs `aox import login mailbox sources…` (text output).
pub fn import(db: &TestDb, login: &str, mailbox: &str, sources: &[&Path]) -> Output {
    let mut args = vec!["import", login, mailbox];
    args.extend(sources.iter().map(|p| path_str(p)));
    db.aox(&args)
}

/// Runs `aox --json import …`, asserts success and returns the JSON summary.
pub fn import_json(
    db: &TestDb,
    login: &str,
    mailbox: &str,
    sources: &[&Path],
) -> serde_json::Value {
    let mut args = vec!["--json", "import", login, mailbox];
    args.extend(sources.iter().map(|p| path_str(p)));
    let v = json(&db.aox(&args));
    assert_eq!(v["ok"], true, "{v}");
    v
}

/// A number from the JSON summary.
pub fn n(v: &serde_json::Value, field: &str) -> u64 {
    v[field]
        .as_u64()
        .unwrap_or_else(|| panic!("no number {field} in {v}"))
}

/// `aox export login mailbox` (mbox on standard output).
pub fn export_mbox(db: &TestDb, login: &str, mailbox: &str) -> Vec<u8> {
    let o = db.aox(&["export", login, mailbox]);
    ok(&o);
    o.stdout
}

/// `aox export login mailbox --format maildir -o dir [--original]`.
pub fn export_maildir(db: &TestDb, login: &str, mailbox: &str, dir: &Path, original: bool) {
    let mut args = vec![
        "export",
        login,
        mailbox,
        "--format",
        "maildir",
        "-o",
        path_str(dir),
    ];
    if original {
        args.push("--original");
    }
    let o = db.aox(&args);
    assert!(
        o.status.success(),
        "export failed: {:?}\nstdout: {}\nstderr: {}",
        o.status,
        stdout(&o),
        stderr(&o)
    );
}

/// The (user id, mailbox id) of `login`'s `mailbox`, if it exists.
pub async fn mailbox_ids(db: &TestDb, login: &str, mailbox: &str) -> Option<(i64, i64)> {
    db.owner()
        .await
        .query_opt(
            "SELECT u.id, m.id FROM users u JOIN mailboxes m ON m.user_id = u.id \
             WHERE u.login = $1 AND m.name = $2 AND NOT m.deleted",
            &[&login, &mailbox],
        )
        .await
        .unwrap()
        .map(|r| (r.get(0), r.get(1)))
}

/// Asserts, in one snapshot, that the mailbox's counters describe exactly the
/// entries it holds, that every entry's size is its message's size, and that
/// every entry's message is whole (it has its parts, and every part's content
/// is stored). Returns the number of entries.
pub async fn assert_consistent(db: &TestDb, login: &str, mailbox: &str) -> i64 {
    let (user, mailbox_id) = mailbox_ids(db, login, mailbox)
        .await
        .unwrap_or_else(|| panic!("{login} has no mailbox {mailbox}"));
    let row = db
        .owner()
        .await
        .query_one(
            "WITH e AS (SELECT * FROM mailbox_entries WHERE user_id = $1 AND mailbox_id = $2) \
             SELECT m.message_count, m.unseen_count, m.deleted_count, m.total_size, m.uidnext, \
                    m.highest_modseq, \
                    (SELECT count(*) FROM e), \
                    (SELECT count(*) FROM e WHERE NOT seen), \
                    (SELECT count(*) FROM e WHERE deleted), \
                    (SELECT coalesce(sum(rfc822_size), 0)::bigint FROM e), \
                    (SELECT coalesce(max(uid), 0) FROM e), \
                    (SELECT coalesce(max(modseq), 0) FROM e), \
                    (SELECT count(*) FROM e JOIN messages g ON g.user_id = e.user_id AND g.id = e.message_id \
                      WHERE g.rfc822_size <> e.rfc822_size), \
                    (SELECT count(*) FROM e WHERE NOT EXISTS (SELECT 1 FROM message_parts p \
                      WHERE p.user_id = e.user_id AND p.message_id = e.message_id)), \
                    (SELECT count(*) FROM e WHERE NOT EXISTS (SELECT 1 FROM message_search s \
                      WHERE s.user_id = e.user_id AND s.message_id = e.message_id)), \
                    (SELECT count(*) FROM e JOIN messages g ON g.user_id = e.user_id AND g.id = e.message_id \
                      WHERE g.original_hash IS NOT NULL \
                        AND NOT EXISTS (SELECT 1 FROM bodyparts b WHERE b.hash = g.original_hash)), \
                    (SELECT count(*) FROM messages g WHERE g.user_id = $1 AND NOT EXISTS \
                      (SELECT 1 FROM mailbox_entries x WHERE x.user_id = g.user_id AND x.message_id = g.id)) \
             FROM mailboxes m WHERE m.user_id = $1 AND m.id = $2",
            &[&user, &mailbox_id],
        )
        .await
        .unwrap();
    let g = |i: usize| row.get::<_, i64>(i);
    let entries = g(6);
    assert_eq!(g(0), entries, "message_count vs entries in {mailbox}");
    assert_eq!(g(1), g(7), "unseen_count vs unseen entries in {mailbox}");
    assert_eq!(g(2), g(8), "deleted_count vs deleted entries in {mailbox}");
    assert_eq!(g(3), g(9), "total_size vs sum(rfc822_size) in {mailbox}");
    assert!(g(4) > g(10), "uidnext {} <= highest uid {}", g(4), g(10));
    assert!(
        g(5) >= g(11),
        "highest_modseq {} < an entry's {}",
        g(5),
        g(11)
    );
    assert_eq!(g(12), 0, "entries whose size differs from their message's");
    assert_eq!(g(13), 0, "entries whose message has no parts");
    assert_eq!(g(14), 0, "entries whose message has no search row");
    assert_eq!(g(15), 0, "messages whose kept original is missing");
    assert_eq!(
        g(16),
        0,
        "messages of {login} in no mailbox (half a batch?)"
    );
    entries
}

/// Writes `messages` (LF line ends, no `From ` lines inside) as an mbox, each
/// with a `From ` line carrying `date` (asctime, UTC).
pub fn write_mbox(path: &Path, messages: &[Vec<u8>], date: &str) {
    let mut out = Vec::new();
    for m in messages {
        out.extend_from_slice(format!("From sender@example.org {date}\n").as_bytes());
        for line in m.split_inclusive(|b| *b == b'\n') {
            let body = line.strip_suffix(b"\n").unwrap_or(line);
            if body
                .iter()
                .position(|b| *b != b'>')
                .is_some_and(|i| body[i..].starts_with(b"From "))
            {
                out.push(b'>');
            }
            out.extend_from_slice(line);
        }
        if !m.ends_with(b"\n") {
            out.push(b'\n');
        }
        out.push(b'\n');
    }
    std::fs::write(path, out).unwrap();
}

/// A small plain message, LF line ends, distinct per `n`.
pub fn plain_message(n: usize) -> Vec<u8> {
    format!(
        "From: Sender {n} <sender{n}@example.org>\n\
         To: alice@example.org\n\
         Subject: message number {n}\n\
         Date: Mon, 2 Jan 2006 15:04:{:02} +0000\n\
         Message-ID: <plain-{n}@example.org>\n\
         MIME-Version: 1.0\n\
         Content-Type: text/plain; charset=us-ascii\n\
         \n\
         This is message {n}.\n\
         It has a second line.\n",
        n % 60
    )
    .into_bytes()
}

/// Runs `../shared/corpus/gen-mbox.py` with `args` plus `-o out`. `None` (with
/// a note on stderr) when python3 or the script is missing, so the caller can
/// skip.
pub fn gen_mbox(args: &[&str], out: &Path) -> Option<PathBuf> {
    let script = corpus_dir().join("gen-mbox.py");
    if !script.is_file() {
        eprintln!("note: {} is missing; skipping", script.display());
        return None;
    }
    let mut cmd = std::process::Command::new("python3");
    cmd.arg(&script)
        .args(args)
        .arg("-q")
        .arg("-o")
        .arg(out)
        .stdout(std::process::Stdio::null());
    let result = match cmd.output() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("note: cannot run python3 ({e}); skipping");
            return None;
        }
    };
    assert!(
        result.status.success(),
        "gen-mbox.py {args:?} failed: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    Some(out.to_path_buf())
}

/// The distinct SHA-256s of the messages in an archive, read independently of
/// the importer's batching (the reader is the same one `aox import` uses; the
/// point is to know how many distinct byte strings the archive holds).
pub fn distinct_raw_hashes(source: &Path) -> (usize, std::collections::HashSet<[u8; 32]>) {
    let mut total = 0;
    let mut set = std::collections::HashSet::new();
    for m in archiveopteryx::archive::open(source).unwrap() {
        total += 1;
        set.insert(sha256(&m.unwrap().raw));
    }
    (total, set)
}

/// Per message in UID order: (uid, rfc822_size, bodystructure, envelope,
/// internaldate seconds, seen, answered, flagged, deleted, draft, keyword names).
pub type EntryRow = (i64, i64, String, String, i64, [bool; 5], Vec<String>);

pub async fn entries(db: &TestDb, login: &str, mailbox: &str) -> Vec<EntryRow> {
    let (user, mailbox_id) = mailbox_ids(db, login, mailbox).await.unwrap();
    db.owner()
        .await
        .query(
            "SELECT e.uid, e.rfc822_size, g.bodystructure, g.envelope, \
                    extract(epoch FROM e.internaldate)::int8, \
                    e.seen, e.answered, e.flagged, e.deleted, e.draft, \
                    ARRAY(SELECT k.name::text FROM keywords k WHERE k.user_id = e.user_id \
                          AND k.id = ANY(e.keywords) ORDER BY lower(k.name::text)) \
             FROM mailbox_entries e JOIN messages g ON g.user_id = e.user_id AND g.id = e.message_id \
             WHERE e.user_id = $1 AND e.mailbox_id = $2 ORDER BY e.uid",
            &[&user, &mailbox_id],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.get(0),
                r.get(1),
                r.get(2),
                r.get(3),
                r.get(4),
                [r.get(5), r.get(6), r.get(7), r.get(8), r.get(9)],
                r.get(10),
            )
        })
        .collect()
}

/// One file of a Maildir that `aox export --format maildir` wrote.
pub struct MaildirFile {
    pub path: PathBuf,
    /// The writer's counter: the position in the export, so UID order.
    pub counter: u64,
    /// The info letters after `:2,`.
    pub info: String,
    pub bytes: Vec<u8>,
}

/// The files of an exported Maildir's `cur/`, in export (UID) order. Names
/// are `<time>.<counter>_<hash8>.<host>:2,<info>`.
pub fn exported_maildir(dir: &Path) -> Vec<MaildirFile> {
    let mut files: Vec<MaildirFile> = std::fs::read_dir(dir.join("cur"))
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_string();
            let (base, info) = name
                .split_once(":2,")
                .unwrap_or_else(|| panic!("no :2, in {name}"));
            let counter = base
                .split_once('.')
                .and_then(|(_, rest)| rest.split_once('_'))
                .and_then(|(c, _)| c.parse().ok())
                .unwrap_or_else(|| panic!("no counter in {name}"));
            MaildirFile {
                bytes: std::fs::read(&path).unwrap(),
                path,
                counter,
                info: info.to_string(),
            }
        })
        .collect();
    files.sort_by_key(|f| f.counter);
    files
}
