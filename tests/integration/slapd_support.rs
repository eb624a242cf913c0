//! A private OpenLDAP slapd from Debian's `slapd` package: its own config
//! and mdb database in a temporary directory, filled by slapadd from a small
//! LDIF, serving on a free loopback port until stopped or dropped.
//!
//! The directory (base `dc=example,dc=org`):
//! - `uid=carol` (mail carol@example.org, `{SSHA}` password) in groups `mail` and `staff`;
//! - `uid=dave` (mail dave@example.org, cleartext password) in group `mail`;
//! - `uid=erin` (mail erin@example.org, `{SSHA}` password) in group `staff` only;
//! - `cn=reader`, the service account. Only bound users may read entries
//!   (anonymous may only bind), so a search works only through it.
//!
//! It serves plain LDAP (with StartTLS) and LDAPS, with a self-signed
//! certificate for `localhost` made by rcgen.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};

/// The directory's suffix.
pub const BASE: &str = "dc=example,dc=org";
/// The group most tests require.
pub const MAIL_GROUP: &str = "cn=mail,ou=groups,dc=example,dc=org";
/// The service account and its password.
pub const READER: (&str, &str) = ("cn=reader,dc=example,dc=org", "reader-pw");
/// Logins and passwords.
pub const CAROL: (&str, &str) = ("carol", "carol-pw");
pub const DAVE: (&str, &str) = ("dave", "dave-pw");
pub const ERIN: (&str, &str) = ("erin", "erin-pw");

/// The `{SSHA}` values were made with `slappasswd -h '{SSHA}' -s <password>`.
const LDIF: &str = "\
dn: dc=example,dc=org
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: cn=reader,dc=example,dc=org
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: reader
userPassword: {SSHA}MmfuhtYq/2H4E+KdwrnAW1y9Meg0clXX

dn: ou=people,dc=example,dc=org
objectClass: organizationalUnit
ou: people

dn: uid=carol,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: carol
cn: Carol Example
sn: Example
mail: carol@example.org
userPassword: {SSHA}XRRuO9HqdO+QKhDbjhZLts2rfrQBfKPR

dn: uid=dave,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: dave
cn: Dave Example
sn: Example
mail: dave@example.org
userPassword: dave-pw

dn: uid=erin,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
uid: erin
cn: Erin Example
sn: Example
mail: erin@example.org
userPassword: {SSHA}2oxTNOsx+G9GWLHaLvvjpIYOYFTEVUVj

dn: ou=groups,dc=example,dc=org
objectClass: organizationalUnit
ou: groups

dn: cn=mail,ou=groups,dc=example,dc=org
objectClass: groupOfNames
cn: mail
member: uid=carol,ou=people,dc=example,dc=org
member: uid=dave,ou=people,dc=example,dc=org

dn: cn=staff,ou=groups,dc=example,dc=org
objectClass: groupOfNames
cn: staff
member: uid=carol,ou=people,dc=example,dc=org
member: uid=erin,ou=people,dc=example,dc=org
";

fn config(dir: &Path) -> String {
    let dir = dir.display();
    format!(
        "include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
pidfile {dir}/slapd.pid
modulepath /usr/lib/ldap
moduleload back_mdb
database mdb
maxsize 10485760
suffix \"{BASE}\"
directory {dir}/db
TLSCertificateFile {dir}/cert.pem
TLSCertificateKeyFile {dir}/key.pem
access to attrs=userPassword by anonymous auth by * none
access to * by users read by anonymous auth
"
    )
}

/// The binaries, or a failure saying how to get them: never a silent skip.
fn binary(name: &str) -> PathBuf {
    let path = Path::new("/usr/sbin").join(name);
    assert!(
        path.exists(),
        "{} is missing: the LDAP tests need Debian's slapd (apt-get install slapd ldap-utils; .ci/run does it)",
        path.display()
    );
    path
}

/// A running slapd.
pub struct Slapd {
    child: Option<Child>,
    /// `ldap://127.0.0.1:<port>`.
    pub url: String,
    /// `ldap://localhost:<port>`, the same listener by the certificate's name.
    pub starttls_url: String,
    /// `ldaps://localhost:<port>`.
    pub ldaps_url: String,
    /// The certificate slapd presents, to trust as a CA.
    pub ca_file: PathBuf,
    log: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl Slapd {
    /// Builds the database and starts slapd; returns once it listens.
    pub fn start() -> Slapd {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("db")).unwrap();
        let conf = dir.path().join("slapd.conf");
        std::fs::write(&conf, config(dir.path())).unwrap();
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let ca_file = dir.path().join("cert.pem");
        std::fs::write(&ca_file, certified.cert.pem()).unwrap();
        std::fs::write(
            dir.path().join("key.pem"),
            certified.signing_key.serialize_pem(),
        )
        .unwrap();
        let ldif = dir.path().join("data.ldif");
        std::fs::write(&ldif, LDIF).unwrap();
        let out = Command::new(binary("slapadd"))
            .arg("-f")
            .arg(&conf)
            .arg("-l")
            .arg(&ldif)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "slapadd failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The port is free when chosen, but another process may take it
        // before slapd binds it; slapd then exits, and a new port is tried.
        let mut failures = Vec::new();
        for _ in 0..5 {
            match spawn(&conf) {
                Ok(((child, log), [port, tls_port])) => {
                    return Slapd {
                        child: Some(child),
                        url: format!("ldap://127.0.0.1:{port}"),
                        starttls_url: format!("ldap://localhost:{port}"),
                        ldaps_url: format!("ldaps://localhost:{tls_port}"),
                        ca_file,
                        log,
                        _dir: dir,
                    };
                }
                Err(log) => failures.push(log),
            }
        }
        panic!("slapd did not start:\n{}", failures.join("\n---\n"));
    }

    /// The config settings that point the server at this directory, with
    /// the service account and `ldap-required-group` = the mail group.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("ldap-url", self.url.clone()),
            ("ldap-search-base", BASE.to_owned()),
            ("ldap-bind-dn", READER.0.to_owned()),
            ("ldap-bind-password", READER.1.to_owned()),
            ("ldap-required-group", MAIL_GROUP.to_owned()),
            ("ldap-timeout", "5".to_owned()),
        ]
    }

    /// Kills slapd and waits for it, so its port refuses connections.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// What slapd logged so far (connections and operations: `-d stats`).
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}

type Log = Arc<Mutex<Vec<String>>>;

/// A port that is free now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts slapd on fresh ports (LDAP, LDAPS); Err with its log when it
/// exits instead. Readiness is slapd's own word: its daemon thread logs
/// "daemon: added <fd>r listener=<address>" (at debug level "conns") after
/// it has called listen() on that socket. ("slapd starting" comes earlier,
/// before listen().)
fn spawn(conf: &Path) -> Result<((Child, Log), [u16; 2]), String> {
    let ports = [free_port(), free_port()];
    let mut child = Command::new(binary("slapd"))
        .arg("-h")
        .arg(format!(
            "ldap://127.0.0.1:{}/ ldaps://127.0.0.1:{}/",
            ports[0], ports[1]
        ))
        .arg("-f")
        .arg(conf)
        // -d keeps slapd in the foreground; "stats" logs every operation,
        // "conns" the listeners becoming ready.
        .args(["-d", "stats", "-d", "conns"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let log: Log = Arc::default();
    let (ready_tx, ready_rx) = mpsc::channel();
    let thread_log = log.clone();
    // Drains stderr for slapd's whole life, so its writes never block.
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let ready = line.contains("daemon: added")
                && line.contains(" listener=")
                && !line.contains("listener=(nil)");
            thread_log.lock().unwrap().push(line);
            if ready {
                let _ = ready_tx.send(());
            }
        }
    });
    let mut failure = None;
    if ready_rx.recv().is_ok() && ready_rx.recv().is_ok() {
        match ports
            .iter()
            .map(|p| std::net::TcpStream::connect(("127.0.0.1", *p)))
            .collect::<Result<Vec<_>, _>>()
        {
            Ok(_) => return Ok(((child, log), ports)),
            Err(e) => failure = Some(format!("slapd said it listens, but: {e}")),
        }
    }
    // stderr closed before both listeners were ready: slapd has exited (a
    // port was taken meanwhile), or it is not listening as it said.
    let _ = child.kill();
    let _ = child.wait();
    let mut text = log.lock().unwrap().join("\n");
    text.extend(failure);
    Err(text)
}
