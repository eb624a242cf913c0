//! The server binary: config errors, startup, the listener's ready line, and
//! a LOGIN against the stored argon2id hash over a real socket.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use archiveopteryx::auth::{Secret, StoredSecrets};

use crate::harness::{TestDb, assert_refused, run_server, stderr};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running server whose stderr lines arrive on a channel; killed on drop.
struct Server {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Server {
    fn start(config: &std::path::Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_archiveopteryx"))
            .arg("-c")
            .arg(config)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Server { child, lines }
    }

    /// Waits for a stderr line containing `text`; panics with what was seen.
    fn wait_for(&self, text: &str) -> String {
        let mut seen = Vec::new();
        loop {
            match self.lines.recv_timeout(Duration::from_secs(30)) {
                Ok(line) if line.contains(text) => return line,
                Ok(line) => seen.push(line),
                Err(_) => panic!("no line containing {text:?}; saw:\n{}", seen.join("\n")),
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn append_config(db: &TestDb, lines: &str) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&db.config_path)
        .unwrap();
    f.write_all(lines.as_bytes()).unwrap();
}

/// A client connection: a line reader and a writer, with a read timeout so a
/// server that says nothing fails the test instead of hanging it.
fn connect(port: u16) -> (BufReader<TcpStream>, TcpStream) {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let writer = stream.try_clone().unwrap();
    (BufReader::new(stream), writer)
}

fn read_line(stream: &mut BufReader<TcpStream>) -> String {
    let mut line = String::new();
    stream.read_line(&mut line).unwrap();
    line
}

#[tokio::test]
async fn unknown_variable_and_bad_value_stop_the_server_with_file_and_line() {
    let db = TestDb::new().await;
    append_config(&db, "imap-prot = 1143\n");
    let out = run_server(&db.config_path, &[]);
    assert!(!out.status.success());
    let said = stderr(&out);
    let lines = std::fs::read_to_string(&db.config_path)
        .unwrap()
        .lines()
        .count();
    assert!(
        said.contains(&format!(
            "archiveopteryx.conf:{lines}: unknown variable \"imap-prot\""
        )),
        "{said}"
    );

    let text = std::fs::read_to_string(&db.config_path)
        .unwrap()
        .replace("imap-prot = 1143", "imap-port = 99999");
    std::fs::write(&db.config_path, text).unwrap();
    let out = run_server(&db.config_path, &[]);
    assert_refused(&out, "imap-port: expected a port number");
}

#[tokio::test]
async fn a_missing_config_file_is_named() {
    let out = run_server(std::path::Path::new("/nonexistent/aox.conf"), &[]);
    assert_refused(&out, "/nonexistent/aox.conf");
}

#[tokio::test]
async fn server_logs_its_listener_and_checks_passwords_against_the_stored_hash() {
    let db = TestDb::new().await;
    let mut owner = db.owner().await;
    let secrets = StoredSecrets::derive(&Secret::new("s3cret pass")).unwrap();
    archiveopteryx::store::users::add_user(&mut owner, "alice", &secrets, "alice@example.org")
        .await
        .unwrap();

    let port = free_port();
    append_config(
        &db,
        &format!(
            "imap-address = 127.0.0.1\nimap-port = {port}\nuse-lmtp = off\nallow-plaintext-passwords = always\n"
        ),
    );
    let server = Server::start(&db.config_path);
    server.wait_for(&format!("listening for IMAP on 127.0.0.1:{port}"));

    let (mut reader, mut writer) = connect(port);
    assert!(read_line(&mut reader).starts_with("* OK [CAPABILITY IMAP4rev1 "));

    writer.write_all(b"a1 LOGIN alice \"wrong\"\r\n").unwrap();
    assert_eq!(
        read_line(&mut reader),
        "a1 NO [AUTHENTICATIONFAILED] invalid credentials\r\n"
    );
    writer
        .write_all(b"a2 LOGIN nobody \"s3cret pass\"\r\n")
        .unwrap();
    assert_eq!(
        read_line(&mut reader),
        "a2 NO [AUTHENTICATIONFAILED] invalid credentials\r\n"
    );
    writer
        .write_all(b"a3 LOGIN ALICE \"s3cret pass\"\r\n")
        .unwrap();
    assert!(
        read_line(&mut reader).starts_with("a3 OK "),
        "logins are case-insensitive"
    );
    writer.write_all(b"a4 SELECT INBOX\r\n").unwrap();
    let mut line = read_line(&mut reader);
    while line.starts_with("* ") {
        line = read_line(&mut reader);
    }
    assert!(line.starts_with("a4 OK [READ-WRITE]"), "{line}");
    writer.write_all(b"a5 LOGOUT\r\n").unwrap();
    assert_eq!(read_line(&mut reader), "* BYE logging out\r\n");
    assert_eq!(read_line(&mut reader), "a5 OK LOGOUT completed\r\n");
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "");
}

#[tokio::test]
async fn without_plaintext_permission_login_is_refused_and_advertised_as_disabled() {
    let db = TestDb::new().await;
    let port = free_port();
    append_config(
        &db,
        &format!("imap-address = 127.0.0.1\nimap-port = {port}\nuse-lmtp = off\n"),
    );
    let server = Server::start(&db.config_path);
    server.wait_for("listening for IMAP");
    let (mut reader, mut writer) = connect(port);
    assert!(read_line(&mut reader).contains("LOGINDISABLED"));
    writer.write_all(b"a1 LOGIN alice secret\r\n").unwrap();
    assert!(read_line(&mut reader).starts_with("a1 NO [PRIVACYREQUIRED]"));
}

#[tokio::test]
async fn the_server_listens_for_lmtp_beside_imap() {
    let db = TestDb::new().await;
    let (imap, lmtp) = (free_port(), free_port());
    append_config(
        &db,
        &format!("imap-address = 127.0.0.1\nimap-port = {imap}\nlmtp-port = {lmtp}\n"),
    );
    let server = Server::start(&db.config_path);
    // Listeners are logged in the order they are configured: IMAP first.
    server.wait_for("listening for IMAP");
    server.wait_for(&format!("listening for LMTP on 127.0.0.1:{lmtp}"));
    let (mut reader, _writer) = connect(lmtp);
    assert!(read_line(&mut reader).starts_with("220 "));
}

#[tokio::test]
async fn every_failed_login_is_logged_with_address_and_login_never_the_password() {
    let db = TestDb::new().await;
    let mut owner = db.owner().await;
    let secrets = StoredSecrets::derive(&Secret::new("s3cret pass")).unwrap();
    archiveopteryx::store::users::add_user(&mut owner, "alice", &secrets, "alice@example.org")
        .await
        .unwrap();
    let port = free_port();
    append_config(
        &db,
        &format!(
            "imap-address = 127.0.0.1\nimap-port = {port}\nuse-lmtp = off\nallow-plaintext-passwords = always\n"
        ),
    );
    let server = Server::start(&db.config_path);
    server.wait_for(&format!("listening for IMAP on 127.0.0.1:{port}"));
    let (mut reader, mut writer) = connect(port);
    read_line(&mut reader);
    let canary = "Wrong-Canary-93";
    writer
        .write_all(format!("a1 LOGIN alice \"{canary}\"\r\n").as_bytes())
        .unwrap();
    assert!(read_line(&mut reader).starts_with("a1 NO [AUTHENTICATIONFAILED]"));
    // "\0mallory\0<canary>" over SASL PLAIN.
    let plain = "AG1hbGxvcnkAV3JvbmctQ2FuYXJ5LTkz";
    writer
        .write_all(format!("a2 AUTHENTICATE PLAIN {plain}\r\n").as_bytes())
        .unwrap();
    assert!(read_line(&mut reader).starts_with("a2 NO [AUTHENTICATIONFAILED]"));
    writer
        .write_all(b"a3 LOGIN alice \"s3cret pass\"\r\n")
        .unwrap();
    assert!(read_line(&mut reader).starts_with("a3 OK "));
    // Everything logged up to the successful login.
    let mut lines = Vec::new();
    loop {
        let line = server
            .lines
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no \"logged in\" line; saw:\n{}", lines.join("\n")));
        let done = line.contains("logged in");
        lines.push(line);
        if done {
            break;
        }
    }
    let failures: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("authentication failed"))
        .collect();
    assert_eq!(failures.len(), 2, "{lines:#?}");
    for (line, login) in failures.iter().zip(["alice", "mallory"]) {
        assert!(line.contains("127.0.0.1") && line.contains(login), "{line}");
    }
    assert!(
        !lines.iter().any(|l| l.contains(canary)),
        "the password was logged: {lines:#?}"
    );
}
