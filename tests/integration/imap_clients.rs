//! Real IMAP clients against the server: IMAPClient's live test suite
//! (`python3 -m imapclient.livetest`), run against a server in this process
//! over the test's own database. Needs `pip install imapclient==4.1.0`.

use std::collections::BTreeMap;

use crate::harness::TestDb;
use crate::imap_support::{Client, add_alice, message, start_server};

/// How one live test ended, as unittest's verbose runner prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Ok,
    Skipped(String),
    Fail,
    Error,
}

impl Outcome {
    fn rank(&self) -> u8 {
        match self {
            Outcome::Ok => 0,
            Outcome::Skipped(_) => 1,
            Outcome::Fail => 2,
            Outcome::Error => 3,
        }
    }
}

/// Tests that may fail for reasons on the client's side, each with why.
/// Everything else must pass or be skipped for a capability we do not
/// advertise (checked against `SKIPPABLE`).
const CLIENT_SIDE_FAILURES: &[(&str, &str)] = &[
    // Python 3.11's imaplib has no MOVE in its command table, so IMAPClient's
    // non-UID move() cannot send it; UID MOVE goes through `UID` and passes.
    (
        "TestWithoutUIDs.test_move",
        "imaplib in Python 3.11 has no MOVE",
    ),
    // Both compare the parsed Envelope with a tuple; IMAPClient 4's Envelope
    // is a dataclass that no longer compares equal to a sequence.
    ("TestWithUIDs.test_fetch", "Envelope compared as a sequence"),
    (
        "TestWithoutUIDs.test_fetch",
        "Envelope compared as a sequence",
    ),
    // These expect a connect in 1 ms or a read in 10 µs to time out, which
    // assumes a network slower than loopback; they pass or fail by luck.
    // Not the client's fault, but by design: a message without a Message-ID
    // gets one on arrival (DESIGN.md §5, src/mime/mod.rs), so RFC822 of the
    // appended "Subject: something\r\n\r\nFoo\r\n" is not byte-identical.
    // Archiveopteryx does the same.
    (
        "TestWithUIDs.test_append_unicode",
        "Message-ID supplied by design",
    ),
    (
        "TestWithUIDs.test_append_bytes",
        "Message-ID supplied by design",
    ),
    (
        "TestWithoutUIDs.test_append_unicode",
        "Message-ID supplied by design",
    ),
    (
        "TestWithoutUIDs.test_append_bytes",
        "Message-ID supplied by design",
    ),
    (
        "TestSocketTimeout.test_small_connection_timeout_fail",
        "assumes a slow network",
    ),
    (
        "TestSocketTimeout.test_small_read_timeout_fail",
        "assumes a slow network",
    ),
];

/// Skip reasons that are honest: the server does not advertise these
/// extensions (SORT, THREAD, ACL, XLIST) or is not Gmail.
const SKIPPABLE: &[&str] = &[
    "Server doesn't support SORT",
    "Server doesn't support THREAD=REFERENCES",
    "Server doesn't support ACL",
    "Server doesn't support XLIST",
    "Server doesn't support labels",
    "Server doesn't support Gmail search",
    "Gmail",
    // The non-UID class skips UID EXPUNGE by its own configuration.
    "test instance not configured for UID operations",
];

/// Parses unittest's `-v` output, `test_x (__main__.Class.test_x) ... ok`.
/// A test with a docstring prints its first line after a line break before
/// ` ... `, and a test whose tearDown also fails gets a second verdict (the
/// worse one is kept). The UID and non-UID classes are both
/// `createUidTestClass.<locals>.LiveTest`; unittest loads a module's classes
/// in name order, so the first run of a method is TestWithUIDs and the
/// second TestWithoutUIDs.
fn parse_unittest(stderr: &str) -> BTreeMap<String, Outcome> {
    let mut out: BTreeMap<String, Outcome> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in stderr.lines() {
        if line.starts_with("test")
            && let Some((_, rest)) = line.split_once(" (")
            && let Some((qualified, _)) = rest.split_once(')')
        {
            let mut parts = qualified.rsplit('.');
            let method = parts.next().unwrap_or("");
            let class = match parts.next().unwrap_or("") {
                "LiveTest" if out.contains_key(&format!("TestWithUIDs.{method}")) => {
                    "TestWithoutUIDs"
                }
                "LiveTest" => "TestWithUIDs",
                other => other,
            };
            current = Some(format!("{class}.{method}"));
        }
        let Some((_, verdict)) = line.rsplit_once(" ... ") else {
            continue;
        };
        let Some(test) = current.clone() else {
            continue;
        };
        let outcome = match verdict.trim() {
            "ok" => Outcome::Ok,
            "FAIL" => Outcome::Fail,
            v if v.starts_with("skipped") => Outcome::Skipped(
                v.trim_start_matches("skipped ")
                    .trim_matches(|c| c == '\'' || c == '"')
                    .to_owned(),
            ),
            _ => Outcome::Error,
        };
        let worse = out.get(&test).is_none_or(|old| old.rank() < outcome.rank());
        if worse {
            out.insert(test, outcome);
        }
    }
    out
}

#[tokio::test]
async fn imapclient_livetest_passes_except_client_side_failures() {
    let db = TestDb::new().await;
    add_alice(&db);
    let addr = start_server(&db, &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let ini = dir.path().join("livetest.ini");
    std::fs::write(
        &ini,
        format!(
            "[DEFAULT]\nhost = 127.0.0.1\nport = {}\nssl = false\nstarttls = false\n\
             username = alice\npassword = secret\n",
            addr.port()
        ),
    )
    .unwrap();
    let output = tokio::process::Command::new("python3")
        .args(["-m", "imapclient.livetest"])
        .arg(&ini)
        .arg("-v")
        .kill_on_drop(true)
        .output()
        .await
        .expect("python3 with imapclient (pip install imapclient==4.1.0)");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let results = parse_unittest(&stderr);
    // 59 tests in IMAPClient 4.1.0; fewer means the run broke off early.
    assert!(
        results.len() >= 59,
        "only {} results:\n{stderr}",
        results.len()
    );

    let mut unexpected = Vec::new();
    for (test, outcome) in &results {
        let allowed = match outcome {
            Outcome::Ok => true,
            Outcome::Skipped(why) => SKIPPABLE.iter().any(|s| why.contains(s)),
            Outcome::Fail | Outcome::Error => CLIENT_SIDE_FAILURES.iter().any(|(t, _)| t == test),
        };
        if !allowed {
            unexpected.push(format!("{test}: {outcome:?}"));
        }
    }
    assert!(
        unexpected.is_empty(),
        "unexpected outcomes:\n{}\n\nfull output:\n{stderr}",
        unexpected.join("\n")
    );
    // Dovecot passes 46 (DESIGN.md §7); it also has SORT and THREAD, whose
    // eight tests skip here, and keeps appended bytes as they came (four).
    let passed = results.values().filter(|o| **o == Outcome::Ok).count();
    let skipped = results
        .values()
        .filter(|o| matches!(o, Outcome::Skipped(_)))
        .count();
    eprintln!(
        "IMAPClient livetest: {passed} ok, {skipped} skipped, {} allowlisted failures",
        results.len() - passed - skipped
    );
    assert!(passed >= 34, "{passed} passed:\n{stderr}");
}

#[test]
fn unittest_verbose_output_is_parsed_with_docstrings_and_both_uid_classes() {
    let text = "test_alternates (__main__.TestGeneral.test_alternates) ... ok\n\
        test_small_read_timeout_fail (__main__.TestSocketTimeout.test_small_read_timeout_fail)\n\
        For ease, the login operation use the read/write timeout. ... FAIL\n\
        For ease, the login operation use the read/write timeout. ... ERROR\n\
        test_sort (__main__.createUidTestClass.<locals>.LiveTest.test_sort) ... skipped \"Server doesn't support SORT\"\n\
        test_move (__main__.createUidTestClass.<locals>.LiveTest.test_move) ... ok\n\
        test_sort (__main__.createUidTestClass.<locals>.LiveTest.test_sort) ... skipped \"Server doesn't support SORT\"\n\
        test_move (__main__.createUidTestClass.<locals>.LiveTest.test_move) ... ERROR\n";
    let r = parse_unittest(text);
    assert_eq!(r["TestGeneral.test_alternates"], Outcome::Ok);
    assert_eq!(
        r["TestSocketTimeout.test_small_read_timeout_fail"],
        Outcome::Error
    );
    assert_eq!(
        r["TestWithUIDs.test_sort"],
        Outcome::Skipped("Server doesn't support SORT".into())
    );
    assert_eq!(r["TestWithUIDs.test_move"], Outcome::Ok);
    assert_eq!(r["TestWithoutUIDs.test_move"], Outcome::Error);
    assert_eq!(r.len(), 6);
}

// Regressions for the server bugs the live tests found, each as the RFC
// states it.

#[tokio::test]
async fn rfc7162_3_1_fetch_after_enable_condstore_carries_modseq() {
    let db = TestDb::new().await;
    add_alice(&db);
    let addr = start_server(&db, &[]).await;
    let mut c = Client::alice(addr).await;
    assert!(c.append("INBOX", "", &message(1, "s")).await.ok());
    assert!(c.cmd("SELECT INBOX").await.ok());
    // Before CONDSTORE is enabled a plain FETCH has no MODSEQ…
    let r = c.cmd("FETCH 1 (FLAGS)").await;
    let line = r.lines("1 FETCH")[0];
    assert!(!line.contains("MODSEQ"), "{line}");
    assert!(c.cmd("ENABLE CONDSTORE").await.ok());
    // …and after it every untagged FETCH has one.
    let r = c.cmd("FETCH 1 (FLAGS)").await;
    let line = r.lines("1 FETCH")[0];
    assert!(line.contains(" MODSEQ ("), "{line}");
}

#[tokio::test]
async fn rfc7162_3_1_5_search_modseq_answers_with_the_highest_modseq_found() {
    let db = TestDb::new().await;
    add_alice(&db);
    let addr = start_server(&db, &[]).await;
    let mut c = Client::alice(addr).await;
    for i in 1..=2 {
        assert!(c.append("INBOX", "", &message(i, "s")).await.ok());
    }
    assert!(c.cmd("SELECT INBOX").await.ok());
    let r = c.cmd("FETCH 1:2 (MODSEQ)").await;
    let modseqs: Vec<u64> = r
        .lines("")
        .iter()
        .filter_map(|l| l.split("MODSEQ (").nth(1))
        .filter_map(|rest| rest.split(')').next()?.parse().ok())
        .collect();
    assert_eq!(modseqs.len(), 2, "{r:?}");
    let highest = modseqs.iter().max().unwrap();
    let r = c.cmd("SEARCH MODSEQ 1").await;
    assert_eq!(
        r.lines("SEARCH"),
        vec![format!("* SEARCH 1 2 (MODSEQ {highest})")]
    );
    let r = c.cmd("SEARCH RETURN (COUNT) MODSEQ 1").await;
    let line = r.lines("ESEARCH")[0];
    assert!(
        line.ends_with(&format!("COUNT 2 MODSEQ {highest}")),
        "{line}"
    );
    // Nothing found: no MODSEQ (its value would be meaningless).
    let r = c.cmd("SEARCH MODSEQ 999999999").await;
    assert_eq!(r.lines("SEARCH"), vec!["* SEARCH"]);
}

#[tokio::test]
async fn rfc3501_6_3_10_status_recent_counts_messages_no_session_has_seen() {
    let db = TestDb::new().await;
    add_alice(&db);
    let addr = start_server(&db, &[]).await;
    let mut c = Client::alice(addr).await;
    assert!(c.cmd("CREATE Other").await.ok());
    let r = c.cmd("STATUS Other (MESSAGES RECENT)").await;
    assert_eq!(
        r.lines("STATUS"),
        vec!["* STATUS Other (MESSAGES 0 RECENT 0)"]
    );
    assert!(c.append("Other", "", &message(1, "s")).await.ok());
    assert!(c.append("Other", "", &message(2, "s")).await.ok());
    let r = c.cmd("STATUS Other (MESSAGES RECENT)").await;
    assert_eq!(
        r.lines("STATUS"),
        vec!["* STATUS Other (MESSAGES 2 RECENT 2)"]
    );
    // A session that selects the mailbox claims them (RFC 3501 §2.3.2)…
    let r = c.cmd("SELECT Other").await;
    assert_eq!(r.lines("2 RECENT").len(), 1, "{r:?}");
    assert!(c.cmd("UNSELECT").await.ok());
    // …so they are no longer recent for anyone else.
    let r = c.cmd("STATUS Other (RECENT)").await;
    assert_eq!(r.lines("STATUS"), vec!["* STATUS Other (RECENT 0)"]);
}

#[tokio::test]
async fn rfc9051_6_3_7_subscribe_to_a_mailbox_that_does_not_exist_is_refused() {
    let db = TestDb::new().await;
    add_alice(&db);
    let addr = start_server(&db, &[]).await;
    let mut c = Client::alice(addr).await;
    let r = c.cmd("SUBSCRIBE \"no such folder\"").await;
    assert_eq!(r.status(), "NO", "{r:?}");
    assert!(r.tagged.contains("[NONEXISTENT]"), "{r:?}");
    assert!(c.cmd("CREATE Exists").await.ok());
    assert!(c.cmd("SUBSCRIBE Exists").await.ok());
    // A subscription outlives its mailbox (RFC 9051 §6.3.7: the server
    // SHOULD NOT remove it), and can still be removed.
    assert!(c.cmd("DELETE Exists").await.ok());
    let r = c.cmd("LSUB \"\" Exists").await;
    assert_eq!(r.lines("LSUB").len(), 1, "{r:?}");
    assert!(c.cmd("UNSUBSCRIBE Exists").await.ok());
}
