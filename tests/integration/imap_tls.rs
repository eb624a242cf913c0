//! STARTTLS (RFC 9051 §6.2.1) and IMAPS (RFC 8314 §3.2) with a self-signed
//! certificate, checked by a rustls client that trusts exactly that
//! certificate.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use archiveopteryx::server::{self, Listeners, Protocol};
use archiveopteryx::store::{Db, DbRole};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncBufReadExt as _, AsyncRead, AsyncReadExt as _, AsyncWrite};
use tokio::io::{AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;

use crate::harness::TestDb;
use crate::imap_support::{Client, add_alice, start_server};

/// A self-signed certificate for `localhost` in a fresh directory (kept
/// alive by the returned guard).
fn certificate() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("tls.pem");
    archiveopteryx::net::tls::ensure_self_signed(&pem, &["localhost"]).unwrap();
    (dir, pem)
}

/// A TLS connector that trusts only the certificate in `pem`.
fn connector(pem: &Path) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(pem).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

fn localhost() -> ServerName<'static> {
    ServerName::try_from("localhost").unwrap()
}

/// A server with IMAPS (implicit TLS from the first byte) as its only
/// listener; returns its address.
async fn start_imaps_server(db: &TestDb, pem: &Path) -> SocketAddr {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut config = db.config();
    config
        .set("tls-certificate", pem.to_str().unwrap())
        .unwrap();
    config.set("allow-plaintext-passwords", "never").unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let listeners = Listeners::from_bound(vec![(Protocol::Imaps, listener)]);
    let runtime_db = Db::from_config(&config, DbRole::Runtime);
    let state = server::shared_state(config, &runtime_db).unwrap();
    tokio::spawn(server::run(listeners, state, std::future::pending()));
    addr
}

/// A tiny client over any stream (the TLS one here), reading whole lines.
struct Lines<S> {
    io: BufReader<S>,
    next_tag: u32,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Lines<S> {
    fn new(io: S) -> Lines<S> {
        Lines {
            io: BufReader::new(io),
            next_tag: 100,
        }
    }

    async fn line(&mut self) -> String {
        let mut line = String::new();
        let n = self.io.read_line(&mut line).await.unwrap();
        assert!(n > 0, "the server closed the connection");
        line.trim_end().to_owned()
    }

    /// Sends `tag command` and returns the untagged lines and the tagged one.
    async fn cmd(&mut self, command: &str) -> (Vec<String>, String) {
        self.next_tag += 1;
        let tag = format!("s{}", self.next_tag);
        self.io
            .get_mut()
            .write_all(format!("{tag} {command}\r\n").as_bytes())
            .await
            .unwrap();
        let mut untagged = Vec::new();
        loop {
            let line = self.line().await;
            if line.starts_with(&format!("{tag} ")) {
                return (untagged, line);
            }
            untagged.push(line);
        }
    }
}

fn capabilities(untagged: &[String]) -> Vec<String> {
    untagged
        .iter()
        .find_map(|l| l.strip_prefix("* CAPABILITY "))
        .unwrap_or("")
        .split(' ')
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn rfc9051_6_2_1_starttls_then_login_with_plaintext_passwords_only_over_tls() {
    let db = TestDb::new().await;
    add_alice(&db);
    let (_dir, pem) = certificate();
    let addr = start_server(
        &db,
        &[
            ("tls-certificate", pem.to_str().unwrap()),
            ("allow-plaintext-passwords", "never"),
        ],
    )
    .await;

    // Before TLS: STARTTLS and LOGINDISABLED offered, no AUTH=PLAIN
    // (RFC 9051 §6.2.3, §7.2.2), and LOGIN refused.
    let mut c = Client::connect(addr).await;
    let r = c.cmd("CAPABILITY").await;
    let caps: Vec<&str> = r.lines("CAPABILITY")[0].split(' ').collect();
    assert!(caps.contains(&"STARTTLS"), "{caps:?}");
    assert!(caps.contains(&"LOGINDISABLED"), "{caps:?}");
    assert!(!caps.contains(&"AUTH=PLAIN"), "{caps:?}");
    let r = c.cmd("LOGIN alice secret").await;
    assert_eq!(r.status(), "NO", "{r:?}");
    assert!(r.tagged.contains("[PRIVACYREQUIRED]"), "{r:?}");
    drop(c);

    // STARTTLS on a raw socket, then the handshake with a client that
    // trusts the certificate.
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let mut plain = BufReader::new(&mut tcp);
    let mut greeting = String::new();
    plain.read_line(&mut greeting).await.unwrap();
    assert!(greeting.starts_with("* OK"), "{greeting}");
    plain.get_mut().write_all(b"a STARTTLS\r\n").await.unwrap();
    let mut ok = String::new();
    plain.read_line(&mut ok).await.unwrap();
    assert!(ok.starts_with("a OK"), "{ok}");
    // Nothing may be buffered past the tagged OK: the server is waiting
    // for our ClientHello.
    assert!(plain.buffer().is_empty());
    let tls = connector(&pem).connect(localhost(), tcp).await.unwrap();
    let mut t = Lines::new(tls);
    let (untagged, tagged) = t.cmd("CAPABILITY").await;
    assert!(tagged.contains(" OK"), "{tagged}");
    let caps = capabilities(&untagged);
    assert!(caps.iter().any(|c| c == "AUTH=PLAIN"), "{caps:?}");
    assert!(!caps.iter().any(|c| c == "STARTTLS"), "{caps:?}");
    assert!(!caps.iter().any(|c| c == "LOGINDISABLED"), "{caps:?}");
    let (_, tagged) = t.cmd("LOGIN alice secret").await;
    assert!(tagged.contains(" OK"), "{tagged}");
    let (untagged, tagged) = t.cmd("SELECT INBOX").await;
    assert!(tagged.contains(" OK"), "{tagged}");
    assert!(untagged.iter().any(|l| l == "* 0 EXISTS"), "{untagged:?}");
    // A second STARTTLS is a protocol error, not a second handshake.
    let (_, tagged) = t.cmd("STARTTLS").await;
    assert!(!tagged.contains(" OK"), "{tagged}");
}

#[tokio::test]
async fn rfc9051_6_2_1_command_pipelined_after_starttls_is_not_run_in_plaintext() {
    // CVE-2011-0411 style injection: whatever follows STARTTLS in the same
    // packet was sent in plaintext and must not be acted on after the
    // handshake (RFC 9051 §6.2.1); the server closes the connection.
    let db = TestDb::new().await;
    add_alice(&db);
    let (_dir, pem) = certificate();
    let addr = start_server(
        &db,
        &[
            ("tls-certificate", pem.to_str().unwrap()),
            ("allow-plaintext-passwords", "never"),
        ],
    )
    .await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let mut r = BufReader::new(&mut tcp);
    let mut greeting = String::new();
    r.read_line(&mut greeting).await.unwrap();
    r.get_mut()
        .write_all(b"a STARTTLS\r\nb CAPABILITY\r\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), r.read_to_end(&mut rest))
        .await
        .expect("the server did not close the connection within 10 s");
    // A reset also counts as closed; what matters is what came before it.
    drop(read);
    let text = String::from_utf8_lossy(&rest);
    assert!(!text.contains("b OK"), "{text}");
    assert!(!text.contains("* CAPABILITY"), "{text}");
}

#[tokio::test]
async fn rfc8314_imaps_is_tls_from_the_first_byte() {
    let db = TestDb::new().await;
    add_alice(&db);
    let (_dir, pem) = certificate();
    let addr = start_imaps_server(&db, &pem).await;
    let tcp = TcpStream::connect(addr).await.unwrap();
    let tls = connector(&pem).connect(localhost(), tcp).await.unwrap();
    let mut t = Lines::new(tls);
    let greeting = t.line().await;
    assert!(greeting.starts_with("* OK"), "{greeting}");
    // Already encrypted: STARTTLS is not offered, plaintext passwords are
    // fine even though allow-plaintext-passwords is never.
    assert!(!greeting.contains("STARTTLS"), "{greeting}");
    assert!(!greeting.contains("LOGINDISABLED"), "{greeting}");
    assert!(greeting.contains(" AUTH=PLAIN"), "{greeting}");
    let (_, tagged) = t.cmd("LOGIN alice secret").await;
    assert!(tagged.contains(" OK"), "{tagged}");
    let (untagged, tagged) = t.cmd("STATUS INBOX (MESSAGES)").await;
    assert!(tagged.contains(" OK"), "{tagged}");
    assert_eq!(untagged, vec!["* STATUS INBOX (MESSAGES 0)"]);
}

#[tokio::test]
async fn rfc8314_imaps_refuses_a_plaintext_client() {
    let db = TestDb::new().await;
    add_alice(&db);
    let (_dir, pem) = certificate();
    let addr = start_imaps_server(&db, &pem).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"a LOGIN alice secret\r\n").await.unwrap();
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tcp.read_to_end(&mut rest),
    )
    .await
    .expect("the server neither closed nor answered within 10 s");
    let text = String::from_utf8_lossy(&rest);
    assert!(!text.contains("a OK"), "{text}");
    assert!(!text.contains("* OK"), "{text}");
}
