//! The IMAP server over a socket: each command with good and bad input,
//! answers checked against the RFC text they cite.

use crate::harness::TestDb;
use crate::imap_support::{Client, add_alice, message, start_server};

async fn server() -> (TestDb, std::net::SocketAddr) {
    let db = TestDb::new().await;
    add_alice(&db);
    let addr = start_server(&db, &[]).await;
    (db, addr)
}

#[tokio::test]
async fn rfc9051_7_1_greeting_and_capability_advertise_what_works() {
    let (_db, addr) = server().await;
    let mut c = Client::connect(addr).await;
    assert!(
        c.greeting.starts_with("* OK [CAPABILITY IMAP4rev1 "),
        "{}",
        c.greeting
    );
    let r = c.cmd("CAPABILITY").await;
    assert!(r.ok());
    let caps = r.lines("CAPABILITY")[0].to_owned();
    for cap in [
        "IMAP4rev1",
        "LITERAL+",
        "SASL-IR",
        "ENABLE",
        "IDLE",
        "ID",
        "NAMESPACE",
        "UNSELECT",
        "UIDPLUS",
        "MOVE",
        "CHILDREN",
        "LIST-EXTENDED",
        "LIST-STATUS",
        "SPECIAL-USE",
        "CONDSTORE",
        "QRESYNC",
        "ESEARCH",
        "STATUS=SIZE",
        "UTF8=ACCEPT",
        "OBJECTID",
        "AUTH=PLAIN",
    ] {
        assert!(
            caps.split(' ').any(|c| c == cap),
            "{cap} missing from {caps}"
        );
    }
    assert!(caps.contains("APPENDLIMIT="));
    // No certificate configured: STARTTLS is not offered.
    assert!(!caps.contains("STARTTLS"));
}

#[tokio::test]
async fn rfc9051_6_2_3_login_right_and_wrong_password() {
    let (_db, addr) = server().await;
    let mut c = Client::connect(addr).await;
    let r = c.cmd("LOGIN alice wrong").await;
    assert_eq!(r.status(), "NO");
    assert!(r.tagged.contains("[AUTHENTICATIONFAILED]"), "{}", r.tagged);
    let r = c.cmd("LOGIN alice secret").await;
    assert!(r.ok(), "{r:?}");
    let r = c.cmd("LOGIN alice secret").await;
    assert_eq!(r.status(), "BAD");
}

#[tokio::test]
async fn rfc4616_authenticate_plain_with_and_without_initial_response() {
    let (_db, addr) = server().await;
    // "\0alice\0secret"
    let b64 = "AGFsaWNlAHNlY3JldA==";
    let mut c = Client::connect(addr).await;
    let r = c.cmd(&format!("AUTHENTICATE PLAIN {b64}")).await;
    assert!(r.ok(), "{r:?}");
    let mut c = Client::connect(addr).await;
    let tag = c.tag();
    c.send(format!("{tag} AUTHENTICATE PLAIN\r\n").as_bytes())
        .await;
    let cont = c.read_response_line().await;
    assert!(cont.starts_with('+'), "{cont}");
    c.send(format!("{b64}\r\n").as_bytes()).await;
    assert!(c.until(&tag).await.ok());
    let mut c = Client::connect(addr).await;
    let r = c.cmd("AUTHENTICATE PLAIN AGFsaWNlAHdyb25n").await;
    assert_eq!(r.status(), "NO");
}

#[tokio::test]
async fn rfc9051_6_2_3_plaintext_refused_without_tls_unless_allowed() {
    let db = TestDb::new().await;
    add_alice(&db);
    let addr = start_server(&db, &[("allow-plaintext-passwords", "never")]).await;
    let mut c = Client::connect(addr).await;
    assert!(c.greeting.contains("LOGINDISABLED"), "{}", c.greeting);
    let r = c.cmd("LOGIN alice secret").await;
    assert_eq!(r.status(), "NO");
    assert!(r.tagged.contains("[PRIVACYREQUIRED]"));
}

#[tokio::test]
async fn commands_need_the_right_state() {
    let (_db, addr) = server().await;
    let mut c = Client::connect(addr).await;
    assert_eq!(c.cmd("SELECT INBOX").await.status(), "BAD");
    let mut c = Client::alice(addr).await;
    assert_eq!(c.cmd("FETCH 1 FLAGS").await.status(), "BAD");
    assert_eq!(c.cmd("NOSUCHCOMMAND").await.status(), "BAD");
    // Still usable after all of that.
    assert!(c.cmd("NOOP").await.ok());
}

#[tokio::test]
async fn rfc9051_6_3_2_select_reports_counts_and_uid_state() {
    let (_db, addr) = server().await;
    let mut c = Client::alice(addr).await;
    for i in 1..=3 {
        assert!(
            c.append(
                "INBOX",
                if i == 1 { "\\Seen" } else { "" },
                &message(i, "hi")
            )
            .await
            .ok()
        );
    }
    let r = c.cmd("SELECT INBOX").await;
    assert!(r.ok(), "{r:?}");
    assert!(r.tagged.contains("[READ-WRITE]"));
    assert_eq!(r.lines("3 EXISTS").len(), 1, "{r:?}");
    assert_eq!(r.containing("[UIDNEXT 4]").len(), 1, "{r:?}");
    assert_eq!(r.containing("[UNSEEN 2]").len(), 1, "{r:?}");
    assert_eq!(r.containing("[UIDVALIDITY ").len(), 1);
    assert_eq!(r.containing("[HIGHESTMODSEQ ").len(), 1);
    assert_eq!(r.containing("[PERMANENTFLAGS (").len(), 1);
    let r = c.cmd("EXAMINE INBOX").await;
    assert!(r.tagged.contains("[READ-ONLY]"), "{r:?}");
    let r = c.cmd("SELECT nosuch").await;
    assert_eq!(r.status(), "NO");
    assert!(r.tagged.contains("[NONEXISTENT]"));
}

#[tokio::test]
async fn rfc4315_append_returns_appenduid_and_fetch_serves_the_bytes() {
    let (_db, addr) = server().await;
    let mut c = Client::alice(addr).await;
    let m = message(1, "hello");
    let r = c.append("INBOX", "\\Flagged $Work", &m).await;
    assert!(r.ok(), "{r:?}");
    assert!(r.tagged.contains("[APPENDUID "), "{}", r.tagged);
    assert!(r.tagged.contains(" 1]"), "{}", r.tagged);
    assert!(c.cmd("SELECT INBOX").await.ok());
    let r = c.cmd("FETCH 1 (FLAGS RFC822.SIZE BODY.PEEK[] UID)").await;
    assert!(r.ok(), "{r:?}");
    let line = &r.lines("1 FETCH")[0];
    assert!(line.contains("\\Flagged"), "{line}");
    assert!(line.contains("$Work"), "{line}");
    assert!(!line.contains("\\Seen"), "{line}");
    assert!(line.contains(&format!("RFC822.SIZE {}", m.len())), "{line}");
    assert!(
        line.contains(&String::from_utf8_lossy(&m).into_owned()),
        "{line}"
    );
    // BODY[] without PEEK sets \Seen (RFC 9051 §6.4.5).
    let r = c.cmd("FETCH 1 BODY[TEXT]").await;
    assert!(r.lines("1 FETCH")[0].contains("\\Seen"), "{r:?}");
    let r = c.cmd("FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])").await;
    assert!(
        r.lines("1 FETCH")[0].contains("Subject: hello\r\n\r\n"),
        "{r:?}"
    );
    let r = c.cmd("FETCH 1 (ENVELOPE BODYSTRUCTURE INTERNALDATE)").await;
    let line = r.lines("1 FETCH")[0];
    assert!(
        line.contains("ENVELOPE (\"Mon, 2 Jan 2006 15:04:05 +0000\" \"hello\""),
        "{line}"
    );
    assert!(
        line.to_ascii_lowercase()
            .contains("bodystructure (\"text\" \"plain\""),
        "{line}"
    );
    assert!(line.contains("INTERNALDATE \""), "{line}");
    let r = c.cmd("FETCH 1 BODY.PEEK[]<0.4>").await;
    assert!(
        r.lines("1 FETCH")[0].contains("BODY[]<0> {4}\r\nFrom"),
        "{r:?}"
    );
    assert_eq!(c.cmd("FETCH 2 FLAGS").await.status(), "BAD");
    assert!(c.cmd("UID FETCH 2 FLAGS").await.ok());
}

#[tokio::test]
async fn rfc9051_6_4_6_store_changes_flags_and_reports_them() {
    let (_db, addr) = server().await;
    let mut c = Client::alice(addr).await;
    for i in 1..=5 {
        assert!(c.append("INBOX", "", &message(i, "s")).await.ok());
    }
    assert!(c.cmd("SELECT INBOX").await.ok());
    let r = c.cmd("STORE 1:* +FLAGS (\\Seen)").await;
    assert!(r.ok(), "{r:?}");
    assert_eq!(
        r.lines("").iter().filter(|l| l.contains("FETCH")).count(),
        5,
        "{r:?}"
    );
    let r = c.cmd("STORE 2 -FLAGS.SILENT (\\Seen)").await;
    assert!(r.ok());
    assert!(r.lines("2 FETCH").is_empty(), "silent: {r:?}");
    let r = c.cmd("UID STORE 3 FLAGS ($Label1 \\Flagged)").await;
    let line = r.lines("3 FETCH")[0];
    assert!(
        line.contains("UID 3") && line.contains("$Label1") && line.contains("\\Flagged"),
        "{line}"
    );
    assert!(!line.contains("\\Seen"), "{line}");
    let r = c.cmd("STATUS INBOX (UNSEEN MESSAGES)").await;
    // STATUS on the selected mailbox is allowed; counters are exact.
    assert!(r.lines("STATUS")[0].contains("UNSEEN 2"), "{r:?}");
    assert!(r.lines("STATUS")[0].contains("MESSAGES 5"), "{r:?}");
}

#[tokio::test]
async fn rfc7162_3_1_3_unchangedsince_reports_modified() {
    let (_db, addr) = server().await;
    let mut c = Client::alice(addr).await;
    for i in 1..=2 {
        assert!(c.append("INBOX", "", &message(i, "s")).await.ok());
    }
    let r = c.cmd("SELECT INBOX (CONDSTORE)").await;
    assert!(r.ok(), "{r:?}");
    let r = c.cmd("FETCH 1:* (MODSEQ)").await;
    assert_eq!(r.containing("MODSEQ (").len(), 2, "{r:?}");
    let r = c.cmd("STORE 1 +FLAGS (\\Seen)").await;
    assert!(r.ok());
    let r = c
        .cmd("STORE 1:2 (UNCHANGEDSINCE 1) +FLAGS (\\Flagged)")
        .await;
    assert!(r.tagged.contains("[MODIFIED "), "{r:?}");
}

#[tokio::test]
async fn rfc9051_6_4_4_search_and_rfc4731_esearch() {
    let (_db, addr) = server().await;
    let mut c = Client::alice(addr).await;
    assert!(
        c.append("INBOX", "\\Seen", &message(1, "invoice march"))
            .await
            .ok()
    );
    assert!(c.append("INBOX", "", &message(2, "lunch")).await.ok());
    assert!(
        c.append("INBOX", "", &message(3, "another invoice"))
            .await
            .ok()
    );
    assert!(c.cmd("SELECT INBOX").await.ok());
    let r = c.cmd("SEARCH SUBJECT invoice").await;
    assert_eq!(r.lines("SEARCH"), vec!["* SEARCH 1 3"], "{r:?}");
    let r = c.cmd("UID SEARCH UNSEEN").await;
    assert_eq!(r.lines("SEARCH"), vec!["* SEARCH 2 3"], "{r:?}");
    let r = c.cmd("SEARCH OR SEEN SUBJECT lunch").await;
    assert_eq!(r.lines("SEARCH"), vec!["* SEARCH 1 2"], "{r:?}");
    let r = c
        .cmd("SEARCH RETURN (MIN MAX COUNT) NOT SUBJECT lunch")
        .await;
    let line = r.lines("ESEARCH")[0];
    assert!(
        line.contains("MIN 1") && line.contains("MAX 3") && line.contains("COUNT 2"),
        "{line}"
    );
    let r = c.cmd("SEARCH BODY \"message 2\"").await;
    assert_eq!(r.lines("SEARCH"), vec!["* SEARCH 2"], "{r:?}");
    assert_eq!(c.cmd("SEARCH FROBNICATE").await.status(), "BAD");
    let r = c.cmd("SEARCH CHARSET KLINGON SUBJECT x").await;
    assert_eq!(r.status(), "NO", "{r:?}");
    assert!(r.tagged.contains("[BADCHARSET ("), "{r:?}");
    let r = c.cmd("SEARCH CHARSET ISO-8859-1 SUBJECT lunch").await;
    assert_eq!(r.lines("SEARCH"), vec!["* SEARCH 2"], "{r:?}");
}

#[tokio::test]
async fn rfc6851_move_and_rfc4315_copyuid_and_expunge() {
    let (_db, addr) = server().await;
    let mut c = Client::alice(addr).await;
    for i in 1..=4 {
        assert!(c.append("INBOX", "", &message(i, "m")).await.ok());
    }
    assert!(c.cmd("CREATE Archive").await.ok());
    assert!(c.cmd("SELECT INBOX").await.ok());
    let r = c.cmd("COPY 1:2 Archive").await;
    assert!(
        r.tagged.contains("[COPYUID ") && r.tagged.contains(" 1:2 1:2]"),
        "{r:?}"
    );
    let r = c.cmd("UID MOVE 3 Archive").await;
    assert!(r.ok(), "{r:?}");
    assert_eq!(r.containing("[COPYUID ").len(), 1, "{r:?}");
    assert_eq!(r.lines("3 EXPUNGE").len(), 1, "{r:?}");
    let r = c.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    assert!(r.ok());
    let r = c.cmd("EXPUNGE").await;
    assert_eq!(r.lines("1 EXPUNGE").len(), 1, "{r:?}");
    let r = c.cmd("STATUS Archive (MESSAGES UIDNEXT)").await;
    assert!(r.lines("STATUS")[0].contains("MESSAGES 3"), "{r:?}");
    let r = c.cmd("COPY 1 Nowhere").await;
    assert!(r.tagged.contains("[TRYCREATE]"), "{r:?}");
    let r = c.cmd("SELECT INBOX").await;
    assert_eq!(r.lines("2 EXISTS").len(), 1, "{r:?}");
}

#[tokio::test]
async fn rfc9051_6_3_mailbox_management_and_list() {
    let (db, addr) = server().await;
    let mut c = Client::alice(addr).await;
    assert!(c.cmd("CREATE Lists/rust").await.ok());
    assert!(c.cmd("CREATE Sent (USE (\\Sent))").await.ok());
    assert_eq!(c.cmd("CREATE Sent").await.status(), "NO");
    let r = c.cmd("LIST \"\" \"*\"").await;
    let names: Vec<&str> = r
        .lines("LIST")
        .iter()
        .map(|l| l.rsplit(' ').next().unwrap())
        .collect();
    assert_eq!(names, vec!["INBOX", "Lists", "Lists/rust", "Sent"], "{r:?}");
    assert!(
        r.containing("\\Sent").iter().any(|l| l.ends_with("Sent")),
        "{r:?}"
    );
    assert!(
        r.containing("\\HasChildren")
            .iter()
            .any(|l| l.ends_with("Lists")),
        "{r:?}"
    );
    let r = c.cmd("LIST \"\" %").await;
    assert_eq!(r.lines("LIST").len(), 3, "{r:?}");
    let r = c.cmd("LIST \"\" \"\"").await;
    assert_eq!(r.lines("LIST"), vec!["* LIST (\\Noselect) \"/\" \"\""]);
    assert!(c.cmd("RENAME Lists Groups").await.ok());
    let r = c.cmd("LIST \"\" Groups/*").await;
    assert_eq!(r.lines("LIST").len(), 1, "{r:?}");
    assert!(r.lines("LIST")[0].ends_with("Groups/rust"), "{r:?}");
    assert!(c.cmd("SUBSCRIBE Sent").await.ok());
    let r = c.cmd("LSUB \"\" S*").await;
    assert_eq!(r.lines("LSUB"), vec!["* LSUB () \"/\" Sent"], "{r:?}");
    assert!(c.cmd("UNSUBSCRIBE INBOX").await.ok());
    let r = c
        .cmd("LIST (SUBSCRIBED) \"\" * RETURN (STATUS (MESSAGES))")
        .await;
    assert!(r.ok(), "{r:?}");
    assert_eq!(
        r.lines("STATUS"),
        vec!["* STATUS Sent (MESSAGES 0)"],
        "{r:?}"
    );
    assert!(c.cmd("DELETE Sent").await.ok());
    assert_eq!(c.cmd("DELETE INBOX").await.status(), "NO");
    // RFC 5530: a mailbox an alias delivers to is in use, not "already there".
    let out = db.aox(&["add", "alias", "groups@example.org", "alice", "Groups"]);
    assert!(out.status.success(), "{out:?}");
    let r = c.cmd("DELETE Groups").await;
    assert!(r.tagged.contains("NO [INUSE]"), "{r:?}");
    let r = c.cmd("NAMESPACE").await;
    assert_eq!(
        r.lines("NAMESPACE"),
        vec!["* NAMESPACE ((\"\" \"/\")) NIL NIL"]
    );
}

#[tokio::test]
async fn rfc2177_idle_sees_an_append_from_another_session() {
    let (_db, addr) = server().await;
    let mut watcher = Client::alice(addr).await;
    assert!(watcher.cmd("SELECT INBOX").await.ok());
    let tag = watcher.tag();
    watcher.send(format!("{tag} IDLE\r\n").as_bytes()).await;
    let cont = watcher.read_response_line().await;
    assert!(cont.starts_with("+ "), "{cont}");
    let mut other = Client::alice(addr).await;
    assert!(other.append("INBOX", "", &message(1, "news")).await.ok());
    let seen = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        watcher.read_response_line(),
    )
    .await
    .expect("no EXISTS within 10 s");
    assert_eq!(seen, "* 1 EXISTS");
    watcher.send(b"DONE\r\n").await;
    assert!(watcher.until(&tag).await.ok());
}

#[tokio::test]
async fn limits_an_oversized_literal_and_a_1_mib_line_keep_the_connection() {
    let db = TestDb::new().await;
    add_alice(&db);
    let addr = start_server(&db, &[("max-message-size", "10000")]).await;
    let mut c = Client::alice(addr).await;
    let tag = c.tag();
    c.send(format!("{tag} APPEND INBOX {{20000}}\r\n").as_bytes())
        .await;
    let r = c.until(&tag).await;
    assert_eq!(r.status(), "NO", "{r:?}");
    assert!(r.tagged.contains("[TOOBIG]"), "{r:?}");
    let mut line = format!("{} SEARCH SUBJECT ", c.tag()).into_bytes();
    line.extend(std::iter::repeat_n(b'a', 1024 * 1024));
    line.extend_from_slice(b"\r\n");
    c.send(&line).await;
    let reply = c.read_response_line().await;
    assert!(reply.contains(" BAD "), "{reply}");
    assert!(c.cmd("NOOP").await.ok());
}

#[tokio::test]
async fn rfc7162_3_2_qresync_select_reports_vanished_and_changed_flags() {
    let (_db, addr) = server().await;
    let mut c = Client::alice(addr).await;
    for i in 1..=4 {
        assert!(c.append("INBOX", "", &message(i, "q")).await.ok());
    }
    assert_eq!(c.cmd("SELECT INBOX (QRESYNC (1 1))").await.status(), "BAD");
    let r = c.cmd("ENABLE QRESYNC").await;
    assert_eq!(r.lines("ENABLED"), vec!["* ENABLED QRESYNC"], "{r:?}");
    let r = c.cmd("SELECT INBOX").await;
    let validity: u32 = r.containing("[UIDVALIDITY ")[0]
        .split(['[', ']'])
        .nth(1)
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let modseq: u64 = r.containing("[HIGHESTMODSEQ ")[0]
        .split(['[', ']'])
        .nth(1)
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!(c.cmd("UID STORE 2 +FLAGS.SILENT (\\Deleted)").await.ok());
    let r = c.cmd("UID EXPUNGE 2").await;
    assert_eq!(r.lines("VANISHED"), vec!["* VANISHED 2"], "{r:?}");
    assert!(c.cmd("UID STORE 3 +FLAGS.SILENT (\\Flagged)").await.ok());
    assert!(c.cmd("UNSELECT").await.ok());
    let r = c
        .cmd(&format!("SELECT INBOX (QRESYNC ({validity} {modseq} 1:4))"))
        .await;
    assert!(r.ok(), "{r:?}");
    assert_eq!(r.lines("VANISHED"), vec!["* VANISHED (EARLIER) 2"], "{r:?}");
    let fetches = r.containing("FETCH (");
    assert_eq!(fetches.len(), 1, "{r:?}");
    assert!(
        fetches[0].contains("UID 3") && fetches[0].contains("\\Flagged"),
        "{r:?}"
    );
    // A stale UIDVALIDITY gets a plain SELECT, no VANISHED.
    let r = c.cmd("SELECT INBOX (QRESYNC (1 1))").await;
    assert!(r.lines("VANISHED").is_empty(), "{r:?}");
    assert_eq!(r.lines("OK [CLOSED]").len(), 1, "{r:?}");
    let r = c
        .cmd(&format!(
            "UID FETCH 1:* (FLAGS) (CHANGEDSINCE {modseq} VANISHED)"
        ))
        .await;
    assert_eq!(r.lines("VANISHED"), vec!["* VANISHED (EARLIER) 2"], "{r:?}");
    assert_eq!(r.containing("FETCH (").len(), 1, "{r:?}");
}

#[tokio::test]
async fn rfc3502_multiappend_rfc2971_id_and_session_commands() {
    let (_db, addr) = server().await;
    let mut c = Client::alice(addr).await;
    let r = c.cmd("ID (\"name\" \"test\")").await;
    assert_eq!(r.lines("ID").len(), 1, "{r:?}");
    let (a, b) = (message(1, "first"), message(2, "second"));
    let tag = c.tag();
    let mut bytes = format!("{tag} APPEND INBOX (\\Seen) {{{}+}}\r\n", a.len()).into_bytes();
    bytes.extend_from_slice(&a);
    bytes.extend_from_slice(format!(" {{{}+}}\r\n", b.len()).as_bytes());
    bytes.extend_from_slice(&b);
    bytes.extend_from_slice(b"\r\n");
    c.send(&bytes).await;
    let r = c.until(&tag).await;
    assert!(r.tagged.contains(" 1:2]"), "{r:?}");
    assert!(c.cmd("SELECT INBOX").await.ok());
    assert!(c.cmd("CHECK").await.ok());
    assert!(c.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)").await.ok());
    // CLOSE expunges silently; UNSELECT does not expunge.
    let r = c.cmd("CLOSE").await;
    assert!(r.ok() && r.lines("1 EXPUNGE").is_empty(), "{r:?}");
    let r = c.cmd("EXAMINE INBOX").await;
    assert_eq!(r.lines("1 EXISTS").len(), 1, "{r:?}");
    assert_eq!(c.cmd("STORE 1 +FLAGS (\\Seen)").await.status(), "NO");
    assert_eq!(c.cmd("EXPUNGE").await.status(), "NO");
    assert!(c.cmd("UNSELECT").await.ok());
    assert_eq!(c.cmd("UNSELECT").await.status(), "BAD");
    let r = c
        .cmd("STATUS INBOX (MESSAGES SIZE HIGHESTMODSEQ DELETED)")
        .await;
    let line = r.lines("STATUS")[0];
    assert!(
        line.contains("MESSAGES 1") && line.contains("SIZE ") && line.contains("DELETED 0"),
        "{line}"
    );
    assert_eq!(c.cmd("STATUS INBOX (FROBS)").await.status(), "BAD");
    assert_eq!(c.cmd("STATUS Nowhere (MESSAGES)").await.status(), "NO");
    let r = c.cmd("LOGOUT").await;
    assert_eq!(r.lines("BYE").len(), 1);
}
