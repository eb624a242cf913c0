//! The POP3 server over a socket: Python's poplib for the client's view,
//! a raw client for exact replies, and the database and an IMAP session for
//! what a POP3 session leaves behind. Tests cite RFC 1939 (POP3), RFC 2449
//! (CAPA), RFC 2595 (STLS) and RFC 5034 (AUTH).

use std::net::SocketAddr;

use archiveopteryx::mime;
use archiveopteryx::server;
use archiveopteryx::store::fetch::{FetchWanted, fetch};
use archiveopteryx::store::inject::{self, NewMessage, SystemFlags};
use archiveopteryx::store::messages::bodypart_data;
use archiveopteryx::store::{Db, DbRole};
use archiveopteryx::uidset::UidSet;
use base64::Engine as _;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use crate::harness::TestDb;
use crate::imap_support::{self, add_alice};

/// Alice's INBOX with messages stored through the injector.
struct Maildrop {
    db: TestDb,
    user: i64,
    inbox: i64,
}

fn plain(n: u32, body: &str) -> Vec<u8> {
    format!(
        "From: Alice <alice@example.org>\r\nTo: bob@example.org\r\nSubject: message {n}\r\n\
         Date: Mon, 2 Jan 2006 15:04:05 +0000\r\nMessage-ID: <pop{n}@example.org>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n{body}"
    )
    .into_bytes()
}

/// Three messages: a plain one, one whose lines begin with dots (stuffing),
/// and a multipart with a base64 attachment.
fn messages() -> Vec<Vec<u8>> {
    vec![
        plain(1, "First line.\r\nSecond line.\r\nThird line.\r\n"),
        plain(2, ".leading dot\r\n..two dots\r\n.\r\nend\r\n"),
        "From: Alice <alice@example.org>\r\nTo: bob@example.org\r\nSubject: attached\r\n\
         Date: Mon, 2 Jan 2006 15:04:05 +0000\r\nMessage-ID: <pop3@example.org>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n\
         --b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n\
         AAECAwQFBgcICQ==\r\n--b--\r\n"
            .as_bytes()
            .to_vec(),
    ]
}

async fn maildrop_with(raws: Vec<Vec<u8>>) -> Maildrop {
    let db = TestDb::new().await;
    add_alice(&db);
    let (user, inbox) =
        archiveopteryx::store::mailboxes::mailbox_id(&db.owner().await, "alice", "INBOX")
            .await
            .unwrap();
    let batch: Vec<NewMessage> = raws
        .into_iter()
        .map(|raw| {
            NewMessage::new(
                mime::ingest(&raw),
                raw,
                1_136_214_245,
                SystemFlags::default(),
                vec![],
            )
        })
        .collect();
    let mut runtime = db.runtime().await;
    if !batch.is_empty() {
        inject::inject(&mut runtime, user, inbox, &batch)
            .await
            .unwrap();
    }
    Maildrop { db, user, inbox }
}

async fn maildrop() -> Maildrop {
    maildrop_with(messages()).await
}

impl Maildrop {
    /// The bytes IMAP's BODY[] serves for `uid`: the stored parts rendered
    /// by `mime::render`.
    async fn served(&self, uid: u32) -> Vec<u8> {
        let client = self.db.runtime().await;
        let wanted = FetchWanted {
            parts: true,
            ..FetchWanted::default()
        };
        let rows = fetch(
            &client,
            self.user,
            self.inbox,
            &UidSet::from_values([uid]),
            &wanted,
        )
        .await
        .unwrap();
        let hashes: Vec<[u8; 32]> = rows[0].parts.iter().filter_map(|p| p.bodypart).collect();
        let data = bodypart_data(&client, &hashes).await.unwrap();
        mime::render(&rows[0].parts, &|h| data.get(h).cloned()).unwrap()
    }

    async fn uidvalidity(&self) -> i64 {
        self.db
            .runtime()
            .await
            .query_one(
                "SELECT uidvalidity FROM mailboxes WHERE user_id = $1 AND id = $2",
                &[&self.user, &self.inbox],
            )
            .await
            .unwrap()
            .get(0)
    }

    async fn uids(&self) -> Vec<i64> {
        self.db
            .runtime()
            .await
            .query(
                "SELECT uid FROM mailbox_entries WHERE user_id = $1 AND mailbox_id = $2 ORDER BY uid",
                &[&self.user, &self.inbox],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    }

    /// (uid, reason, expunged_by) of the tombstones.
    async fn tombstones(&self) -> Vec<(i64, String, Option<i64>)> {
        self.db
            .owner()
            .await
            .query(
                "SELECT uid, reason, expunged_by FROM expunged_entries \
                 WHERE user_id = $1 AND mailbox_id = $2 ORDER BY uid",
                &[&self.user, &self.inbox],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect()
    }
}

/// Starts POP3 for `db` with these settings on top of the test's; returns
/// its address. `implicit_tls` makes it a POP3S listener.
pub(crate) async fn start_pop3(
    db: &TestDb,
    settings: &[(&str, &str)],
    implicit_tls: bool,
) -> SocketAddr {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut config = db.config();
    for (k, v) in settings {
        config.set(k, v).unwrap();
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state =
        server::shared_state(config, &Db::from_config(&db.config(), DbRole::Runtime)).unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, peer)) = listener.accept().await else {
                return;
            };
            tokio::spawn(archiveopteryx::pop3::serve(
                tcp,
                peer,
                state.clone(),
                implicit_tls,
            ));
        }
    });
    addr
}

const PLAINTEXT: &[(&str, &str)] = &[("allow-plaintext-passwords", "always")];

/// A self-signed certificate for localhost, as dev mode makes one.
fn certificate(db: &TestDb) -> String {
    let path = db.config_path.parent().unwrap().join("pop3-test-cert.pem");
    archiveopteryx::net::tls::ensure_self_signed(&path, &["localhost"]).unwrap();
    path.display().to_string()
}

/// A raw POP3 client that keeps the exact bytes of every reply.
struct Pop {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    greeting: String,
}

impl Pop {
    async fn connect(addr: SocketAddr) -> Pop {
        let (r, w) = TcpStream::connect(addr).await.unwrap().into_split();
        let mut p = Pop {
            reader: BufReader::new(r),
            writer: w,
            greeting: String::new(),
        };
        p.greeting = p.line().await;
        p
    }

    /// Connects and logs in as alice with USER/PASS.
    async fn alice(addr: SocketAddr) -> Pop {
        let mut p = Pop::connect(addr).await;
        assert!(p.cmd("USER alice").await.starts_with("+OK"));
        let r = p.cmd("PASS secret").await;
        assert!(r.starts_with("+OK"), "{r}");
        p
    }

    /// One line, without its CRLF (which it must have).
    async fn line(&mut self) -> String {
        let raw = self.raw_line().await;
        let text = String::from_utf8_lossy(&raw).into_owned();
        text.strip_suffix("\r\n")
            .unwrap_or_else(|| panic!("no CRLF: {text:?}"))
            .to_owned()
    }

    async fn raw_line(&mut self) -> Vec<u8> {
        let mut line = Vec::new();
        let n = self.reader.read_until(b'\n', &mut line).await.unwrap();
        assert!(n > 0, "the server closed the connection");
        line
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.unwrap();
    }

    /// Sends `command` and reads a one-line reply.
    async fn cmd(&mut self, command: &str) -> String {
        self.send(format!("{command}\r\n").as_bytes()).await;
        self.line().await
    }

    /// Reads a multi-line body after a `+OK`: the bytes exactly as sent,
    /// up to and without the terminating `.` CRLF.
    async fn body(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let line = self.raw_line().await;
            if line == b".\r\n" {
                return out;
            }
            out.extend_from_slice(&line);
        }
    }

    /// Sends `command`; returns the status line and the multi-line body
    /// when the status is `+OK`.
    async fn multi(&mut self, command: &str) -> (String, Vec<u8>) {
        let status = self.cmd(command).await;
        if status.starts_with("+OK") {
            (status, self.body().await)
        } else {
            (status, Vec::new())
        }
    }

    /// True once the server has closed the connection.
    async fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        self.reader.read_until(b'\n', &mut rest).await.unwrap() == 0
    }
}

fn unstuff(body: &[u8]) -> Vec<u8> {
    body.split_inclusive(|&b| b == b'\n')
        .flat_map(|l| l.strip_prefix(b".").unwrap_or(l).to_vec())
        .collect()
}

/// Runs a poplib script with `host port` as its arguments; returns what it
/// printed as JSON.
async fn poplib(script: &str, addr: SocketAddr) -> serde_json::Value {
    let out = tokio::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(addr.ip().to_string())
        .arg(addr.port().to_string())
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "poplib failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

const POPLIB_FLOW: &str = r#"
import json, poplib, sys
p = poplib.POP3(sys.argv[1], int(sys.argv[2]), timeout=60)
out = {"greeting": p.getwelcome().decode()}
out["capa"] = sorted(p.capa().keys())
p.user("alice")
p.pass_("secret")
out["stat"] = list(p.stat())
out["list"] = [l.decode() for l in p.list()[1]]
out["uidl"] = [l.decode() for l in p.uidl()[1]]
# poplib undoes the byte-stuffing and drops the CRLFs.
out["retr"] = [(b"\r\n".join(p.retr(i)[1]) + b"\r\n").hex() for i in range(1, out["stat"][0] + 1)]
out["top0"] = (b"\r\n".join(p.top(1, 0)[1]) + b"\r\n").hex()
out["top2"] = (b"\r\n".join(p.top(2, 2)[1]) + b"\r\n").hex()
out["dele"] = p.dele(1).decode()
out["stat_after_dele"] = list(p.stat())
out["quit"] = p.quit().decode()
print(json.dumps(out))
"#;

#[tokio::test]
async fn rfc1939_poplib_lists_retrieves_and_deletes_the_bytes_imap_serves() {
    // A message larger than the session's flush threshold, so RETR is sent
    // in several writes.
    let mut raws = messages();
    let big: String = (0..20_000)
        .map(|i| format!("line {i} of a long message, padded to a realistic width\r\n"))
        .collect();
    raws.push(plain(4, &big));
    let m = maildrop_with(raws).await;
    let served: Vec<Vec<u8>> = [
        m.served(1).await,
        m.served(2).await,
        m.served(3).await,
        m.served(4).await,
    ]
    .into();
    let addr = start_pop3(&m.db, PLAINTEXT, false).await;
    let out = poplib(POPLIB_FLOW, addr).await;
    assert!(served[3].len() > 1_000_000);
    let total: usize = served.iter().map(Vec::len).sum();
    assert!(out["greeting"].as_str().unwrap().starts_with("+OK"));
    let capa: Vec<&str> = out["capa"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for cap in ["PIPELINING", "RESP-CODES", "SASL", "TOP", "UIDL", "USER"] {
        assert!(capa.contains(&cap), "{cap} not in {capa:?}");
    }
    // RFC 1939 §5: STAT and LIST give the exact octet counts.
    assert_eq!(out["stat"], serde_json::json!([4, total]));
    let list: Vec<String> = (0..4)
        .map(|i| format!("{} {}", i + 1, served[i].len()))
        .collect();
    assert_eq!(out["list"], serde_json::json!(list));
    let uv = m.uidvalidity().await;
    let uidl: Vec<String> = (1..=4).map(|i| format!("{i} {uv}.{i}")).collect();
    assert_eq!(out["uidl"], serde_json::json!(uidl));
    for (i, expected) in served.iter().enumerate() {
        assert_eq!(
            out["retr"][i].as_str().unwrap(),
            hex(expected),
            "message {}",
            i + 1
        );
    }
    // RFC 1939 §7 TOP: the header, the blank line, and n body lines.
    let header_end = served[0].windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(out["top0"].as_str().unwrap(), hex(&served[0][..header_end]));
    let header_end = served[1].windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let mut top2 = served[1][..header_end].to_vec();
    top2.extend_from_slice(b".leading dot\r\n..two dots\r\n");
    assert_eq!(out["top2"].as_str().unwrap(), hex(&top2));
    assert!(out["dele"].as_str().unwrap().starts_with("+OK"));
    assert_eq!(
        out["stat_after_dele"],
        serde_json::json!([3, total - served[0].len()])
    );
    assert!(out["quit"].as_str().unwrap().starts_with("+OK"));
    assert_eq!(m.uids().await, vec![2, 3, 4]);
    assert_eq!(
        m.tombstones().await,
        vec![(1, "pop3".to_owned(), Some(m.user))]
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn rfc1939_3_retr_byte_stuffs_lines_that_begin_with_a_dot() {
    let m = maildrop().await;
    let addr = start_pop3(&m.db, PLAINTEXT, false).await;
    let mut p = Pop::alice(addr).await;
    let served = m.served(2).await;
    let (status, body) = p.multi("RETR 2").await;
    assert_eq!(status, format!("+OK {} octets", served.len()));
    let wire = String::from_utf8(body.clone()).unwrap();
    assert!(
        wire.contains("\r\n..leading dot\r\n...two dots\r\n..\r\nend\r\n"),
        "{wire}"
    );
    assert_eq!(unstuff(&body), served);
}

#[tokio::test]
async fn rfc1939_7_uidl_is_stable_across_sessions_and_deletions() {
    let m = maildrop().await;
    let addr = start_pop3(&m.db, PLAINTEXT, false).await;
    let uv = m.uidvalidity().await;
    let mut first = Pop::alice(addr).await;
    let (_, ids) = first.multi("UIDL").await;
    assert_eq!(
        String::from_utf8(ids).unwrap(),
        format!("1 {uv}.1\r\n2 {uv}.2\r\n3 {uv}.3\r\n")
    );
    assert_eq!(first.cmd("UIDL 2").await, format!("+OK 2 {uv}.2"));
    assert!(first.cmd("DELE 1").await.starts_with("+OK"));
    // RFC 1939 §7: a deleted message is not listed.
    let (_, ids) = first.multi("UIDL").await;
    assert_eq!(
        String::from_utf8(ids).unwrap(),
        format!("2 {uv}.2\r\n3 {uv}.3\r\n")
    );
    assert!(first.cmd("QUIT").await.starts_with("+OK"));
    // The next session numbers the messages afresh; their ids stay.
    let mut second = Pop::alice(addr).await;
    let (_, ids) = second.multi("UIDL").await;
    assert_eq!(
        String::from_utf8(ids).unwrap(),
        format!("1 {uv}.2\r\n2 {uv}.3\r\n")
    );
    let mut third = Pop::alice(addr).await;
    let (_, again) = third.multi("UIDL").await;
    assert_eq!(
        String::from_utf8(again).unwrap(),
        format!("1 {uv}.2\r\n2 {uv}.3\r\n")
    );
}

#[tokio::test]
async fn rfc1939_6_dele_then_quit_expunges_like_imap_and_imap_sees_it() {
    let m = maildrop().await;
    let addr = start_pop3(&m.db, PLAINTEXT, false).await;
    let imap = imap_support::start_server(&m.db, &[]).await;
    let mut c = imap_support::Client::alice(imap).await;
    let r = c.cmd("SELECT INBOX").await;
    assert!(r.ok(), "{r:?}");
    assert_eq!(r.lines("3 EXISTS").len(), 1, "{r:?}");

    // The IMAP session idles on the mailbox (RFC 2177), so it is told of
    // the change as soon as it is committed.
    let idle = c.tag();
    c.send(format!("{idle} IDLE\r\n").as_bytes()).await;
    let cont = c.read_response_line().await;
    assert!(cont.starts_with("+ "), "{cont}");

    let mut p = Pop::alice(addr).await;
    assert_eq!(p.cmd("DELE 2").await, "+OK message 2 deleted");
    assert_eq!(p.cmd("DELE 3").await, "+OK message 3 deleted");
    // Until QUIT nothing has changed.
    assert_eq!(m.uids().await, vec![1, 2, 3]);
    let quit = p.cmd("QUIT").await;
    assert!(
        quit.starts_with("+OK") && quit.contains("2 messages deleted"),
        "{quit}"
    );
    assert!(p.closed().await);

    assert_eq!(m.uids().await, vec![1]);
    assert_eq!(
        m.tombstones().await,
        vec![
            (2, "pop3".to_owned(), Some(m.user)),
            (3, "pop3".to_owned(), Some(m.user)),
        ]
    );
    // As after an EXPUNGE by another IMAP session (RFC 9051 §7.5.1):
    // highest first, so each number is right when sent.
    for expected in ["* 3 EXPUNGE", "* 2 EXPUNGE"] {
        let seen = tokio::time::timeout(std::time::Duration::from_secs(10), c.read_response_line())
            .await
            .expect("no EXPUNGE within 10 s");
        assert_eq!(seen, expected);
    }
    c.send(b"DONE\r\n").await;
    assert!(c.until(&idle).await.ok());
    let r = c.cmd("STATUS INBOX (MESSAGES)").await;
    assert_eq!(r.containing("MESSAGES 1").len(), 1, "{r:?}");
    // The counters the mailbox row keeps went down with the entries.
    let count: i64 =
        m.db.runtime()
            .await
            .query_one(
                "SELECT message_count FROM mailboxes WHERE id = $1",
                &[&m.inbox],
            )
            .await
            .unwrap()
            .get(0);
    assert_eq!(count, 1);
}

#[tokio::test]
async fn rfc1939_5_rset_unmarks_and_deleted_messages_are_off_limits() {
    let m = maildrop().await;
    let addr = start_pop3(&m.db, PLAINTEXT, false).await;
    let mut p = Pop::alice(addr).await;
    let sizes: Vec<usize> = [m.served(1).await, m.served(2).await, m.served(3).await]
        .iter()
        .map(Vec::len)
        .collect();
    let total: usize = sizes.iter().sum();
    assert_eq!(p.cmd("STAT").await, format!("+OK 3 {total}"));
    assert!(p.cmd("DELE 1").await.starts_with("+OK"));
    // RFC 1939 §5: a message marked as deleted may not be named.
    assert_eq!(p.cmd("DELE 1").await, "-ERR message 1 is deleted");
    assert_eq!(p.cmd("RETR 1").await, "-ERR message 1 is deleted");
    assert_eq!(p.cmd("TOP 1 0").await, "-ERR message 1 is deleted");
    assert_eq!(p.cmd("LIST 1").await, "-ERR message 1 is deleted");
    assert_eq!(p.cmd("UIDL 1").await, "-ERR message 1 is deleted");
    assert_eq!(p.cmd("STAT").await, format!("+OK 2 {}", total - sizes[0]));
    let (status, list) = p.multi("LIST").await;
    assert_eq!(
        status,
        format!("+OK 2 messages ({} octets)", total - sizes[0])
    );
    assert_eq!(
        String::from_utf8(list).unwrap(),
        format!("2 {}\r\n3 {}\r\n", sizes[1], sizes[2])
    );
    assert_eq!(
        p.cmd("RSET").await,
        format!("+OK maildrop has 3 messages ({total} octets)")
    );
    assert_eq!(p.cmd("LIST 1").await, format!("+OK 1 {}", sizes[0]));
    assert!(p.cmd("QUIT").await.starts_with("+OK"));
    assert!(p.closed().await);
    assert_eq!(m.uids().await, vec![1, 2, 3]);
    assert!(m.tombstones().await.is_empty());
}

#[tokio::test]
async fn rfc1939_6_without_quit_nothing_is_deleted() {
    let m = maildrop().await;
    let addr = start_pop3(&m.db, PLAINTEXT, false).await;
    let mut p = Pop::alice(addr).await;
    assert!(p.cmd("DELE 1").await.starts_with("+OK"));
    drop(p);
    // A later session still finds all three.
    let mut again = Pop::alice(addr).await;
    assert!(again.cmd("STAT").await.starts_with("+OK 3 "));
    assert_eq!(m.uids().await, vec![1, 2, 3]);
    assert!(m.tombstones().await.is_empty());
}

#[tokio::test]
async fn rfc1939_4_a_second_session_on_the_maildrop_is_allowed() {
    // The choice documented in pop3::session: no exclusive lock. Both
    // sessions delete message 1; it is removed once, and the second
    // session's message 2 still goes.
    let m = maildrop().await;
    let addr = start_pop3(&m.db, PLAINTEXT, false).await;
    let mut a = Pop::alice(addr).await;
    let mut b = Pop::alice(addr).await;
    assert!(a.cmd("DELE 1").await.starts_with("+OK"));
    assert!(b.cmd("DELE 2").await.starts_with("+OK"));
    assert!(a.cmd("QUIT").await.starts_with("+OK"));
    // Message 1 is gone under b: RETR says so instead of failing oddly.
    assert_eq!(
        b.cmd("RETR 1").await,
        "-ERR message 1 has been removed by another session"
    );
    assert!(b.cmd("DELE 1").await.starts_with("+OK"));
    let quit = b.cmd("QUIT").await;
    assert!(quit.starts_with("+OK"), "{quit}");
    assert_eq!(m.uids().await, vec![3]);
    let gone: Vec<i64> = m.tombstones().await.iter().map(|t| t.0).collect();
    assert_eq!(gone, vec![1, 2]);
}

#[tokio::test]
async fn rfc2595_plaintext_passwords_are_refused_without_tls() {
    let m = maildrop().await;
    // The default: allow-plaintext-passwords = never, and no certificate.
    let addr = start_pop3(&m.db, &[], false).await;
    let mut p = Pop::connect(addr).await;
    assert!(p.greeting.starts_with("+OK "), "{}", p.greeting);
    let (_, capa) = p.multi("CAPA").await;
    let capa = String::from_utf8(capa).unwrap();
    assert!(
        capa.contains("UIDL\r\n") && capa.contains("RESP-CODES\r\n"),
        "{capa}"
    );
    for absent in ["USER", "PLAIN", "LOGIN", "STLS"] {
        assert!(!capa.contains(absent), "{absent} in {capa}");
    }
    // SCRAM sends no password, so it is offered without TLS (RFC 5034 §5).
    assert!(capa.contains("\r\nSASL SCRAM-SHA-256\r\n"), "{capa}");
    let refused = "-ERR [AUTH] plaintext passwords are not allowed without TLS; use STLS first";
    assert_eq!(p.cmd("USER alice").await, refused);
    assert_eq!(p.cmd("PASS secret").await, "-ERR send USER first");
    let ir = base64::engine::general_purpose::STANDARD.encode("\0alice\0secret");
    assert_eq!(p.cmd(&format!("AUTH PLAIN {ir}")).await, refused);
    assert_eq!(p.cmd("STLS").await, "-ERR no TLS certificate is configured");
    assert_eq!(p.cmd("STAT").await, "-ERR log in first");
    assert!(p.cmd("QUIT").await.starts_with("+OK"));
}

const POPLIB_STLS: &str = r#"
import json, poplib, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
p = poplib.POP3(sys.argv[1], int(sys.argv[2]), timeout=60)
out = {"capa_before": sorted(p.capa().keys())}
out["stls"] = p.stls(context=ctx).decode()
out["capa_after"] = sorted(p.capa().keys())
p.user("alice")
out["pass"] = p.pass_("secret").decode()
out["stat"] = list(p.stat())
out["retr"] = (b"\r\n".join(p.retr(2)[1]) + b"\r\n").hex()
out["stls_again"] = ""
try:
    p._shortcmd("STLS")
except poplib.error_proto as e:
    out["stls_again"] = str(e)
p.quit()
print(json.dumps(out))
"#;

const POPLIB_POP3S: &str = r#"
import json, poplib, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
p = poplib.POP3_SSL(sys.argv[1], int(sys.argv[2]), context=ctx, timeout=60)
out = {"capa": sorted(p.capa().keys())}
out["auth"] = p._shortcmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==").decode()
out["stat"] = list(p.stat())
p.quit()
print(json.dumps(out))
"#;

#[tokio::test]
async fn rfc2595_4_stls_then_user_pass_and_pop3s_with_poplib() {
    let m = maildrop().await;
    let cert = certificate(&m.db);
    let settings = [("tls-certificate", cert.as_str())];
    let addr = start_pop3(&m.db, &settings, false).await;
    let out = poplib(POPLIB_STLS, addr).await;
    assert_eq!(
        out["capa_before"],
        serde_json::json!([
            "AUTH-RESP-CODE",
            "IMPLEMENTATION",
            "PIPELINING",
            "RESP-CODES",
            "SASL",
            "STLS",
            "TOP",
            "UIDL"
        ])
    );
    assert!(out["stls"].as_str().unwrap().starts_with("+OK"));
    // RFC 2595 §4: after TLS, no STLS; the password mechanisms appear.
    assert_eq!(
        out["capa_after"],
        serde_json::json!([
            "AUTH-RESP-CODE",
            "IMPLEMENTATION",
            "PIPELINING",
            "RESP-CODES",
            "SASL",
            "TOP",
            "UIDL",
            "USER"
        ])
    );
    assert!(out["pass"].as_str().unwrap().starts_with("+OK"));
    assert_eq!(out["stat"][0], 3);
    assert_eq!(out["retr"].as_str().unwrap(), hex(&m.served(2).await));
    assert!(out["stls_again"].as_str().unwrap().contains("-ERR"));

    let pop3s = start_pop3(&m.db, &settings, true).await;
    let out = poplib(POPLIB_POP3S, pop3s).await;
    assert!(!out["capa"].as_array().unwrap().contains(&"STLS".into()));
    assert!(out["auth"].as_str().unwrap().starts_with("+OK"), "{out}");
    assert_eq!(out["stat"][0], 3);
}

#[tokio::test]
async fn rfc5034_4_auth_plain_with_and_without_initial_response() {
    let m = maildrop().await;
    let addr = start_pop3(&m.db, PLAINTEXT, false).await;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let mut p = Pop::connect(addr).await;
    // Pre-CAPA clients ask for the mechanisms with a bare AUTH.
    let (status, mechs) = p.multi("AUTH").await;
    assert!(status.starts_with("+OK"));
    assert_eq!(mechs, b"SCRAM-SHA-256\r\nPLAIN\r\nLOGIN\r\n");
    assert_eq!(
        p.cmd("AUTH CRAM-MD5").await,
        "-ERR the CRAM-MD5 mechanism is not available here; use SCRAM-SHA-256 or PLAIN or LOGIN"
    );
    assert_eq!(
        p.cmd(&format!("AUTH PLAIN {}", b64("\0alice\0wrong")))
            .await,
        "-ERR [AUTH] invalid credentials"
    );
    assert_eq!(
        p.cmd(&format!("AUTH PLAIN {}", b64("bob\0alice\0secret")))
            .await,
        "-ERR [AUTH] acting as another user is not supported"
    );
    assert_eq!(p.cmd("AUTH PLAIN =").await, "-ERR malformed PLAIN response");
    // Without an initial response: an empty challenge, then the response.
    assert_eq!(p.cmd("AUTH PLAIN").await, "+ ");
    assert_eq!(p.cmd("*").await, "-ERR authentication cancelled");
    assert_eq!(p.cmd("AUTH PLAIN").await, "+ ");
    assert_eq!(p.cmd("!!!").await, "-ERR the response is not base64");
    assert_eq!(p.cmd("AUTH PLAIN").await, "+ ");
    assert_eq!(
        p.cmd(&b64("\0alice\0secret")).await,
        "+OK alice's maildrop has 3 messages (".to_owned()
            + &(m.served(1).await.len() + m.served(2).await.len() + m.served(3).await.len())
                .to_string()
            + " octets)"
    );
    assert!(
        p.cmd("AUTH PLAIN")
            .await
            .starts_with("-ERR already logged in")
    );

    let mut q = Pop::connect(addr).await;
    let ok = q
        .cmd(&format!("AUTH PLAIN {}", b64("alice\0alice\0secret")))
        .await;
    assert!(
        ok.starts_with("+OK alice's maildrop has 3 messages"),
        "{ok}"
    );
    // USER/PASS with a wrong password is the same [AUTH] refusal.
    let mut r = Pop::connect(addr).await;
    assert_eq!(r.cmd("USER alice").await, "+OK send PASS");
    assert_eq!(r.cmd("PASS nope").await, "-ERR [AUTH] invalid credentials");
    assert_eq!(r.cmd("PASS secret").await, "-ERR send USER first");
}

#[tokio::test]
async fn malformed_commands_get_err_and_the_session_stays_usable() {
    let m = maildrop().await;
    let addr = start_pop3(&m.db, PLAINTEXT, false).await;
    let mut p = Pop::connect(addr).await;
    assert_eq!(p.cmd("").await, "-ERR empty command");
    assert_eq!(p.cmd("FROB").await, "-ERR unknown command \"FROB\"");
    assert_eq!(p.cmd("APOP alice 0123").await.get(..4), Some("-ERR"));
    p.send(b"USER \xff\xfe\r\n").await;
    assert_eq!(p.line().await, "-ERR the command is not UTF-8");
    let mut p = Pop::alice(addr).await;
    assert_eq!(p.cmd("RETR").await, "-ERR RETR takes one message number");
    assert_eq!(p.cmd("RETR x").await, "-ERR \"x\" is not a message number");
    assert_eq!(p.cmd("RETR 0").await, "-ERR no such message: 0");
    assert_eq!(p.cmd("RETR 4").await, "-ERR no such message: 4");
    assert_eq!(
        p.cmd("RETR 4294967295").await,
        "-ERR no such message: 4294967295"
    );
    assert_eq!(
        p.cmd("TOP 1").await,
        "-ERR TOP takes a message number and a number of lines"
    );
    assert_eq!(
        p.cmd("LIST 1 2").await,
        "-ERR LIST takes at most one message number"
    );
    assert_eq!(p.cmd("STAT 1").await, "-ERR STAT takes no arguments");
    assert_eq!(p.cmd("USER bob").await, "-ERR already logged in");
    assert_eq!(
        p.cmd("STLS").await,
        "-ERR STLS is only allowed before login"
    );
    assert_eq!(p.cmd("NOOP").await, "+OK");
    assert!(p.cmd("STAT").await.starts_with("+OK 3 "));
    // Bare LF line endings are taken too.
    p.send(b"NOOP\n").await;
    assert_eq!(p.line().await, "+OK");
}

#[tokio::test]
async fn a_line_over_max_line_length_is_refused_and_skipped() {
    let m = maildrop().await;
    let addr = start_pop3(
        &m.db,
        &[
            ("allow-plaintext-passwords", "always"),
            ("max-line-length", "1024"),
        ],
        false,
    )
    .await;
    let mut p = Pop::alice(addr).await;
    // 1024 bytes is still a line.
    let longest = format!("NOOP {}", "x".repeat(1019));
    assert_eq!(p.cmd(&longest).await, "-ERR NOOP takes no arguments");
    let mut over = b"NOOP ".to_vec();
    over.extend(std::iter::repeat_n(b'x', 100_000));
    over.extend_from_slice(b"\r\nSTAT\r\n");
    p.send(&over).await;
    assert_eq!(
        p.line().await,
        "-ERR line too long: the limit is 1024 bytes"
    );
    assert!(p.line().await.starts_with("+OK 3 "));
}

#[tokio::test]
async fn rfc2449_6_6_pipelined_commands_are_answered_in_order() {
    let m = maildrop().await;
    let addr = start_pop3(&m.db, PLAINTEXT, false).await;
    let mut p = Pop::connect(addr).await;
    p.send(b"USER alice\r\nPASS secret\r\nSTAT\r\nLIST 2\r\nTOP 1 0\r\nDELE 3\r\nNOOP\r\nQUIT\r\n")
        .await;
    assert_eq!(p.line().await, "+OK send PASS");
    assert!(
        p.line()
            .await
            .starts_with("+OK alice's maildrop has 3 messages")
    );
    assert!(p.line().await.starts_with("+OK 3 "));
    assert_eq!(p.line().await, format!("+OK 2 {}", m.served(2).await.len()));
    assert_eq!(p.line().await, "+OK top of message follows");
    let top = p.body().await;
    assert!(top.ends_with(b"\r\n\r\n") && top.starts_with(b"From: "));
    assert_eq!(p.line().await, "+OK message 3 deleted");
    assert_eq!(p.line().await, "+OK");
    assert!(p.line().await.contains("1 messages deleted"));
    assert!(p.closed().await);
    assert_eq!(m.uids().await, vec![1, 2]);
}

#[tokio::test]
async fn rfc1939_an_empty_maildrop_lists_nothing() {
    let m = maildrop_with(vec![]).await;
    let addr = start_pop3(&m.db, PLAINTEXT, false).await;
    let mut p = Pop::alice(addr).await;
    assert_eq!(p.cmd("STAT").await, "+OK 0 0");
    assert_eq!(
        p.multi("LIST").await,
        ("+OK 0 messages (0 octets)".to_owned(), vec![])
    );
    assert_eq!(p.multi("UIDL").await.1, Vec::<u8>::new());
    assert_eq!(p.cmd("RETR 1").await, "-ERR no such message: 1");
    assert_eq!(
        p.cmd("QUIT").await,
        "+OK archiveopteryx POP3 server signing off"
    );
}

/// Runs fetchmail (Debian's) once against `addr` with `options` among the
/// user options; each message goes, unchanged (`invisible`: no Received
/// line; `no stripcr`: CRLF kept), to a file of its own in `home/mail`.
/// Returns fetchmail's exit status (1 means "no mail").
async fn fetchmail(home: &std::path::Path, addr: SocketAddr, options: &str) -> i32 {
    use std::os::unix::fs::PermissionsExt as _;
    let mail = home.join("mail");
    std::fs::create_dir_all(&mail).unwrap();
    let rc = home.join("fetchmailrc");
    std::fs::write(
        &rc,
        format!(
            "set no bouncemail\n\
             set invisible\n\
             poll {} with proto POP3 port {} uidl\n\
             \tuser \"alice\" there with password \"secret\" is \"root\" here\n\
             \tno stripcr no rewrite {options}\n\
             \tmda \"cat > $(mktemp {}/m.XXXXXXXX)\"\n",
            addr.ip(),
            addr.port(),
            mail.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = tokio::process::Command::new("fetchmail")
        .env("HOME", home)
        .env("FETCHMAILHOME", home)
        .arg("-f")
        .arg(&rc)
        .arg("-i")
        .arg(home.join("fetchids"))
        // As root, fetchmail's lock is system-wide unless named: another
        // run on the machine would make this one refuse to start.
        .arg("--pidfile")
        .arg(home.join("fetchmail.pid"))
        .arg("--keep")
        .arg("--nodetach")
        .arg("--nosyslog")
        .output()
        .await
        .unwrap();
    let status = out.status.code().unwrap_or(-1);
    assert!(
        status == 0 || status == 1,
        "fetchmail failed ({status}): {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    status
}

/// The messages fetchmail delivered, sorted.
fn delivered(home: &std::path::Path) -> Vec<Vec<u8>> {
    let mut all: Vec<Vec<u8>> = std::fs::read_dir(home.join("mail"))
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    all.sort();
    all
}

async fn thousand_messages() -> Maildrop {
    let raws: Vec<Vec<u8>> = (1..=1000)
        .map(|i| plain(i, &format!(".dot line of message {i}\r\nSecond line.\r\n")))
        .collect();
    maildrop_with(raws).await
}

/// Every message as IMAP serves it, sorted; one connection, one fetch.
async fn all_served(m: &Maildrop) -> Vec<Vec<u8>> {
    let client = m.db.runtime().await;
    let wanted = FetchWanted {
        parts: true,
        ..FetchWanted::default()
    };
    let rows = fetch(&client, m.user, m.inbox, &UidSet::everything(), &wanted)
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

#[tokio::test]
async fn fetchmail_retrieves_1000_messages_over_pop3_and_stls_and_then_nothing_new() {
    if std::process::Command::new("fetchmail")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("fetchmail is not installed (.ci/run installs it from Debian's packages)");
    }
    let m = thousand_messages().await;
    let served = all_served(&m).await;
    assert_eq!(served.len(), 1000);

    // POP3 with a plaintext password (allowed by configuration).
    let addr = start_pop3(&m.db, PLAINTEXT, false).await;
    // fetchmail 6.4 tries STLS unasked unless told there is no TLS.
    let home = crate::harness::reachable_temp_dir("aox-fetchmail-");
    let home = home.path();
    let plaintext = "sslproto ''";
    assert_eq!(fetchmail(home, addr, plaintext).await, 0);
    assert_eq!(delivered(home), served);
    // With --keep, the UIDLs it kept say there is nothing new.
    assert_eq!(fetchmail(home, addr, plaintext).await, 1);
    assert_eq!(delivered(home).len(), 1000);

    // POP3 with STLS, plaintext passwords refused outside TLS.
    let cert = certificate(&m.db);
    let tls = start_pop3(&m.db, &[("tls-certificate", cert.as_str())], false).await;
    let home = crate::harness::reachable_temp_dir("aox-fetchmail-tls-");
    let home = home.path();
    let stls = "sslproto 'TLS1.2+' no sslcertck";
    assert_eq!(fetchmail(home, tls, stls).await, 0);
    assert_eq!(delivered(home), served);
    assert_eq!(fetchmail(home, tls, stls).await, 1);
    assert_eq!(m.uids().await.len(), 1000);
}

#[tokio::test]
async fn rfc1939_6_quit_keeps_mail_a_retention_policy_covers_and_says_so() {
    let m = maildrop().await;
    let addr = start_pop3(&m.db, PLAINTEXT, false).await;
    let out = m.db.aox(&[
        "retain", "mail", "forever", "--user", "alice", "subject", "attached",
    ]);
    assert!(out.status.success(), "{}", crate::harness::stderr(&out));
    let mut p = Pop::alice(addr).await;
    assert!(p.cmd("DELE 1").await.starts_with("+OK"));
    assert!(p.cmd("DELE 3").await.starts_with("+OK"));
    assert_eq!(
        p.cmd("QUIT").await,
        "+OK archiveopteryx POP3 server signing off (1 messages deleted, 1 kept by retention policy)"
    );
    assert_eq!(m.uids().await, [2, 3]);
    assert_eq!(
        m.tombstones().await,
        [(1, "pop3".to_string(), Some(m.user))]
    );
    // The kept message is still in the maildrop for the next session.
    let mut p = Pop::alice(addr).await;
    assert!(p.cmd("STAT").await.starts_with("+OK 2 "));
    assert_eq!(
        p.cmd("QUIT").await,
        "+OK archiveopteryx POP3 server signing off"
    );
}
