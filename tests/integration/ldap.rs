//! Logging in against a real OpenLDAP slapd (slapd_support.rs): search as
//! the service account, bind as the found DN, check the required group,
//! provision the account on first login; and what an outage gives. IMAP
//! replies use RFC 5530's response codes; POP3's RFC 3206's.

use std::net::SocketAddr;

use base64::Engine as _;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;

use crate::harness::TestDb;
use crate::imap_support::{Client, add_alice, start_server};
use crate::slapd_support::{CAROL, DAVE, ERIN, MAIL_GROUP, READER, Slapd};

const CAROL_DN: &str = "uid=carol,ou=people,dc=example,dc=org";

/// `slapd`'s settings with `extra` on top (a later setting wins).
fn settings(slapd: &Slapd, extra: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let mut all = slapd.settings();
    all.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    all
}

async fn imap(db: &TestDb, settings: &[(&'static str, String)]) -> SocketAddr {
    let refs: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    start_server(db, &refs).await
}

/// LOGIN with quoted strings, on a new connection; the tagged line.
async fn login(addr: SocketAddr, user: &str, password: &str) -> String {
    let mut c = Client::connect(addr).await;
    c.cmd(&format!("LOGIN \"{user}\" \"{password}\""))
        .await
        .tagged
}

/// AUTHENTICATE PLAIN with SASL-IR (RFC 4959) on a new connection.
async fn plain(addr: SocketAddr, user: &str, password: &str) -> String {
    let mut c = Client::connect(addr).await;
    let ir = base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"));
    c.cmd(&format!("AUTHENTICATE PLAIN {ir}")).await.tagged
}

fn refused(tagged: &str) -> bool {
    tagged.contains(" NO [AUTHENTICATIONFAILED] ")
}

fn unavailable(tagged: &str) -> bool {
    tagged.contains(" NO [UNAVAILABLE] ")
}

/// Directory-linked accounts: (login, ldap_dn, has a password hash, has a SCRAM verifier).
async fn directory_accounts(db: &TestDb) -> Vec<(String, String, bool, bool)> {
    db.owner()
        .await
        .query(
            "SELECT login::text, ldap_dn, password_hash IS NOT NULL, scram_verifier IS NOT NULL \
             FROM users WHERE ldap_dn IS NOT NULL ORDER BY login",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect()
}

#[tokio::test]
async fn ldap_search_then_bind_logs_in_and_provisions_the_user_and_inbox() {
    let slapd = Slapd::start();
    let db = TestDb::new().await;
    let addr = imap(&db, &settings(&slapd, &[("ldap-auto-provision", "on")])).await;
    assert!(directory_accounts(&db).await.is_empty());

    let mut c = Client::connect(addr).await;
    let r = c.cmd(&format!("LOGIN {} {}", CAROL.0, CAROL.1)).await;
    assert!(r.ok(), "{r:?}\nslapd's log:\n{}", slapd.log());
    let r = c.cmd("SELECT INBOX").await;
    assert!(r.ok(), "{r:?}");
    assert_eq!(r.lines("0 EXISTS").len(), 1, "{r:?}");
    // The account has no local secret: only the directory can let it in.
    assert_eq!(
        directory_accounts(&db).await,
        [("carol".to_owned(), CAROL_DN.to_owned(), false, false)]
    );
    // The directory's mail address delivers to the new INBOX.
    let owner = db.owner().await;
    let alias = owner
        .query_one(
            "SELECT m.name FROM aliases a JOIN users u ON u.id = a.user_id \
             JOIN mailboxes m ON (m.user_id, m.id) = (a.user_id, a.mailbox_id) \
             WHERE a.address = 'carol@example.org' AND u.login = 'carol' AND a.is_primary",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(alias.get::<_, String>(0), "INBOX");

    // The default filter also finds her by address, and that is the same
    // account (found by its DN), not a second one.
    let tagged = login(addr, "carol@example.org", CAROL.1).await;
    assert!(tagged.contains(" OK "), "{tagged}");
    // SASL PLAIN goes through the same check.
    let tagged = plain(addr, CAROL.0, CAROL.1).await;
    assert!(tagged.contains(" OK "), "{tagged}");
    assert_eq!(directory_accounts(&db).await.len(), 1);

    // Dave's userPassword is cleartext in the directory, carol's {SSHA}:
    // the server binds either way and lets slapd compare.
    let tagged = login(addr, DAVE.0, DAVE.1).await;
    assert!(tagged.contains(" OK "), "{tagged}");
    assert_eq!(directory_accounts(&db).await.len(), 2);

    // A disabled account stays out, whatever the directory says.
    owner
        .execute(
            "UPDATE users SET disabled = true WHERE login = 'carol'",
            &[],
        )
        .await
        .unwrap();
    for user in [CAROL.0, "carol@example.org"] {
        assert!(refused(&login(addr, user, CAROL.1).await), "{user}");
    }
    assert_eq!(directory_accounts(&db).await.len(), 2);
}

#[tokio::test]
async fn ldap_wrong_password_unknown_and_wildcard_logins_are_refused() {
    let slapd = Slapd::start();
    let db = TestDb::new().await;
    let addr = imap(&db, &settings(&slapd, &[("ldap-auto-provision", "on")])).await;
    for (user, password) in [
        (CAROL.0, "wrong"),
        // An empty password would be an unauthenticated bind (RFC 4513
        // §5.1.2), which slapd may answer with success.
        (CAROL.0, ""),
        ("nobody", "x"),
        // Unescaped, (uid=c*) would find carol alone and her password
        // would let this login in (RFC 4515 §3).
        ("c*", CAROL.1),
        ("*", CAROL.1),
        ("carol)(uid=*", CAROL.1),
    ] {
        let tagged = login(addr, user, password).await;
        assert!(refused(&tagged), "{user}/{password}: {tagged}");
    }
    assert!(refused(&plain(addr, CAROL.0, "wrong").await));
    // A login that finds several entries names no one, even with the
    // password of one of them (all three users have sn: Example).
    let by_surname = settings(
        &slapd,
        &[
            ("ldap-auto-provision", "on"),
            (
                "ldap-search-filter",
                "(&(objectClass=inetOrgPerson)(sn=%u))",
            ),
        ],
    );
    let addr = imap(&db, &by_surname).await;
    for (_, password) in [CAROL, DAVE] {
        assert!(refused(&login(addr, "Example", password).await));
    }
    assert!(directory_accounts(&db).await.is_empty());
}

#[tokio::test]
async fn ldap_user_outside_the_required_group_is_refused() {
    let slapd = Slapd::start();
    let db = TestDb::new().await;
    let grouped = settings(&slapd, &[("ldap-auto-provision", "on")]);
    assert!(grouped.contains(&("ldap-required-group", MAIL_GROUP.to_owned())));
    let addr = imap(&db, &grouped).await;
    // Erin's password is right, but she is in staff, not mail.
    assert!(refused(&login(addr, ERIN.0, ERIN.1).await));
    assert!(directory_accounts(&db).await.is_empty());
    // The group was the reason: without it she gets in.
    let open = settings(
        &slapd,
        &[("ldap-auto-provision", "on"), ("ldap-required-group", "")],
    );
    let addr = imap(&db, &open).await;
    let tagged = login(addr, ERIN.0, ERIN.1).await;
    assert!(tagged.contains(" OK "), "{tagged}");
}

#[tokio::test]
async fn ldap_without_auto_provisioning_admits_only_users_with_an_account() {
    let slapd = Slapd::start();
    let db = TestDb::new().await;
    let addr = imap(&db, &settings(&slapd, &[])).await;
    assert!(refused(&login(addr, DAVE.0, DAVE.1).await));
    let owner = db.owner().await;
    assert_eq!(
        owner
            .query_one("SELECT count(*) FROM users WHERE login = 'dave'", &[])
            .await
            .unwrap()
            .get::<_, i64>(0),
        0
    );
    // An administrator makes dave's account, without a local password.
    owner
        .batch_execute(
            "WITH u AS (INSERT INTO users (login) VALUES ('dave') RETURNING id) \
             INSERT INTO mailboxes (user_id, name) SELECT id, 'INBOX' FROM u",
        )
        .await
        .unwrap();
    let mut c = Client::connect(addr).await;
    let r = c.cmd(&format!("LOGIN {} {}", DAVE.0, DAVE.1)).await;
    assert!(r.ok(), "{r:?}");
    assert!(c.cmd("SELECT INBOX").await.ok());
    assert!(refused(&login(addr, DAVE.0, "wrong").await));
}

#[tokio::test]
async fn ldap_directory_refusing_the_search_or_the_service_account_is_unavailable() {
    let slapd = Slapd::start();
    let db = TestDb::new().await;
    let on = [("ldap-auto-provision", "on")];
    // Anonymous may only bind in this directory, so without the service
    // account slapd refuses the search (insufficientAccessRights): the
    // server cannot check anyone, which is not the user's fault.
    let mut anonymous = settings(&slapd, &on);
    anonymous.retain(|(k, _)| !k.starts_with("ldap-bind-"));
    let addr = imap(&db, &anonymous).await;
    let tagged = login(addr, CAROL.0, CAROL.1).await;
    assert!(unavailable(&tagged), "{tagged}");
    // Nor is a wrong service password.
    let wrong = settings(&slapd, &[on[0], ("ldap-bind-password", "not-reader-pw")]);
    assert_ne!(READER.1, "not-reader-pw");
    let addr = imap(&db, &wrong).await;
    assert!(unavailable(&login(addr, CAROL.0, CAROL.1).await));
    assert!(directory_accounts(&db).await.is_empty());
    // The same directory with the right service account lets carol in.
    let addr = imap(&db, &settings(&slapd, &on)).await;
    let tagged = login(addr, CAROL.0, CAROL.1).await;
    assert!(tagged.contains(" OK "), "{tagged}");
}

#[tokio::test]
async fn ldap_outage_gives_unavailable_and_database_users_still_log_in() {
    let mut slapd = Slapd::start();
    let db = TestDb::new().await;
    add_alice(&db);
    let addr = imap(&db, &settings(&slapd, &[("ldap-auto-provision", "on")])).await;
    let mut carol = Client::connect(addr).await;
    assert!(carol.cmd("LOGIN carol carol-pw").await.ok());

    slapd.stop();
    let tagged = login(addr, CAROL.0, CAROL.1).await;
    assert!(unavailable(&tagged), "{tagged}");
    assert!(unavailable(&plain(addr, CAROL.0, CAROL.1).await));
    // Never a fallback to accept: a wrong password is not "refused" either,
    // since nobody could check it.
    assert!(unavailable(&login(addr, CAROL.0, "wrong").await));
    // Users with a local password never depend on the directory.
    let mut alice = Client::connect(addr).await;
    assert!(alice.cmd("LOGIN alice secret").await.ok());
    assert!(alice.cmd("SELECT INBOX").await.ok());
    assert!(refused(&login(addr, "alice", "wrong").await));
    // A session that logged in before the outage goes on.
    assert!(carol.cmd("SELECT INBOX").await.ok());
}

#[tokio::test]
async fn ldap_over_starttls_and_ldaps_trusts_only_the_configured_ca() {
    let slapd = Slapd::start();
    let db = TestDb::new().await;
    let ca = slapd.ca_file.display().to_string();
    for (url, starttls) in [(&slapd.starttls_url, "on"), (&slapd.ldaps_url, "off")] {
        let with_ca = settings(
            &slapd,
            &[
                ("ldap-url", url),
                ("ldap-starttls", starttls),
                ("ldap-ca-certificate", &ca),
                ("ldap-auto-provision", "on"),
            ],
        );
        let addr = imap(&db, &with_ca).await;
        let tagged = login(addr, CAROL.0, CAROL.1).await;
        assert!(tagged.contains(" OK "), "{url}: {tagged}");
        assert!(refused(&login(addr, CAROL.0, "wrong").await));
        // The system's CA bundle does not vouch for slapd's self-signed
        // certificate: the directory is unusable, never skipped.
        let without = settings(
            &slapd,
            &[
                ("ldap-url", url),
                ("ldap-starttls", starttls),
                ("ldap-auto-provision", "on"),
            ],
        );
        let addr = imap(&db, &without).await;
        let tagged = login(addr, CAROL.0, CAROL.1).await;
        assert!(unavailable(&tagged), "{url}: {tagged}");
    }
}

#[tokio::test]
async fn ldap_that_never_answers_times_out_as_unavailable_without_holding_the_database() {
    let db = TestDb::new().await;
    add_alice(&db);
    // A listener that accepts connections, says nothing, and reports each.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ldap://{}", silent.local_addr().unwrap());
    let (accepted_tx, mut accepted) = tokio::sync::mpsc::unbounded_channel();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((conn, _)) = silent.accept().await {
            open.push(conn);
            let _ = accepted_tx.send(());
        }
    });
    let addr = imap(
        &db,
        &[
            ("ldap-url", url),
            ("ldap-search-base", "dc=example,dc=org".into()),
            ("ldap-timeout", "3".into()),
            // One database connection: a login waiting on the directory
            // must not hold it.
            ("db-max-handles", "1".into()),
        ],
    )
    .await;
    let started = std::time::Instant::now();
    let carol = tokio::spawn(login(addr, CAROL.0, CAROL.1));
    accepted.recv().await.unwrap();
    // Carol's check is now waiting on the directory; alice's needs only
    // the database.
    let mut alice = Client::connect(addr).await;
    assert!(alice.cmd("LOGIN alice secret").await.ok());
    assert!(alice.cmd("SELECT INBOX").await.ok());
    assert!(!carol.is_finished(), "carol's login ended before alice's");
    let tagged = carol.await.unwrap();
    assert!(unavailable(&tagged), "{tagged}");
    let took = started.elapsed();
    assert!(took >= std::time::Duration::from_secs(3), "{took:?}");
    assert!(took < std::time::Duration::from_secs(15), "{took:?}");
    held.abort();
}

/// One POP3 exchange with poplib: USER/PASS and STAT.
const POPLIB_LOGIN: &str = r#"
import json, poplib, sys
p = poplib.POP3(sys.argv[1], int(sys.argv[2]), timeout=30)
out = {"user": p.user(sys.argv[3]).decode(), "pass": p.pass_(sys.argv[4]).decode(), "stat": list(p.stat())}
p.quit()
print(json.dumps(out))
"#;

#[tokio::test]
async fn ldap_pop3_user_pass_logs_in_and_an_outage_is_sys_temp() {
    let mut slapd = Slapd::start();
    let db = TestDb::new().await;
    let mut all = settings(&slapd, &[("ldap-auto-provision", "on")]);
    all.push(("allow-plaintext-passwords", "always".into()));
    let refs: Vec<(&str, &str)> = all.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let addr = crate::pop3::start_pop3(&db, &refs, false).await;

    let out = tokio::process::Command::new("python3")
        .arg("-c")
        .arg(POPLIB_LOGIN)
        .arg(addr.ip().to_string())
        .arg(addr.port().to_string())
        .arg(CAROL.0)
        .arg(CAROL.1)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "poplib: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(out["pass"].as_str().unwrap().starts_with("+OK"), "{out}");
    assert_eq!(out["stat"], serde_json::json!([0, 0]));
    assert_eq!(directory_accounts(&db).await.len(), 1);

    slapd.stop();
    let (r, mut w) = TcpStream::connect(addr).await.unwrap().into_split();
    let mut r = BufReader::new(r);
    let mut line = String::new();
    r.read_line(&mut line).await.unwrap();
    assert!(line.starts_with("+OK"), "{line}");
    for (command, expected) in [
        (format!("USER {}\r\n", CAROL.0), "+OK"),
        (format!("PASS {}\r\n", CAROL.1), "-ERR [SYS/TEMP] "),
    ] {
        w.write_all(command.as_bytes()).await.unwrap();
        let mut line = String::new();
        r.read_line(&mut line).await.unwrap();
        assert!(line.starts_with(expected), "{line}");
    }
}

#[tokio::test]
async fn ldap_settings_that_cannot_work_are_refused_before_any_login() {
    let db = TestDb::new().await;
    let dir = crate::harness::reachable_temp_dir("aox-ldap-config-");
    let dir = dir.path();
    let path = dir.join("archiveopteryx.conf");
    let base = std::fs::read_to_string(&db.config_path).unwrap();
    // Parses, but names no search base.
    std::fs::write(&path, format!("{base}ldap-url = ldap://127.0.0.1:1\n")).unwrap();
    let out = crate::harness::run_aox(&path, &["check", "config"], None);
    assert!(!out.status.success());
    let err = crate::harness::stderr(&out);
    assert!(err.contains("ldap-search-base"), "{err}");
    // The server will not start on it either.
    let config = archiveopteryx::config::load(&path).unwrap();
    let runtime =
        archiveopteryx::store::Db::from_config(&config, archiveopteryx::store::DbRole::Runtime);
    let err = archiveopteryx::server::shared_state(config, &runtime)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("ldap-search-base"), "{err}");
    // A CA file that is not there is found at the check, not at a login.
    std::fs::write(
        &path,
        format!(
            "{base}ldap-url = ldaps://localhost\nldap-search-base = dc=example,dc=org\n\
             ldap-ca-certificate = {}\n",
            dir.join("missing.pem").display()
        ),
    )
    .unwrap();
    let out = crate::harness::run_aox(&path, &["check", "config"], None);
    assert!(!out.status.success());
    assert!(crate::harness::stderr(&out).contains("missing.pem"));
}
