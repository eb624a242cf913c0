//! Real sync clients from Debian's packages against the server: mbsync
//! (isync) and offlineimap (offlineimap3) copy a 5,000-message account down,
//! upload new and reflagged local messages, and a further sync is a no-op
//! with no duplicates on either side.
//!
//! Needs `mbsync` and `offlineimap` on PATH (`apt-get install isync
//! offlineimap3`) and python3 for the corpus generator.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::harness::{TestDb, reachable_temp_dir};
use crate::imap_support::{Client, add_alice, message, start_server};
use crate::import_support::corpus_dir;

/// Messages generated into INBOX.
const INBOX_MESSAGES: u32 = 5_000;
/// A second folder, made over IMAP, so folder lists are exercised.
const SECOND_FOLDER: &str = "Projects";
const SECOND_FOLDER_MESSAGES: u32 = 3;
/// Messages written into the local INBOX between the first and second sync.
const LOCAL_NEW: u32 = 3;

/// An account with 5,000 generated messages in INBOX and a few in a second
/// folder, served on a loopback port.
async fn account() -> (TestDb, SocketAddr, tempfile::TempDir) {
    let db = TestDb::new().await;
    add_alice(&db);
    let addr = start_server(&db, &[]).await;
    let dir = reachable_temp_dir("aox-sync-");
    let mbox = dir.path().join("a.mbox");
    let out = std::process::Command::new("python3")
        .arg(corpus_dir().join("gen-mbox.py"))
        .args(["-n", &INBOX_MESSAGES.to_string(), "-s", "5"])
        .args(["--max-attachment", "20000", "--quiet", "-o"])
        .arg(&mbox)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", crate::harness::stderr(&out));
    let out = db.aox(&["import", "alice", "INBOX", mbox.to_str().unwrap()]);
    assert!(out.status.success(), "{}", crate::harness::stderr(&out));

    let mut c = Client::alice(addr).await;
    let r = c.cmd(&format!("CREATE {SECOND_FOLDER}")).await;
    assert!(r.ok(), "{r:?}");
    for n in 0..SECOND_FOLDER_MESSAGES {
        let r = c
            .append(SECOND_FOLDER, "", &message(900_000 + n, "project note"))
            .await;
        assert!(r.ok(), "{r:?}");
    }
    let counts = server_counts(addr).await;
    assert_eq!(counts.get("INBOX"), Some(&INBOX_MESSAGES), "{counts:?}");
    assert_eq!(
        counts.get(SECOND_FOLDER),
        Some(&SECOND_FOLDER_MESSAGES),
        "{counts:?}"
    );
    (db, addr, dir)
}

/// One STATUS item of `mailbox`.
async fn status(c: &mut Client, mailbox: &str, item: &str) -> u64 {
    let r = c.cmd(&format!("STATUS {mailbox} ({item})")).await;
    assert!(r.ok(), "{r:?}");
    let line = r.lines("STATUS")[0];
    let after = line
        .split(&format!("{item} "))
        .nth(1)
        .unwrap_or_else(|| panic!("no {item} in {line}"));
    after
        .trim_end_matches(')')
        .split([' ', ')'])
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// Message counts of every mailbox on the server, by name.
async fn server_counts(addr: SocketAddr) -> BTreeMap<String, u32> {
    let mut c = Client::alice(addr).await;
    let r = c.cmd("LIST \"\" *").await;
    assert!(r.ok(), "{r:?}");
    let mut names = Vec::new();
    for line in r.lines("LIST") {
        if line.contains("\\NonExistent") || line.contains("\\Noselect") {
            continue;
        }
        let name = line.rsplit(' ').next().unwrap().trim_matches('"');
        names.push(name.to_owned());
    }
    let mut counts = BTreeMap::new();
    for name in names {
        let n = status(&mut c, &name, "MESSAGES").await;
        counts.insert(name, u32::try_from(n).unwrap());
    }
    counts
}

/// What a sync must leave unchanged on the server: count and UIDNEXT of a
/// mailbox (a re-upload would take a new UID even if it were deduplicated).
async fn server_state(addr: SocketAddr, mailbox: &str) -> (u64, u64) {
    let mut c = Client::alice(addr).await;
    (
        status(&mut c, mailbox, "MESSAGES").await,
        status(&mut c, mailbox, "UIDNEXT").await,
    )
}

/// Asserts that INBOX on the server holds no message twice: as many UIDs as
/// distinct Message-IDs.
async fn assert_no_duplicates_on_server(addr: SocketAddr) {
    let mut c = Client::alice(addr).await;
    let r = c.cmd("SELECT INBOX").await;
    assert!(r.ok(), "{r:?}");
    let r = c.cmd("UID SEARCH ALL").await;
    assert!(r.ok(), "{r:?}");
    let uids = r.lines("SEARCH")[0].split(' ').skip(2).count();
    let r = c
        .cmd("FETCH 1:* (BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        .await;
    assert!(r.ok(), "{r:?}");
    let fetches = r.containing(" FETCH (");
    let mut ids = HashSet::new();
    for line in &fetches {
        let id = line
            .split("\r\n")
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("message-id")
                    .then(|| value.trim().to_owned())
            })
            .unwrap_or_else(|| panic!("no Message-ID in {line}"));
        ids.insert(id);
    }
    assert_eq!(fetches.len(), uids, "one FETCH response per message");
    assert_eq!(ids.len(), uids, "Message-IDs repeat on the server");
}

/// Number of messages in each local Maildir under `root` (any directory
/// with a `cur/`), named by path relative to `root`.
fn local_counts(root: &Path) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        if dir.join("cur").is_dir() {
            let n = ["cur", "new"]
                .iter()
                .map(|sub| std::fs::read_dir(dir.join(sub)).unwrap().count() as u32)
                .sum();
            let name = dir
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            out.insert(name, n);
        }
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let leaf = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() && !["cur", "new", "tmp"].contains(&leaf.as_str()) {
                stack.push(path);
            }
        }
    }
    out
}

/// Writes `LOCAL_NEW` messages into the Maildir's `new/` and flags one
/// message already there (\Flagged \Seen, Maildir info `:2,FS`).
fn change_local_inbox(maildir: &Path, tag: &str) {
    // Unseen messages may sit in new/ (mbsync) or cur/ (offlineimap).
    let mut existing: Vec<PathBuf> = ["cur", "new"]
        .iter()
        .flat_map(|sub| std::fs::read_dir(maildir.join(sub)).unwrap())
        .map(|e| e.unwrap().path())
        .collect();
    existing.sort_by_key(|p| p.file_name().map(|n| n.to_owned()));
    let first = existing.first().expect("a synced message");
    let name = first.file_name().unwrap().to_string_lossy().into_owned();
    let base = name.split_once(":2,").map_or(name.as_str(), |(b, _)| b);
    std::fs::rename(first, maildir.join("cur").join(format!("{base}:2,FS"))).unwrap();
    for n in 0..LOCAL_NEW {
        let bytes = format!(
            "From: Alice <alice@example.org>\r\nTo: Bob <bob@example.org>\r\n\
             Subject: written locally {n}\r\nDate: Tue, 3 Jan 2006 10:00:00 +0000\r\n\
             Message-ID: <local-{tag}-{n}@example.org>\r\n\r\nWritten by hand into new/.\r\n"
        );
        let file = maildir
            .join("new")
            .join(format!("1136282400.{tag}{n}.localhost"));
        std::fs::write(file, bytes).unwrap();
    }
}

/// Runs a sync client to completion and returns its combined output,
/// after asserting exit status 0 and no error lines.
async fn run(label: &str, program: &str, args: &[&str], home: &Path) -> String {
    let started = Instant::now();
    // Awaited on the test's runtime, so the in-process server keeps serving.
    let out = tokio::process::Command::new(program)
        .args(args)
        .env("HOME", home)
        .output()
        .await
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{label}: {program} took {:.1?}", started.elapsed());
    assert!(out.status.success(), "{label}: {}\n{text}", out.status);
    let errors: Vec<&str> = text
        .lines()
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            l.contains("error") || l.starts_with("warning") || l.contains("traceback")
        })
        .collect();
    assert!(errors.is_empty(), "{label}: {errors:?}\n{text}");
    text
}

/// Local counts as the server names its mailboxes.
fn expected_locally(server: &BTreeMap<String, u32>) -> BTreeMap<String, u32> {
    server.clone()
}

async fn assert_flag_arrived(addr: SocketAddr) {
    let mut c = Client::alice(addr).await;
    let r = c.cmd("SELECT INBOX").await;
    assert!(r.ok(), "{r:?}");
    let r = c.cmd("SEARCH FLAGGED SEEN").await;
    assert!(r.ok(), "{r:?}");
    let hits = r.lines("SEARCH")[0].split(' ').skip(2).count();
    assert_eq!(hits, 1, "{r:?}");
}

/// The scenario both clients go through; `sync` runs the client once.
async fn down_up_and_again<F, Fut>(
    addr: SocketAddr,
    local_root: &Path,
    local_inbox: &Path,
    tag: &str,
    sync: F,
) where
    F: Fn(&'static str) -> Fut,
    Fut: std::future::Future<Output = String>,
{
    // 1. Everything comes down.
    sync("first sync (5,000 messages down)").await;
    let server = server_counts(addr).await;
    assert_eq!(local_counts(local_root), expected_locally(&server));

    // 2. Local additions and a flag go up.
    change_local_inbox(local_inbox, tag);
    sync("second sync (3 up, a flag up)").await;
    let (messages, _) = server_state(addr, "INBOX").await;
    assert_eq!(messages, u64::from(INBOX_MESSAGES + LOCAL_NEW));
    assert_flag_arrived(addr).await;
    let server = server_counts(addr).await;
    assert_eq!(local_counts(local_root), expected_locally(&server));

    // 3. Nothing left to do: no change on either side, no duplicates.
    let before = server_state(addr, "INBOX").await;
    let local_before = local_counts(local_root);
    sync("third sync (nothing to do)").await;
    assert_eq!(server_state(addr, "INBOX").await, before);
    assert_eq!(server_counts(addr).await, server);
    assert_eq!(local_counts(local_root), local_before);
    assert_no_duplicates_on_server(addr).await;
}

#[tokio::test]
async fn mbsync_syncs_5000_messages_down_and_changes_up_without_duplicates() {
    let (_db, addr, dir) = account().await;
    let dir = dir.path();
    let mail = dir.join("mbsync-mail");
    std::fs::create_dir_all(&mail).unwrap();
    let config = dir.join("mbsyncrc");
    // isync 1.4 spells the transport setting SSLType (TLSType came in 1.5).
    std::fs::write(
        &config,
        format!(
            "IMAPAccount aox\nHost 127.0.0.1\nPort {port}\nUser alice\nPass secret\n\
             SSLType None\nAuthMechs LOGIN\n\n\
             IMAPStore remote\nAccount aox\n\n\
             MaildirStore local\nPath {mail}/\nInbox {mail}/INBOX\nSubFolders Verbatim\n\n\
             Channel sync\nFar :remote:\nNear :local:\nPatterns *\nCreate Both\nSyncState *\n",
            port = addr.port(),
            mail = mail.display(),
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap().to_owned();
    let home = dir;
    down_up_and_again(addr, &mail, &mail.join("INBOX"), "mbsync", |label| {
        let config = config.clone();
        async move { run(label, "mbsync", &["-c", &config, "-a"], home).await }
    })
    .await;
}

#[tokio::test]
async fn offlineimap_syncs_5000_messages_down_and_changes_up_without_duplicates() {
    let (_db, addr, dir) = account().await;
    let dir = dir.path();
    let mail = dir.join("offlineimap-mail");
    std::fs::create_dir_all(&mail).unwrap();
    let config = dir.join("offlineimaprc");
    std::fs::write(
        &config,
        format!(
            "[general]\naccounts = aox\nmetadata = {meta}\n\n\
             [Account aox]\nlocalrepository = Local\nremoterepository = Remote\n\n\
             [Repository Local]\ntype = Maildir\nlocalfolders = {mail}\n\n\
             [Repository Remote]\ntype = IMAP\nremotehost = 127.0.0.1\nremoteport = {port}\n\
             remoteuser = alice\nremotepass = secret\nssl = no\nstarttls = no\n",
            meta = dir.join("offlineimap-meta").display(),
            mail = mail.display(),
            port = addr.port(),
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap().to_owned();
    let home = dir;
    down_up_and_again(addr, &mail, &mail.join("INBOX"), "oimap", |label| {
        let config = config.clone();
        async move { run(label, "offlineimap", &["-c", &config, "-u", "basic"], home).await }
    })
    .await;
}
