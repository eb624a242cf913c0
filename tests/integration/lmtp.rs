//! LMTP (RFC 2033) against a real server over a socket: exact replies from a
//! raw client, and Python's `smtplib.LMTP` as an independent client.

use std::net::SocketAddr;

use archiveopteryx::store::{Db, DbRole};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use crate::harness::{TestDb, stderr};

/// Starts an LMTP server for `db` with these settings on top of the test's.
async fn start_lmtp(db: &TestDb, settings: &[(&str, &str)]) -> SocketAddr {
    let mut config = db.config();
    config.set("hostname", "lmtp.example.org").unwrap();
    for (k, v) in settings {
        config.set(k, v).unwrap();
    }
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

fn ok(out: &std::process::Output) {
    assert!(out.status.success(), "{}", stderr(out));
}

/// alice (alice@example.org) with a mailbox Lists that lists@example.org
/// delivers to, and bob (bob@example.org).
pub(crate) fn add_users(db: &TestDb) {
    ok(&db.aox(&["add", "user", "alice", "secret", "alice@example.org"]));
    ok(&db.aox(&["add", "mailbox", "alice", "Lists"]));
    ok(&db.aox(&["add", "alias", "lists@example.org", "alice", "Lists"]));
    ok(&db.aox(&["add", "user", "bob", "secret", "bob@example.org"]));
}

/// The messages of `login`'s `mailbox` as IMAP serves them (BODY[]), in UID order.
pub(crate) async fn served(db: &TestDb, login: &str, mailbox: &str) -> Vec<Vec<u8>> {
    use archiveopteryx::store::messages::{after_uid, bodypart_data};
    let owner = db.owner().await;
    let (user, id) = archiveopteryx::store::mailboxes::mailbox_id(&owner, login, mailbox)
        .await
        .unwrap();
    let mut out = Vec::new();
    for m in after_uid(&owner, user, id, 0, 1000, None).await.unwrap() {
        let hashes: Vec<[u8; 32]> = m.parts.iter().filter_map(|p| p.bodypart).collect();
        let data = bodypart_data(&owner, &hashes).await.unwrap();
        out.push(archiveopteryx::mime::render(&m.parts, &|h| data.get(h).cloned()).unwrap());
    }
    out
}

pub(crate) async fn count(db: &TestDb, sql: &str) -> i64 {
    db.superuser()
        .await
        .query_one(sql, &[])
        .await
        .unwrap()
        .get(0)
}

/// A raw LMTP client keeping the exact reply lines.
pub(crate) struct Lmtp {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Lmtp {
    pub(crate) async fn connect(addr: SocketAddr) -> (Lmtp, String) {
        let (r, w) = TcpStream::connect(addr).await.unwrap().into_split();
        let mut c = Lmtp {
            reader: BufReader::new(r),
            writer: w,
        };
        let greeting = c.line().await;
        (c, greeting)
    }

    /// Connects and says LHLO.
    pub(crate) async fn ready(addr: SocketAddr) -> Lmtp {
        let (mut c, _) = Lmtp::connect(addr).await;
        let r = c.cmd("LHLO client.example.org").await;
        assert!(r.last().unwrap().starts_with("250 "), "{r:?}");
        c
    }

    pub(crate) async fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.unwrap();
    }

    /// One line, without its CRLF.
    pub(crate) async fn line(&mut self) -> String {
        let mut line = String::new();
        let n = self.reader.read_line(&mut line).await.unwrap();
        assert!(n > 0, "the server closed the connection");
        assert!(line.ends_with("\r\n"), "{line:?}");
        line.truncate(line.len() - 2);
        line
    }

    /// One reply: its lines up to the one with a space after the code.
    pub(crate) async fn reply(&mut self) -> Vec<String> {
        let mut lines = vec![self.line().await];
        while lines.last().unwrap().as_bytes().get(3) == Some(&b'-') {
            lines.push(self.line().await);
        }
        lines
    }

    pub(crate) async fn cmd(&mut self, command: &str) -> Vec<String> {
        self.send(format!("{command}\r\n").as_bytes()).await;
        self.reply().await
    }

    /// The one-line reply to `command`.
    pub(crate) async fn one(&mut self, command: &str) -> String {
        let r = self.cmd(command).await;
        assert_eq!(r.len(), 1, "{r:?}");
        r[0].clone()
    }
}

pub(crate) fn message(subject: &str) -> String {
    format!(
        "From: Carol <carol@example.net>\r\nTo: alice@example.org\r\nSubject: {subject}\r\n\
         Date: Mon, 2 Jan 2006 15:04:05 +0000\r\nMessage-ID: <{subject}@example.net>\r\n\r\nHello.\r\n"
    )
}

#[tokio::test]
async fn rfc2033_4_greeting_and_lhlo_advertise_the_extensions() {
    let db = TestDb::new().await;
    let addr = start_lmtp(&db, &[("max-message-size", "100000")]).await;
    let (mut c, greeting) = Lmtp::connect(addr).await;
    assert_eq!(greeting, "220 lmtp.example.org LMTP ready");
    assert_eq!(
        c.cmd("LHLO client.example.org").await,
        [
            "250-lmtp.example.org",
            "250-PIPELINING",
            "250-ENHANCEDSTATUSCODES",
            "250-8BITMIME",
            "250-SMTPUTF8",
            "250 SIZE 100000"
        ]
    );
    assert_eq!(
        c.one("QUIT").await,
        "221 2.0.0 lmtp.example.org closing connection"
    );
}

/// The Python side of the multi-recipient test: smtplib.LMTP reads only the
/// first reply after DATA, so the script reads one more per accepted
/// recipient itself (RFC 2033 §4.2) and prints every reply.
const SMTPLIB_MULTI: &str = r#"
import smtplib, sys
s = smtplib.LMTP(sys.argv[1], int(sys.argv[2]))
code, _ = s.ehlo("client.example.org")
print("LHLO", code, "pipelining" in s.esmtp_features, "size" in s.esmtp_features)
s.mail("carol@example.net")
accepted = 0
for rcpt in sys.argv[3:]:
    code, msg = s.rcpt(rcpt)
    print("RCPT", rcpt, code, msg.decode())
    accepted += code == 250
body = sys.stdin.read().replace("\n", "\r\n")
code, msg = s.data(body)
print("DATA", code, msg.decode())
for _ in range(accepted - 1):
    code, msg = s.getreply()
    print("DATA", code, msg.decode())
s.quit()
"#;

#[tokio::test]
async fn rfc2033_4_2_smtplib_multi_recipient_replies_in_order_and_content_once() {
    let db = TestDb::new().await;
    add_users(&db);
    let addr = start_lmtp(&db, &[]).await;
    let mut child = tokio::process::Command::new("python3")
        .arg("-c")
        .arg(SMTPLIB_MULTI)
        .arg("127.0.0.1")
        .arg(addr.port().to_string())
        .args([
            "alice@example.org",
            "nobody@example.org",
            "Lists@Example.ORG",
            "bob@example.org",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"From: carol@example.net\nSubject: multi\n\n.dot-stuffed by smtplib\nHello.\n")
        .await
        .unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    ok(&out);
    let said = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        said.lines().collect::<Vec<_>>(),
        [
            "LHLO 250 True True",
            "RCPT alice@example.org 250 2.1.5 recipient ok",
            "RCPT nobody@example.org 550 5.1.1 <nobody@example.org>: no such user here",
            "RCPT Lists@Example.ORG 250 2.1.5 recipient ok",
            "RCPT bob@example.org 250 2.1.5 recipient ok",
            "DATA 250 2.1.5 <alice@example.org> delivered",
            "DATA 250 2.1.5 <Lists@Example.ORG> delivered",
            "DATA 250 2.1.5 <bob@example.org> delivered",
        ]
    );

    let expected =
        b"Return-Path: <carol@example.net>\r\nFrom: carol@example.net\r\nSubject: multi\r\n\r\n\
                     .dot-stuffed by smtplib\r\nHello.\r\n";
    for (login, mailbox) in [("alice", "INBOX"), ("alice", "Lists"), ("bob", "INBOX")] {
        let got = served(&db, login, mailbox).await;
        assert_eq!(got.len(), 1, "{login} {mailbox}");
        assert!(
            got[0].ends_with(b"\r\n.dot-stuffed by smtplib\r\nHello.\r\n"),
            "{}",
            String::from_utf8_lossy(&got[0])
        );
        assert!(got[0].starts_with(b"Return-Path: <carol@example.net>\r\n"));
    }
    // The arriving bytes (dot-unstuffed, CRLF, Return-Path on top) are what
    // the store hashed; normalisation added a Date and a Message-ID to what
    // it serves (DESIGN.md §5).
    use sha2::Digest as _;
    let hash = sha2::Sha256::digest(expected).to_vec();
    let rows = db
        .superuser()
        .await
        .query_one(
            "SELECT count(*) FROM messages WHERE raw_sha256 = $1",
            &[&hash],
        )
        .await
        .unwrap()
        .get::<_, i64>(0);
    assert_eq!(rows, 2);
    // Content once per user (every key leads with the user): alice's two
    // mailboxes share one messages row; the body part is stored once.
    assert_eq!(count(&db, "SELECT count(*) FROM messages").await, 2);
    assert_eq!(
        count(&db, "SELECT count(DISTINCT message_id) FROM mailbox_entries e JOIN users u ON u.id = e.user_id WHERE u.login = 'alice'").await,
        1
    );
    assert_eq!(count(&db, "SELECT count(*) FROM mailbox_entries").await, 3);
    assert_eq!(count(&db, "SELECT count(*) FROM bodyparts").await, 1);
    assert_eq!(
        count(&db, "SELECT sum(message_count)::int8 FROM mailboxes").await,
        3,
        "the counters follow the entries"
    );
}

#[tokio::test]
async fn rfc2920_pipelined_commands_get_their_replies_in_order() {
    let db = TestDb::new().await;
    add_users(&db);
    let addr = start_lmtp(&db, &[]).await;
    let (mut c, _) = Lmtp::connect(addr).await;
    c.send(
        b"LHLO c\r\nMAIL FROM:<carol@example.net>\r\nRCPT TO:<alice@example.org>\r\n\
          RCPT TO:<bob@example.org>\r\nDATA\r\n",
    )
    .await;
    assert_eq!(c.reply().await.len(), 6);
    assert_eq!(c.reply().await, ["250 2.1.0 sender ok"]);
    assert_eq!(c.reply().await, ["250 2.1.5 recipient ok"]);
    assert_eq!(c.reply().await, ["250 2.1.5 recipient ok"]);
    assert!(c.line().await.starts_with("354 "));
    c.send(format!("{}.\r\nNOOP\r\n", message("piped")).as_bytes())
        .await;
    assert_eq!(c.line().await, "250 2.1.5 <alice@example.org> delivered");
    assert_eq!(c.line().await, "250 2.1.5 <bob@example.org> delivered");
    assert_eq!(c.line().await, "250 2.0.0 ok");
    assert_eq!(served(&db, "bob", "INBOX").await.len(), 1);
}

#[tokio::test]
async fn rfc1870_over_size_is_552_5_3_4_at_mail_and_after_data_and_the_session_goes_on() {
    let db = TestDb::new().await;
    add_users(&db);
    let addr = start_lmtp(&db, &[("max-message-size", "1024")]).await;
    let mut c = Lmtp::ready(addr).await;
    assert_eq!(
        c.one("MAIL FROM:<carol@example.net> SIZE=1025").await,
        "552 5.3.4 message exceeds the size limit of 1024 bytes"
    );
    assert_eq!(
        c.one("MAIL FROM:<carol@example.net> SIZE=1000").await,
        "250 2.1.0 sender ok"
    );
    assert!(
        c.one("RCPT TO:<alice@example.org>")
            .await
            .starts_with("250 ")
    );
    assert!(c.one("RCPT TO:<bob@example.org>").await.starts_with("250 "));
    assert!(c.one("DATA").await.starts_with("354 "));
    // The declared size lied: the data itself is over the limit. It is read
    // to its end, then each recipient is refused.
    let big = format!("{}{}\r\n.\r\n", message("big"), "x".repeat(70).repeat(20));
    c.send(big.as_bytes()).await;
    let limit = "message exceeds the size limit of 1024 bytes";
    assert_eq!(
        c.line().await,
        format!("552 5.3.4 <alice@example.org>: {limit}")
    );
    assert_eq!(
        c.line().await,
        format!("552 5.3.4 <bob@example.org>: {limit}")
    );
    assert_eq!(c.one("NOOP").await, "250 2.0.0 ok");
    assert_eq!(count(&db, "SELECT count(*) FROM messages").await, 0);

    // A message within the limit still goes through on the same connection.
    assert!(
        c.one("MAIL FROM:<carol@example.net>")
            .await
            .starts_with("250 ")
    );
    assert!(
        c.one("RCPT TO:<alice@example.org>")
            .await
            .starts_with("250 ")
    );
    assert!(c.one("DATA").await.starts_with("354 "));
    c.send(format!("{}.\r\n", message("small")).as_bytes())
        .await;
    assert_eq!(c.line().await, "250 2.1.5 <alice@example.org> delivered");
    assert_eq!(served(&db, "alice", "INBOX").await.len(), 1);
}

#[tokio::test]
async fn malformed_commands_get_500_or_501_and_the_session_stays_usable() {
    let db = TestDb::new().await;
    add_users(&db);
    let addr = start_lmtp(&db, &[("max-line-length", "1024")]).await;
    let (mut c, _) = Lmtp::connect(addr).await;
    assert_eq!(
        c.one("EHLO client").await,
        "500 5.5.1 this is LMTP; use LHLO"
    );
    assert_eq!(
        c.one("HELO client").await,
        "500 5.5.1 this is LMTP; use LHLO"
    );
    assert_eq!(c.one("MAIL FROM:<a@b>").await, "503 5.5.1 LHLO first");
    assert_eq!(c.one("LHLO").await, "501 5.5.4 syntax: LHLO hostname");
    c.cmd("LHLO client").await;
    assert_eq!(
        c.one("FROB nicate").await,
        "500 5.5.2 command not recognized"
    );
    assert_eq!(
        c.one("EXPN staff").await,
        "502 5.5.1 command not implemented"
    );
    assert_eq!(
        c.one("MAIL FROM:carol@example.net").await,
        "501 5.5.4 syntax: MAIL FROM:<address> [parameters]"
    );
    assert_eq!(
        c.one("MAIL FROM:<carol@example.net> RET=HDRS").await,
        "555 5.5.4 unsupported parameter RET"
    );
    assert_eq!(
        c.one("RCPT TO:<alice@example.org>").await,
        "503 5.5.1 MAIL first"
    );
    assert_eq!(c.one("DATA").await, "503 5.5.1 MAIL first");
    assert_eq!(
        c.one(&format!("NOOP {}", "x".repeat(1100))).await,
        "500 5.5.2 line too long; at most 1024 bytes"
    );
    c.send(b"\xff\xfe\r\n").await;
    assert_eq!(c.line().await, "500 5.5.2 commands must be UTF-8");
    assert_eq!(
        c.one("VRFY alice").await,
        "252 2.0.0 cannot verify; send a message and see"
    );
    assert!(c.one("MAIL FROM:<>").await.starts_with("250 "));
    assert_eq!(
        c.one("RCPT TO:<bare>").await,
        "501 5.1.3 the recipient must be local@domain"
    );
    assert_eq!(
        c.one("RCPT TO:<jörg@example.org>").await,
        "553 5.6.7 a non-ASCII address needs SMTPUTF8"
    );
    assert_eq!(c.one("DATA").await, "503 5.5.1 no valid recipients");
    assert_eq!(
        c.one("RCPT TO:<ALICE@example.org>").await,
        "250 2.1.5 recipient ok"
    );
    assert!(c.one("DATA").await.starts_with("354 "));
    c.send(format!("{}.\r\n", message("after-errors")).as_bytes())
        .await;
    assert_eq!(c.line().await, "250 2.1.5 <ALICE@example.org> delivered");
    assert_eq!(c.one("RSET").await, "250 2.0.0 reset");
    assert_eq!(served(&db, "alice", "INBOX").await.len(), 1);
}

#[tokio::test]
async fn rfc5321_4_5_3_1_10_recipients_over_lmtp_max_recipients_get_452_4_5_3() {
    let db = TestDb::new().await;
    add_users(&db);
    let addr = start_lmtp(&db, &[("lmtp-max-recipients", "2")]).await;
    let mut c = Lmtp::ready(addr).await;
    assert!(
        c.one("MAIL FROM:<carol@example.net>")
            .await
            .starts_with("250 ")
    );
    assert!(
        c.one("RCPT TO:<alice@example.org>")
            .await
            .starts_with("250 ")
    );
    assert!(
        c.one("RCPT TO:<lists@example.org>")
            .await
            .starts_with("250 ")
    );
    assert_eq!(
        c.one("RCPT TO:<bob@example.org>").await,
        "452 4.5.3 too many recipients; at most 2 per message"
    );
    assert!(c.one("DATA").await.starts_with("354 "));
    c.send(format!("{}.\r\n", message("limited")).as_bytes())
        .await;
    assert_eq!(c.line().await, "250 2.1.5 <alice@example.org> delivered");
    assert_eq!(c.line().await, "250 2.1.5 <lists@example.org> delivered");
    assert_eq!(served(&db, "bob", "INBOX").await.len(), 0);
    assert_eq!(served(&db, "alice", "Lists").await.len(), 1);
}

#[tokio::test]
async fn rfc2033_4_2_a_database_failure_is_451_4_3_0_per_recipient_and_nothing_is_stored() {
    let db = TestDb::new().await;
    add_users(&db);
    let addr = start_lmtp(&db, &[]).await;
    let mut c = Lmtp::ready(addr).await;
    assert!(
        c.one("MAIL FROM:<carol@example.net>")
            .await
            .starts_with("250 ")
    );
    assert!(
        c.one("RCPT TO:<alice@example.org>")
            .await
            .starts_with("250 ")
    );
    assert!(c.one("RCPT TO:<bob@example.org>").await.starts_with("250 "));
    assert!(c.one("DATA").await.starts_with("354 "));
    // A real failure inside the delivery transaction: the body parts and
    // messages rows are written, then the entries are refused.
    let su = db.superuser().await;
    su.batch_execute("REVOKE INSERT ON mailbox_entries FROM aox")
        .await
        .unwrap();
    c.send(format!("{}.\r\n", message("fails")).as_bytes())
        .await;
    let failed = "temporary failure storing the message";
    assert_eq!(
        c.line().await,
        format!("451 4.3.0 <alice@example.org>: {failed}")
    );
    assert_eq!(
        c.line().await,
        format!("451 4.3.0 <bob@example.org>: {failed}")
    );
    for table in [
        "messages",
        "bodyparts",
        "mailbox_entries",
        "message_parts",
        "mailbox_changes",
    ] {
        assert_eq!(
            count(&db, &format!("SELECT count(*) FROM {table}")).await,
            0,
            "{table} holds half a delivery"
        );
    }
    assert_eq!(
        count(
            &db,
            "SELECT sum(message_count + uidnext - 1)::int8 FROM mailboxes"
        )
        .await,
        0
    );

    // The MTA retries once the database is well again.
    su.batch_execute("GRANT INSERT ON mailbox_entries TO aox")
        .await
        .unwrap();
    assert!(
        c.one("MAIL FROM:<carol@example.net>")
            .await
            .starts_with("250 ")
    );
    assert!(
        c.one("RCPT TO:<alice@example.org>")
            .await
            .starts_with("250 ")
    );
    assert!(c.one("RCPT TO:<bob@example.org>").await.starts_with("250 "));
    assert!(c.one("DATA").await.starts_with("354 "));
    c.send(format!("{}.\r\n", message("retried")).as_bytes())
        .await;
    assert_eq!(c.line().await, "250 2.1.5 <alice@example.org> delivered");
    assert_eq!(c.line().await, "250 2.1.5 <bob@example.org> delivered");
    assert_eq!(count(&db, "SELECT count(*) FROM mailbox_entries").await, 2);
}

#[tokio::test]
async fn rfc2033_4_2_the_database_gone_mid_delivery_is_451_and_nothing_is_lost() {
    let db = TestDb::new().await;
    add_users(&db);
    let addr = start_lmtp(&db, &[]).await;
    let mut c = Lmtp::ready(addr).await;
    assert!(
        c.one("MAIL FROM:<carol@example.net>")
            .await
            .starts_with("250 ")
    );
    assert!(
        c.one("RCPT TO:<alice@example.org>")
            .await
            .starts_with("250 ")
    );
    assert!(c.one("RCPT TO:<bob@example.org>").await.starts_with("250 "));
    assert!(c.one("DATA").await.starts_with("354 "));
    // The database goes away under the server: every connection to it is
    // terminated and new ones are refused, as when PostgreSQL is stopped.
    let su = crate::harness::superuser("postgres").await;
    su.batch_execute(&format!(
        "ALTER DATABASE {0} WITH ALLOW_CONNECTIONS false; \
         SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = '{0}' AND pid <> pg_backend_pid()",
        db.name
    ))
    .await
    .unwrap();
    c.send(format!("{}.\r\n", message("lost?")).as_bytes())
        .await;
    for rcpt in ["alice@example.org", "bob@example.org"] {
        let line = c.line().await;
        assert!(line.starts_with(&format!("451 4.3.0 <{rcpt}>")), "{line}");
    }
    su.batch_execute(&format!(
        "ALTER DATABASE {} WITH ALLOW_CONNECTIONS true",
        db.name
    ))
    .await
    .unwrap();
    assert_eq!(count(&db, "SELECT count(*) FROM messages").await, 0);
    assert_eq!(count(&db, "SELECT count(*) FROM mailbox_entries").await, 0);
    // The MTA retries on the same session once the database is back.
    assert!(
        c.one("MAIL FROM:<carol@example.net>")
            .await
            .starts_with("250 ")
    );
    assert!(
        c.one("RCPT TO:<alice@example.org>")
            .await
            .starts_with("250 ")
    );
    assert!(c.one("DATA").await.starts_with("354 "));
    c.send(format!("{}.\r\n", message("retried")).as_bytes())
        .await;
    assert_eq!(c.line().await, "250 2.1.5 <alice@example.org> delivered");
    assert_eq!(count(&db, "SELECT count(*) FROM mailbox_entries").await, 1);
}

#[tokio::test]
async fn use_subaddressing_delivers_user_plus_tag_to_user() {
    let db = TestDb::new().await;
    add_users(&db);
    let plain = start_lmtp(&db, &[]).await;
    let mut c = Lmtp::ready(plain).await;
    assert!(c.one("MAIL FROM:<>").await.starts_with("250 "));
    assert!(
        c.one("RCPT TO:<alice+news@example.org>")
            .await
            .starts_with("550 5.1.1 ")
    );

    let tagged = start_lmtp(&db, &[("use-subaddressing", "on")]).await;
    let mut c = Lmtp::ready(tagged).await;
    assert!(c.one("MAIL FROM:<>").await.starts_with("250 "));
    assert_eq!(
        c.one("RCPT TO:<alice+news@example.org>").await,
        "250 2.1.5 recipient ok"
    );
    assert!(
        c.one("RCPT TO:<lists+x@EXAMPLE.org>")
            .await
            .starts_with("250 ")
    );
    assert!(
        c.one("RCPT TO:<nobody+x@example.org>")
            .await
            .starts_with("550 5.1.1 ")
    );
    assert!(c.one("DATA").await.starts_with("354 "));
    c.send(format!("{}.\r\n", message("tagged")).as_bytes())
        .await;
    assert_eq!(
        c.line().await,
        "250 2.1.5 <alice+news@example.org> delivered"
    );
    assert_eq!(c.line().await, "250 2.1.5 <lists+x@EXAMPLE.org> delivered");
    assert_eq!(served(&db, "alice", "INBOX").await.len(), 1);
    assert_eq!(served(&db, "alice", "Lists").await.len(), 1);
}

#[tokio::test]
async fn message_copy_directory_receives_each_delivered_message_named_by_sha256() {
    use sha2::Digest as _;
    let db = TestDb::new().await;
    add_users(&db);
    let dir = tempfile::tempdir().unwrap();
    let addr = start_lmtp(
        &db,
        &[("message-copy-directory", dir.path().to_str().unwrap())],
    )
    .await;
    let mut c = Lmtp::ready(addr).await;
    assert!(
        c.one("MAIL FROM:<carol@example.net>")
            .await
            .starts_with("250 ")
    );
    assert!(
        c.one("RCPT TO:<alice@example.org>")
            .await
            .starts_with("250 ")
    );
    assert!(c.one("RCPT TO:<bob@example.org>").await.starts_with("250 "));
    assert!(c.one("DATA").await.starts_with("354 "));
    c.send(format!("{}..leading dot\r\n.\r\n", message("copied")).as_bytes())
        .await;
    assert!(c.line().await.starts_with("250 "));
    assert!(c.line().await.starts_with("250 "));
    // The replies came after the copy was written.
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(
        files.len(),
        1,
        "one file per message, not per recipient: {files:?}"
    );
    let bytes = std::fs::read(&files[0]).unwrap();
    let expected = format!(
        "Return-Path: <carol@example.net>\r\n{}.leading dot\r\n",
        message("copied")
    );
    assert_eq!(String::from_utf8(bytes.clone()).unwrap(), expected);
    let hash: String = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let name = files[0].file_name().unwrap().to_str().unwrap().to_string();
    assert!(name.ends_with(&format!("-{hash}")), "{name}");
    assert_eq!(served(&db, "alice", "INBOX").await, [expected.into_bytes()]);
}

#[tokio::test]
async fn rfc6531_smtputf8_delivers_to_a_utf8_address_with_utf8_headers() {
    let db = TestDb::new().await;
    add_users(&db);
    ok(&db.aox(&["add", "alias", "jörg@example.org", "alice"]));
    let addr = start_lmtp(&db, &[]).await;
    let mut c = Lmtp::ready(addr).await;
    assert!(
        c.one("MAIL FROM:<rené@example.net> SMTPUTF8 BODY=8BITMIME")
            .await
            .starts_with("250 ")
    );
    assert_eq!(
        c.one("RCPT TO:<JÖRG@example.org>").await,
        "250 2.1.5 recipient ok"
    );
    assert!(c.one("DATA").await.starts_with("354 "));
    c.send("From: René <rené@example.net>\r\nSubject: Grüße\r\n\r\nÄpfel.\r\n.\r\n".as_bytes())
        .await;
    assert_eq!(c.line().await, "250 2.1.5 <JÖRG@example.org> delivered");
    let got = served(&db, "alice", "INBOX").await;
    assert_eq!(got.len(), 1);
    let text = String::from_utf8(got[0].clone()).unwrap();
    assert!(text.ends_with("\r\n\r\nÄpfel.\r\n"), "{text}");
    // What arrived is kept byte for byte: its hash is the message's.
    use sha2::Digest as _;
    let arrived = "Return-Path: <rené@example.net>\r\nFrom: René <rené@example.net>\r\n\
                   Subject: Grüße\r\n\r\nÄpfel.\r\n";
    let hash = sha2::Sha256::digest(arrived.as_bytes()).to_vec();
    let n: i64 = db
        .superuser()
        .await
        .query_one(
            "SELECT count(*) FROM messages WHERE raw_sha256 = $1",
            &[&hash],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
}
