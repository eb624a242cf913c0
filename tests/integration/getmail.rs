//! Retrieval by a real POP3 client: getmail6 (PyPI) with its
//! `SimplePOP3Retriever` into a Maildir, against the POP3 server
//! (RFC 1939) on a loopback port, with UIDL (RFC 1939 §7) deciding what
//! is new on the next run.

use std::net::SocketAddr;
use std::path::Path;

use archiveopteryx::mime;
use archiveopteryx::server;
use archiveopteryx::store::fetch::{FetchWanted, fetch};
use archiveopteryx::store::inject::{self, NewMessage, SystemFlags};
use archiveopteryx::store::messages::bodypart_data;
use archiveopteryx::store::{Db, DbRole};
use archiveopteryx::uidset::UidSet;

use crate::harness::{TestDb, stderr};
use crate::imap_support::add_alice;

/// Message `n`: some lines begin with a dot (byte-stuffed on the wire)
/// or with "From " (which an mbox would mangle; a Maildir keeps it).
fn message(n: u32) -> Vec<u8> {
    let filler = "All work and no play makes a dull archive. ".repeat(n as usize % 7);
    format!(
        "From: Alice <alice@example.org>\r\nTo: bob@example.org\r\nSubject: getmail {n}\r\n\
         Date: Mon, 2 Jan 2006 15:04:05 +0000\r\nMessage-ID: <getmail{n}@example.org>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n\
         .a dot line in message {n}\r\nFrom the middle of a line\r\n{filler}\r\n..\r\nend\r\n"
    )
    .into_bytes()
}

/// alice's INBOX with `count` messages; returns (user, INBOX).
async fn inbox_with(db: &TestDb, count: u32) -> (i64, i64) {
    add_alice(db);
    let (user, inbox) =
        archiveopteryx::store::mailboxes::mailbox_id(&db.owner().await, "alice", "INBOX")
            .await
            .unwrap();
    let batch: Vec<NewMessage> = (1..=count)
        .map(|n| {
            let raw = message(n);
            NewMessage::new(
                mime::ingest(&raw),
                raw,
                1_136_214_245,
                SystemFlags::default(),
                vec![],
            )
        })
        .collect();
    inject::inject(&mut db.runtime().await, user, inbox, &batch)
        .await
        .unwrap();
    (user, inbox)
}

/// Every message of the mailbox as IMAP's BODY[] serves it, sorted.
async fn all_served(db: &TestDb, user: i64, inbox: i64) -> Vec<Vec<u8>> {
    let client = db.runtime().await;
    let wanted = FetchWanted {
        parts: true,
        ..FetchWanted::default()
    };
    let rows = fetch(&client, user, inbox, &UidSet::everything(), &wanted)
        .await
        .unwrap();
    let hashes: Vec<[u8; 32]> = rows
        .iter()
        .flat_map(|r| r.parts.iter().filter_map(|p| p.bodypart))
        .collect();
    let data = bodypart_data(&client, &hashes).await.unwrap();
    let mut served: Vec<Vec<u8>> = rows
        .iter()
        .map(|r| mime::render(&r.parts, &|h| data.get(h).cloned()).unwrap())
        .collect();
    served.sort();
    served
}

/// A POP3 listener (STLS not configured; plaintext passwords allowed).
async fn start_pop3(db: &TestDb) -> SocketAddr {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut config = db.config();
    config.set("allow-plaintext-passwords", "always").unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state =
        server::shared_state(config, &Db::from_config(&db.config(), DbRole::Runtime)).unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, peer)) = listener.accept().await {
            tokio::spawn(archiveopteryx::pop3::serve(tcp, peer, state.clone(), false));
        }
    });
    addr
}

/// Runs getmail once with a `SimplePOP3Retriever` for alice and a Maildir
/// destination in `home`, keeping messages on the server (`delete =
/// false`); `read_all = false` means "only what the UIDLs it remembers
/// say is new". Returns getmail's standard output.
async fn getmail(home: &Path, addr: SocketAddr, read_all: bool) -> String {
    let maildir = home.join("Maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    // getmail refuses to deliver as root; a destination `user` makes it
    // deliver as that user instead, so the Maildir is handed to `nobody`.
    use std::os::unix::fs::MetadataExt as _;
    let as_user = if std::fs::metadata(home).unwrap().uid() == 0 {
        let out = std::process::Command::new("chown")
            .arg("-R")
            .arg("nobody:")
            .arg(&maildir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        "user = nobody\n"
    } else {
        ""
    };
    let rc = home.join("getmailrc");
    std::fs::write(
        &rc,
        format!(
            "[retriever]\ntype = SimplePOP3Retriever\nserver = {}\nport = {}\n\
             username = alice\npassword = secret\n\n\
             [destination]\ntype = Maildir\npath = {}/\n{as_user}\n\
             [options]\nread_all = {}\ndelete = false\ndelivered_to = false\n\
             received = false\nverbose = 1\n",
            addr.ip(),
            addr.port(),
            maildir.display(),
            if read_all { "true" } else { "false" },
        ),
    )
    .unwrap();
    let out = tokio::process::Command::new("getmail")
        .arg(format!("--rcfile={}", rc.display()))
        .arg(format!("--getmaildir={}", home.display()))
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "getmail failed: {stdout}{}",
        stderr(&out)
    );
    stdout
}

/// What getmail delivered, sorted, undoing the two things its Maildir
/// writer does to every message: it prepends a `Return-Path:` field (POP3
/// has no envelope sender, so `<unknown>`), and it writes the platform's
/// line ending (LF) where the message has CRLF.
fn delivered(home: &Path) -> Vec<Vec<u8>> {
    let mut all: Vec<Vec<u8>> = std::fs::read_dir(home.join("Maildir/new"))
        .unwrap()
        .map(|e| {
            let bytes = std::fs::read(e.unwrap().path()).unwrap();
            let text = String::from_utf8(bytes).unwrap();
            let rest = text
                .strip_prefix("Return-Path: <unknown>\n")
                .unwrap_or_else(|| panic!("no Return-Path first: {text}"));
            rest.replace('\n', "\r\n").into_bytes()
        })
        .collect();
    all.sort();
    all
}

#[tokio::test]
async fn rfc1939_getmail_retrieves_50_messages_as_imap_serves_them_and_then_nothing_new() {
    if std::process::Command::new("getmail")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("getmail6 is not installed (.ci/run installs it from PyPI)");
    }
    let db = TestDb::new().await;
    let (user, inbox) = inbox_with(&db, 50).await;
    let served = all_served(&db, user, inbox).await;
    assert_eq!(served.len(), 50);
    let addr = start_pop3(&db).await;
    let home = crate::harness::reachable_temp_dir("aox-getmail-");
    let home = home.path();

    let first = getmail(home, addr, false).await;
    assert!(first.contains("50 messages ("), "{first}");
    assert_eq!(first.matches(" delivered").count(), 50, "{first}");
    let got = delivered(home);
    assert_eq!(got.len(), 50);
    // One message byte for byte, then all of them.
    assert!(
        got.contains(&served[0]),
        "{}",
        String::from_utf8_lossy(&served[0])
    );
    assert_eq!(got, served);

    // The UIDLs getmail remembers say nothing is new (RFC 1939 §7: a
    // unique-id is stable across sessions).
    let second = getmail(home, addr, false).await;
    assert!(
        second.contains(" 0 messages (0 bytes) retrieved, 50 skipped"),
        "{second}"
    );
    assert!(!second.contains(" delivered"), "{second}");
    assert_eq!(delivered(home).len(), 50);

    // Nothing was deleted on the server.
    assert_eq!(all_served(&db, user, inbox).await, served);
    let _ = std::fs::remove_dir_all(home);
}
