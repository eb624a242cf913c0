//! A real IMAP server on a loopback port, in the test process, over the
//! test's own database; and a small line-oriented client that keeps the
//! exact bytes of every response.

use std::net::SocketAddr;

use archiveopteryx::server::{self, Listeners, Protocol};
use archiveopteryx::store::{Db, DbRole};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use crate::harness::TestDb;

/// Starts a server for `db` with these config settings on top of the
/// test's, and returns its IMAP address.
pub async fn start_server(db: &TestDb, settings: &[(&str, &str)]) -> SocketAddr {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut config = db.config();
    for (k, v) in [("allow-plaintext-passwords", "always")]
        .iter()
        .chain(settings)
    {
        config.set(k, v).unwrap();
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let listeners = Listeners::from_bound(vec![(Protocol::Imap, listener)]);
    let runtime_db = Db::from_config(&config, DbRole::Runtime);
    let state = server::shared_state(config, &runtime_db).unwrap();
    tokio::spawn(server::run(listeners, state, std::future::pending()));
    addr
}

/// A user `alice` with password `secret` and an INBOX.
pub fn add_alice(db: &TestDb) {
    let out = db.aox(&["add", "user", "alice", "secret", "alice@example.org"]);
    assert!(out.status.success(), "{}", crate::harness::stderr(&out));
}

/// One response: the untagged and continuation lines (literals inline), and
/// the tagged line that ended it.
#[derive(Debug)]
pub struct Reply {
    pub untagged: Vec<String>,
    pub tagged: String,
}

impl Reply {
    /// True when the tagged line says OK.
    pub fn ok(&self) -> bool {
        self.tagged.split(' ').nth(1) == Some("OK")
    }
    /// The status word of the tagged line.
    pub fn status(&self) -> &str {
        self.tagged.split(' ').nth(1).unwrap_or("")
    }
    /// Untagged lines that start with `* <prefix>`.
    pub fn lines(&self, prefix: &str) -> Vec<&str> {
        let p = format!("* {prefix}");
        self.untagged
            .iter()
            .filter(|l| l.starts_with(&p))
            .map(String::as_str)
            .collect()
    }
    /// Untagged lines containing `needle`.
    pub fn containing(&self, needle: &str) -> Vec<&str> {
        self.untagged
            .iter()
            .filter(|l| l.contains(needle))
            .map(String::as_str)
            .collect()
    }
}

/// A test client.
pub struct Client {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    next_tag: u32,
    /// The greeting line.
    pub greeting: String,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let (r, w) = TcpStream::connect(addr).await.unwrap().into_split();
        let mut c = Client {
            reader: BufReader::new(r),
            writer: w,
            next_tag: 0,
            greeting: String::new(),
        };
        c.greeting = c.read_response_line().await;
        c
    }

    /// Connects and logs in as alice.
    pub async fn alice(addr: SocketAddr) -> Client {
        let mut c = Client::connect(addr).await;
        let r = c.cmd("LOGIN alice secret").await;
        assert!(r.ok(), "{r:?}");
        c
    }

    /// One response line with any literals it announces read inline.
    pub async fn read_response_line(&mut self) -> String {
        let mut out = Vec::new();
        loop {
            let mut line = Vec::new();
            let n = self.reader.read_until(b'\n', &mut line).await.unwrap();
            assert!(n > 0, "the server closed the connection");
            out.extend_from_slice(&line);
            let trimmed = line.strip_suffix(b"\r\n").unwrap_or(&line);
            if let Some(open) = trimmed
                .strip_suffix(b"}")
                .and_then(|t| t.iter().rposition(|&b| b == b'{'))
            {
                let digits = &trimmed[open + 1..trimmed.len() - 1];
                if let Ok(n) = std::str::from_utf8(digits).unwrap_or("x").parse::<usize>() {
                    let mut lit = vec![0; n];
                    self.reader.read_exact(&mut lit).await.unwrap();
                    out.extend_from_slice(&lit);
                    continue;
                }
            }
            let s = String::from_utf8_lossy(&out).into_owned();
            return s.strip_suffix("\r\n").unwrap_or(&s).to_owned();
        }
    }

    /// Sends raw bytes.
    pub async fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.unwrap();
    }

    /// A fresh tag.
    pub fn tag(&mut self) -> String {
        self.next_tag += 1;
        format!("t{}", self.next_tag)
    }

    /// Reads until the tagged reply for `tag`.
    pub async fn until(&mut self, tag: &str) -> Reply {
        let mut untagged = Vec::new();
        loop {
            let line = self.read_response_line().await;
            if line.starts_with(&format!("{tag} ")) {
                return Reply {
                    untagged,
                    tagged: line,
                };
            }
            untagged.push(line);
        }
    }

    /// Sends `tag command\r\n` and reads the reply.
    pub async fn cmd(&mut self, command: &str) -> Reply {
        let tag = self.tag();
        self.send(format!("{tag} {command}\r\n").as_bytes()).await;
        self.until(&tag).await
    }

    /// APPENDs `message` with a LITERAL+ literal.
    pub async fn append(&mut self, mailbox: &str, flags: &str, message: &[u8]) -> Reply {
        let tag = self.tag();
        let mut bytes = format!(
            "{tag} APPEND {mailbox} ({flags}) {{{}+}}\r\n",
            message.len()
        )
        .into_bytes();
        bytes.extend_from_slice(message);
        bytes.extend_from_slice(b"\r\n");
        self.send(&bytes).await;
        self.until(&tag).await
    }
}

/// A small message.
pub fn message(n: u32, subject: &str) -> Vec<u8> {
    format!(
        "From: Alice <alice@example.org>\r\nTo: Bob <bob@example.org>\r\nSubject: {subject}\r\n\
         Date: Mon, 2 Jan 2006 15:04:05 +0000\r\nMessage-ID: <m{n}@example.org>\r\n\r\nBody of message {n}.\r\n"
    )
    .into_bytes()
}
