//! Two server processes on one database (DESIGN.md §4.9: stateless front
//! ends that coordinate only through PostgreSQL's NOTIFY): a client idling
//! on one process hears of a message appended through the other.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::harness::TestDb;
use crate::imap_support::{Client, add_alice, message};

/// A running `archiveopteryx` process, killed and reaped when dropped, so a
/// failing assertion does not leave it behind.
struct ServerProcess {
    child: Child,
    addr: SocketAddr,
    stderr_path: std::path::PathBuf,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServerProcess {
    /// Starts the real binary with the test database's config plus its own
    /// loopback IMAP port, and returns once it accepts connections.
    async fn start(db: &TestDb, dir: &Path, name: &str) -> ServerProcess {
        // A port the kernel just handed out and we released; the server
        // binds it a moment later.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut text = std::fs::read_to_string(&db.config_path).unwrap();
        text.push_str(&format!(
            "\nimap-port = {port}\nimap-address = 127.0.0.1\n\
             allow-plaintext-passwords = always\nuse-lmtp = off\n"
        ));
        let config = dir.join(format!("{name}.conf"));
        std::fs::write(&config, text).unwrap();
        let stderr_path = dir.join(format!("{name}.stderr"));
        let child = Command::new(env!("CARGO_BIN_EXE_archiveopteryx"))
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap();
        let mut server = ServerProcess {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            stderr_path,
        };
        server.wait_until_listening().await;
        server
    }

    /// Polls with a bounded number of connection attempts (startup checks
    /// the schema first, so it takes a moment).
    async fn wait_until_listening(&mut self) {
        for _ in 0..300 {
            if tokio::net::TcpStream::connect(self.addr).await.is_ok() {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "the server exited with {status}: {}",
                    std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "the server did not listen on {} within 30 s: {}",
            self.addr,
            std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
        );
    }
}

#[tokio::test]
async fn rfc2177_idle_on_one_process_sees_an_append_through_another() {
    let db = TestDb::new().await;
    add_alice(&db);
    let dir = tempfile::tempdir().unwrap();
    let a = ServerProcess::start(&db, dir.path(), "a").await;
    let b = ServerProcess::start(&db, dir.path(), "b").await;
    assert_ne!(a.addr, b.addr);

    let mut watcher = Client::alice(a.addr).await;
    let r = watcher.cmd("SELECT INBOX").await;
    assert_eq!(r.lines("0 EXISTS").len(), 1, "{r:?}");
    let tag = watcher.tag();
    watcher.send(format!("{tag} IDLE\r\n").as_bytes()).await;
    let cont = watcher.read_response_line().await;
    assert!(cont.starts_with("+ "), "{cont}");

    let mut writer = Client::alice(b.addr).await;
    let r = writer.append("INBOX", "", &message(1, "across")).await;
    assert!(r.ok(), "{r:?}");

    let seen = tokio::time::timeout(Duration::from_secs(10), watcher.read_response_line())
        .await
        .expect("no EXISTS on process A within 10 s of the APPEND on process B");
    assert_eq!(seen, "* 1 EXISTS");
    watcher.send(b"DONE\r\n").await;
    assert!(watcher.until(&tag).await.ok());
    // And process A serves the message process B stored.
    let r = watcher
        .cmd("FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        .await;
    assert_eq!(r.containing("Subject: across").len(), 1, "{r:?}");
}
