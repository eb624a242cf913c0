//! Delivery from a real MTA: a private Postfix instance (Debian's package,
//! its own config, queue and data directories, never the system one)
//! relays a domain to our LMTP listener (RFC 2033), and the messages are
//! found over IMAP in the mailboxes their addresses resolve to.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use archiveopteryx::server::{self, Listeners, Protocol};
use archiveopteryx::store::{Db, DbRole};

use crate::harness::{TestDb, stderr};
use crate::imap_support::Client;

#[track_caller]
fn ok(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(out)
    );
}

/// Starts a server for `db` with LMTP and IMAP listeners it binds itself;
/// returns (LMTP address, IMAP address).
async fn start_server(db: &TestDb) -> (SocketAddr, SocketAddr) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut config = db.config();
    config.set("allow-plaintext-passwords", "always").unwrap();
    let lmtp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let imap = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addrs = (lmtp.local_addr().unwrap(), imap.local_addr().unwrap());
    let listeners = Listeners::from_bound(vec![(Protocol::Lmtp, lmtp), (Protocol::Imap, imap)]);
    let runtime_db = Db::from_config(&config, DbRole::Runtime);
    let state = server::shared_state(config, &runtime_db).unwrap();
    tokio::spawn(server::run(listeners, state, std::future::pending()));
    addrs
}

/// A free loopback port for Postfix's smtpd (it binds it itself, so there
/// is a small window in which another process could take it).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The services a relay-only Postfix needs, none chrooted (the queue
/// directory is a temp dir with no copy of /etc or the resolver files).
/// The smtpd line listens on the loopback port only.
fn master_cf(smtp_port: u16) -> String {
    format!(
        "127.0.0.1:{smtp_port} inet n - n - - smtpd\n\
         pickup    unix  n       -       n       60      1       pickup\n\
         cleanup   unix  n       -       n       -       0       cleanup\n\
         qmgr      unix  n       -       n       300     1       qmgr\n\
         rewrite   unix  -       -       n       -       -       trivial-rewrite\n\
         bounce    unix  -       -       n       -       0       bounce\n\
         defer     unix  -       -       n       -       0       bounce\n\
         trace     unix  -       -       n       -       0       bounce\n\
         verify    unix  -       -       n       -       1       verify\n\
         flush     unix  n       -       n       1000?   0       flush\n\
         proxymap  unix  -       -       n       -       -       proxymap\n\
         proxywrite unix -       -       n       -       1       proxymap\n\
         smtp      unix  -       -       n       -       -       smtp\n\
         relay     unix  -       -       n       -       -       smtp\n\
         showq     unix  n       -       n       -       -       showq\n\
         error     unix  -       -       n       -       -       error\n\
         retry     unix  -       -       n       -       -       error\n\
         discard   unix  -       -       n       -       -       discard\n\
         lmtp      unix  -       -       n       -       -       lmtp\n\
         anvil     unix  -       -       n       -       1       anvil\n\
         scache    unix  -       -       n       -       1       scache\n\
         postlog   unix-dgram n  -       n       -       1       postlogd\n"
    )
}

/// A private Postfix instance; stopped when dropped.
struct Postfix {
    dir: PathBuf,
    smtp_port: u16,
}

impl Postfix {
    fn config_dir(&self) -> PathBuf {
        self.dir.join("etc")
    }

    fn postfix(dir: &Path, args: &[&str]) -> std::process::Output {
        std::process::Command::new("postfix")
            .arg("-c")
            .arg(dir)
            .args(args)
            .output()
            .unwrap()
    }

    /// Configures and starts an instance that relays `example.org` to
    /// `lmtp` and accepts SMTP from loopback on a port of its own.
    fn start(lmtp: SocketAddr) -> Postfix {
        let dir = crate::harness::reachable_temp_dir("aox-postfix-").keep();
        let etc = dir.join("etc");
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::create_dir_all(dir.join("queue")).unwrap();
        let smtp_port = free_port();
        std::fs::write(etc.join("master.cf"), master_cf(smtp_port)).unwrap();
        let main_cf = [
            ("compatibility_level", "3.6".to_owned()),
            ("config_directory", etc.display().to_string()),
            ("queue_directory", dir.join("queue").display().to_string()),
            ("data_directory", dir.join("data").display().to_string()),
            // Postfix logs to a file of its own (there is no syslog here),
            // and only under a listed prefix.
            ("maillog_file", dir.join("maillog").display().to_string()),
            ("maillog_file_prefixes", dir.display().to_string()),
            ("myhostname", "mx.example.net".to_owned()),
            ("mydomain", "example.net".to_owned()),
            ("myorigin", "$myhostname".to_owned()),
            ("mydestination", String::new()),
            ("local_recipient_maps", String::new()),
            ("alias_maps", String::new()),
            ("alias_database", String::new()),
            ("relay_domains", String::new()),
            ("inet_interfaces", "127.0.0.1".to_owned()),
            ("inet_protocols", "ipv4".to_owned()),
            ("mynetworks", "127.0.0.0/8".to_owned()),
            (
                "smtpd_relay_restrictions",
                "permit_mynetworks, reject".to_owned(),
            ),
            // The domain is ours: Postfix hands every address in it to
            // the store over LMTP, which alone knows users and aliases.
            ("virtual_mailbox_domains", "example.org".to_owned()),
            ("virtual_transport", format!("lmtp:inet:{lmtp}")),
            ("append_dot_mydomain", "no".to_owned()),
            ("biff", "no".to_owned()),
        ];
        std::fs::write(etc.join("main.cf"), "").unwrap();
        let mut postconf = std::process::Command::new("postconf");
        postconf.arg("-c").arg(&etc).arg("-e");
        for (k, v) in &main_cf {
            postconf.arg(format!("{k}={v}"));
        }
        ok(&postconf.output().unwrap());
        let postfix = Postfix { dir, smtp_port };
        // `check` creates the queue's subdirectories and the data
        // directory with the owners and modes Postfix insists on.
        ok(&Postfix::postfix(&etc, &["check"]));
        ok(&Postfix::postfix(&etc, &["start"]));
        postfix
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("maillog")).unwrap_or_default()
    }

    fn queue(&self) -> String {
        let out = std::process::Command::new("postqueue")
            .arg("-c")
            .arg(self.config_dir())
            .arg("-p")
            .output()
            .unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let _ = Postfix::postfix(&self.config_dir(), &["stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Sends `(from, to, message)` through Postfix with Python's smtplib, one
/// SMTP transaction each; fails the test if smtplib refuses any.
async fn smtplib_send(port: u16, mails: &[(&str, &str, String)]) {
    let script = r#"
import json, smtplib, sys
port, mails = int(sys.argv[1]), json.loads(sys.argv[2])
with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
    for frm, to, msg in mails:
        s.sendmail(frm, [to], msg.encode())
"#;
    let json = serde_json::to_string(mails).unwrap();
    let out = tokio::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(port.to_string())
        .arg(json)
        .output()
        .await
        .unwrap();
    ok(&out);
}

fn message(to: &str, subject: &str) -> String {
    format!(
        "From: Bob <bob@example.org>\r\nTo: <{to}>\r\nSubject: {subject}\r\n\
         Date: Mon, 2 Jan 2006 15:04:05 +0000\r\nMessage-ID: <{subject}@example.org>\r\n\r\n\
         Sent through Postfix.\r\n"
    )
}

/// `STATUS mailbox (MESSAGES)` as a number.
async fn messages(imap: &mut Client, mailbox: &str) -> u32 {
    let r = imap.cmd(&format!("STATUS {mailbox} (MESSAGES)")).await;
    assert!(r.ok(), "{r:?}");
    let line = r.lines("STATUS")[0];
    line.rsplit("MESSAGES ")
        .next()
        .and_then(|s| s.trim_end_matches(')').parse().ok())
        .unwrap()
}

/// Polls `STATUS` until every (mailbox, count) holds, for at most 60 s:
/// Postfix delivers asynchronously, so the test waits for the condition
/// with a deadline rather than for a fixed time.
async fn wait_for(imap: &mut Client, want: &[(&str, u32)], postfix: &Postfix) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut have = Vec::new();
        for (mailbox, _) in want {
            have.push(messages(imap, mailbox).await);
        }
        if want.iter().zip(&have).all(|((_, n), h)| n == h) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "wanted {want:?}, have {have:?}\nqueue:\n{}\nlog:\n{}",
            postfix.queue(),
            postfix.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn rfc2033_postfix_delivers_to_users_and_aliases_and_bounces_unknown_recipients() {
    if std::process::Command::new("postconf")
        .arg("-d")
        .arg("mail_version")
        .output()
        .is_err()
    {
        panic!("Postfix is not installed (.ci/run installs it from Debian's packages)");
    }
    let db = TestDb::new().await;
    ok(&db.aox(&["add", "user", "alice", "secret", "alice@example.org"]));
    ok(&db.aox(&["add", "mailbox", "alice", "Lists"]));
    ok(&db.aox(&["add", "alias", "list@example.org", "alice", "Lists"]));
    ok(&db.aox(&["add", "user", "bob", "secret", "bob@example.org"]));
    let (lmtp, imap) = start_server(&db).await;
    let postfix = Postfix::start(lmtp);

    smtplib_send(
        postfix.smtp_port,
        &[
            (
                "bob@example.org",
                "alice@example.org",
                message("alice@example.org", "to-alice"),
            ),
            (
                "bob@example.org",
                "list@example.org",
                message("list@example.org", "to-list"),
            ),
            (
                "bob@example.org",
                "nobody@example.org",
                message("nobody@example.org", "to-nobody"),
            ),
        ],
    )
    .await;

    // alice's INBOX and Lists get one message each; the unknown recipient
    // is refused at RCPT with 550 5.1.1 (RFC 2033 §4.2), so Postfix
    // bounces it, and the bounce (RFC 3464) comes back to the sender, bob.
    let mut alice = Client::alice(imap).await;
    let mut bob = Client::connect(imap).await;
    assert!(bob.cmd("LOGIN bob secret").await.ok());
    wait_for(&mut alice, &[("INBOX", 1), ("Lists", 1)], &postfix).await;
    wait_for(&mut bob, &[("INBOX", 1)], &postfix).await;

    assert!(alice.cmd("SELECT INBOX").await.ok());
    let r = alice
        .cmd("FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]")
        .await;
    assert!(r.untagged[0].contains("Subject: to-alice"), "{r:?}");
    assert!(alice.cmd("SELECT Lists").await.ok());
    let r = alice
        .cmd("FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]")
        .await;
    assert!(r.untagged[0].contains("Subject: to-list"), "{r:?}");

    assert!(bob.cmd("SELECT INBOX").await.ok());
    let r = bob.cmd("FETCH 1 BODY.PEEK[]").await;
    let bounce = &r.untagged[0];
    assert!(bounce.contains("nobody@example.org"), "{bounce}");
    assert!(bounce.contains("550 5.1.1"), "{bounce}");
    assert!(bounce.contains("Subject: to-nobody"), "{bounce}");

    // Nothing else was stored anywhere: three entries in all.
    let entries: i64 = db
        .superuser()
        .await
        .query_one("SELECT count(*) FROM mailbox_entries", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(entries, 3);
    let log = postfix.log();
    assert!(
        log.lines()
            .any(|l| l.contains("to=<nobody@example.org>") && l.contains("status=bounced")),
        "{log}"
    );
}
