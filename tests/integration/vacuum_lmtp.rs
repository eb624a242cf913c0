//! `aox vacuum` while LMTP delivers messages whose attachments vacuum is
//! purging at that moment (their only other copies were expunged): every
//! delivery gets 250, and every delivered message is served byte for byte.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use archiveopteryx::store::{Db, DbRole};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;

use crate::cli_support::{add_user, count, ok};
use crate::harness::TestDb;
use crate::imap_support::start_server;
use crate::vacuum_holds::{attachment, bodies, expunge_all, login, with_attachment};

async fn start_lmtp(db: &TestDb) -> SocketAddr {
    let config = db.config();
    let runtime_db = Db::from_config(&config, DbRole::Runtime);
    let state = archiveopteryx::server::shared_state(config, &runtime_db).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, peer)) = listener.accept().await {
            tokio::spawn(archiveopteryx::lmtp::serve(tcp, peer, state.clone()));
        }
    });
    addr
}

/// Delivers `messages` to `rcpt` over one LMTP session; returns the reply
/// to each DATA.
async fn deliver(addr: SocketAddr, rcpt: &str, messages: Vec<Vec<u8>>) -> Vec<String> {
    let (r, mut w) = TcpStream::connect(addr).await.unwrap().into_split();
    let mut r = BufReader::new(r);
    async fn reply(r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> String {
        loop {
            let mut line = String::new();
            assert!(r.read_line(&mut line).await.unwrap() > 0, "LMTP closed");
            if line.as_bytes().get(3) != Some(&b'-') {
                return line.trim_end().to_string();
            }
        }
    }
    reply(&mut r).await;
    w.write_all(b"LHLO test.example.org\r\n").await.unwrap();
    reply(&mut r).await;
    let mut out = Vec::new();
    for m in messages {
        w.write_all(
            format!("MAIL FROM:<sender@example.org>\r\nRCPT TO:<{rcpt}>\r\nDATA\r\n").as_bytes(),
        )
        .await
        .unwrap();
        for _ in 0..3 {
            reply(&mut r).await;
        }
        // None of these messages has a line starting with '.', so no stuffing.
        w.write_all(&m).await.unwrap();
        w.write_all(b".\r\n").await.unwrap();
        out.push(reply(&mut r).await);
    }
    out
}

#[tokio::test]
async fn vacuum_during_lmtp_delivery_of_shared_attachments_loses_nothing() {
    const K: u32 = 40;
    const SESSIONS: u32 = 4;
    let db = TestDb::new().await;
    add_user(&db, "alice");
    add_user(&db, "bob");
    let lmtp = start_lmtp(&db).await;
    let imap = start_server(&db, &[]).await;

    // alice had every attachment and expunged it all: vacuum will purge them.
    let first: Vec<Vec<u8>> = (0..K)
        .map(|i| with_attachment(1000 + i, "first", &attachment(100 + i)))
        .collect();
    let replies = deliver(lmtp, "alice@example.org", first).await;
    assert!(replies.iter().all(|r| r.starts_with("250")), "{replies:?}");
    let mut a = login(imap, "alice").await;
    assert!(a.cmd("SELECT INBOX").await.ok());
    expunge_all(&mut a).await;

    // Now bob gets the same attachments while vacuum purges alice's copies,
    // one row per transaction to spread its work over the deliveries.
    let done = Arc::new(AtomicBool::new(false));
    let config = db.config_path.clone();
    let flag = done.clone();
    let vacuum = tokio::task::spawn_blocking(move || {
        let mut runs = 0;
        loop {
            let finished = flag.load(Ordering::SeqCst);
            let out = crate::harness::run_aox(
                &config,
                &["vacuum", "--undelete-time", "0", "--batch", "1"],
                None,
            );
            ok(&out);
            runs += 1;
            if finished {
                return runs;
            }
        }
    });
    let mut sent: Vec<(u32, Vec<u8>)> = Vec::new();
    let mut sessions = Vec::new();
    for s in 0..SESSIONS {
        let batch: Vec<(u32, Vec<u8>)> = (0..K)
            .filter(|i| i % SESSIONS == s)
            .map(|i| (i, with_attachment(2000 + i, "second", &attachment(100 + i))))
            .collect();
        sent.extend(batch.iter().cloned());
        let messages = batch.into_iter().map(|(_, m)| m).collect();
        sessions.push(tokio::spawn(deliver(lmtp, "bob@example.org", messages)));
    }
    let mut replies = Vec::new();
    for s in sessions {
        replies.push(s.await);
    }
    // Stop the vacuum loop before any assertion, so a failure cannot leave
    // it running (the runtime waits for blocking tasks).
    done.store(true, Ordering::SeqCst);
    let runs = vacuum.await.unwrap();
    assert!(runs >= 1);
    for r in replies {
        let r = r.unwrap();
        assert!(r.iter().all(|r| r.starts_with("250")), "{r:?}");
    }

    // Alice's copies are gone, bob's are whole.
    assert_eq!(count(&db, "SELECT count(*) FROM expunged_entries").await, 0);
    assert_eq!(
        count(&db, "SELECT count(*) FROM messages").await,
        i64::from(K)
    );
    let mut b = login(imap, "bob").await;
    assert!(b.cmd("SELECT INBOX").await.ok());
    let mut served = bodies(&mut b).await;
    assert_eq!(served.len(), K as usize);
    // Sessions interleave, so compare as sets of exact byte strings.
    let mut expected: Vec<Vec<u8>> = sent
        .into_iter()
        .map(|(_, m)| {
            let mut e = b"Return-Path: <sender@example.org>\r\n".to_vec();
            e.extend_from_slice(&m);
            e
        })
        .collect();
    served.sort();
    expected.sort();
    assert!(
        served == expected,
        "served bytes differ; first served:\n{}",
        String::from_utf8_lossy(&served[0])
    );
}
