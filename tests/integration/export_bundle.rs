//! `aox export --format bundle`: one .eml per message as it arrived and a
//! manifest whose SHA-256s match `sha256sum` of what was imported.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::cli_support::{add_user, fails, ok, usage};
use crate::harness::TestDb;

/// `sha256sum` of the files given: hash by file name.
fn sha256sum(files: &[std::path::PathBuf]) -> BTreeMap<String, String> {
    let out = std::process::Command::new("sha256sum")
        .args(files)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (hash, name) = l.split_once("  ").unwrap();
            (name.to_string(), hash.to_string())
        })
        .collect()
}

fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

fn manifest(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("manifest.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn a_bundle_holds_what_arrived_and_its_manifest_hashes_match_sha256sum() {
    let db = TestDb::new().await;
    add_user(&db, "alice");
    add_user(&db, "bob");
    let tmp = tempfile::tempdir().unwrap();
    let (a_in, b_in) = (tmp.path().join("alice"), tmp.path().join("bob"));
    std::fs::create_dir_all(&a_in).unwrap();
    std::fs::create_dir_all(&b_in).unwrap();
    // Normalisation changes the last three (LF line ends, no Message-ID,
    // a raw 8-bit header), so the bundle must give back the originals.
    std::fs::write(
        a_in.join("1.eml"),
        "From: a@example.org\r\nTo: alice@example.org\r\nSubject: invoice one\r\n\
         Date: Mon, 2 Jan 2006 15:04:05 +0000\r\nMessage-ID: <b1@example.org>\r\n\r\nHello.\r\n",
    )
    .unwrap();
    std::fs::write(
        a_in.join("2.eml"),
        "From: a@example.org\nTo: alice@example.org\nSubject: lunch\n\
         Date: Mon, 2 Jan 2006 15:04:05 +0000\nMessage-ID: <b2@example.org>\n\nLF only.\n",
    )
    .unwrap();
    std::fs::write(
        b_in.join("3.eml"),
        "From: a@example.org\r\nTo: bob@example.org\r\nSubject: invoice three\r\n\
         Date: Mon, 2 Jan 2006 15:04:05 +0000\r\n\r\nNo Message-ID.\r\n",
    )
    .unwrap();
    std::fs::write(
        b_in.join("4.eml"),
        b"From: a@example.org\r\nTo: bob@example.org\r\nSubject: caf\xe9\r\n\
          Date: Mon, 2 Jan 2006 15:04:05 +0000\r\nMessage-ID: <b4@example.org>\r\n\r\nLatin-1 header.\r\n",
    )
    .unwrap();
    ok(&db.aox(&["import", "alice", "INBOX", a_in.to_str().unwrap()]));
    ok(&db.aox(&["import", "bob", "Archive", b_in.to_str().unwrap()]));
    let mut arrived: Vec<_> = files(&a_in);
    arrived.extend(files(&b_in));
    let arrived: BTreeSet<String> = sha256sum(&arrived).into_values().collect();
    assert_eq!(arrived.len(), 4);

    let out = tmp.path().join("bundle");
    ok(&db.aox(&[
        "export",
        "--all-users",
        "--format",
        "bundle",
        "-o",
        out.to_str().unwrap(),
    ]));
    let lines = manifest(&out);
    assert_eq!(lines.len(), 4, "{lines:?}");
    let on_disk = sha256sum(&files(&out.join("messages")));
    let mut listed = BTreeSet::new();
    for l in &lines {
        let file = out.join(l["file"].as_str().unwrap());
        let hash = l["sha256"].as_str().unwrap().to_string();
        assert_eq!(on_disk[file.to_str().unwrap()], hash, "{l}");
        assert_eq!(l["verified"], true, "{l}");
        assert!(l["internal_date"].as_str().unwrap().ends_with('Z'), "{l}");
        listed.insert(hash);
    }
    assert_eq!(listed, arrived);
    let places: BTreeSet<(String, String, u64)> = lines
        .iter()
        .map(|l| {
            (
                l["user"].as_str().unwrap().to_string(),
                l["mailbox"].as_str().unwrap().to_string(),
                l["uid"].as_u64().unwrap(),
            )
        })
        .collect();
    let want: BTreeSet<(String, String, u64)> = [
        ("alice", "INBOX", 1),
        ("alice", "INBOX", 2),
        ("bob", "Archive", 1),
        ("bob", "Archive", 2),
    ]
    .iter()
    .map(|(u, m, n)| (u.to_string(), m.to_string(), *n))
    .collect();
    assert_eq!(places, want);

    // One user's mail, with a search; a bundle never goes into a used directory.
    let some = tmp.path().join("some");
    ok(&db.aox(&[
        "export",
        "bob",
        "subject",
        "invoice",
        "--format",
        "bundle",
        "-o",
        some.to_str().unwrap(),
    ]));
    let lines = manifest(&some);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["mailbox"], "Archive");
    let err = fails(&db.aox(&[
        "export",
        "--all-users",
        "--format",
        "bundle",
        "-o",
        some.to_str().unwrap(),
    ]));
    assert!(err.contains("not empty"), "{err}");
    let err = fails(&db.aox(&["export", "--all-users", "-o", "x.mbox"]));
    assert!(err.contains("--all-users needs --format bundle"), "{err}");
    usage(&db.aox(&["export", "--format", "zip", "alice", "INBOX"]));
}
