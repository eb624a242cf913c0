//! Reading archives made by the shared corpus generator (`../shared/corpus/gen-mbox.py`),
//! an independent mboxrd and Maildir writer: every message must come back, with the
//! size the generator's index records, and the mbox and Maildir forms of the same
//! archive must agree byte for byte. Skipped (with a note) where the script or python3
//! is not available, so the suite does not depend on the machine's state.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{ArchivedMessage, SourceKind, detect, open};

const MESSAGES: usize = 500;

fn generator() -> Option<PathBuf> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/gen-mbox.py");
    if !script.is_file() {
        eprintln!("skipped: {} not found", script.display());
        return None;
    }
    Some(script)
}

/// Runs the generator; `None` (skip) if python3 cannot be run.
fn generate(script: &Path, out: &Path, format: &str, index: &Path) -> Option<()> {
    let status = Command::new("python3")
        .arg(script)
        .args([
            "-n",
            &MESSAGES.to_string(),
            "-s",
            "3",
            "--max-attachment",
            "20000",
            "-q",
        ])
        .args(["--format", format])
        .arg("-o")
        .arg(out)
        .arg("--index")
        .arg(index)
        .status();
    match status {
        Ok(s) => {
            assert!(s.success(), "gen-mbox.py failed: {s}");
            Some(())
        }
        Err(e) => {
            eprintln!("skipped: cannot run python3: {e}");
            None
        }
    }
}

/// (bytes, message-id) per sequence number, from the generator's TSV index.
fn index(path: &Path) -> Vec<(usize, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .skip(1)
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            (cols[1].parse().unwrap(), cols[2].to_string())
        })
        .collect()
}

fn check_against_index(m: &ArchivedMessage, (bytes, message_id): &(usize, String)) {
    assert_eq!(
        m.raw.len(),
        *bytes,
        "{}: size differs from the index",
        m.origin
    );
    if message_id != "-" {
        let needle = message_id.as_bytes();
        assert!(
            m.raw.windows(needle.len()).any(|w| w == needle),
            "{}: {message_id} not found",
            m.origin
        );
    }
    assert!(m.internal_date.is_some(), "{}: no internal date", m.origin);
}

#[test]
fn generated_mbox_and_maildir_agree_with_the_index_and_each_other() {
    let Some(script) = generator() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (mbox, maildir) = (dir.path().join("x.mbox"), dir.path().join("md"));
    let (mbox_index, maildir_index) = (dir.path().join("mbox.tsv"), dir.path().join("md.tsv"));
    if generate(&script, &mbox, "mbox", &mbox_index).is_none()
        || generate(&script, &maildir, "maildir", &maildir_index).is_none()
    {
        return;
    }
    let want = index(&mbox_index);
    assert_eq!(want.len(), MESSAGES);
    assert_eq!(
        index(&maildir_index),
        want,
        "the generator is not deterministic across formats"
    );

    assert_eq!(detect(&mbox).unwrap(), SourceKind::Mbox);
    let from_mbox: Vec<ArchivedMessage> = open(&mbox).unwrap().map(|m| m.unwrap()).collect();
    assert_eq!(from_mbox.len(), MESSAGES);
    for (m, w) in from_mbox.iter().zip(&want) {
        check_against_index(m, w);
    }

    assert_eq!(detect(&maildir).unwrap(), SourceKind::Maildir);
    let mut seen_seqs = HashMap::new();
    for m in open(&maildir).unwrap() {
        let m = m.unwrap();
        // The generator names files "<time>.M<seq>P<pid>.mailgen,S=<size>:2,<flags>".
        let name = m.origin.rsplit('/').next().unwrap();
        let seq: usize = name
            .split(".M")
            .nth(1)
            .unwrap()
            .split('P')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        check_against_index(&m, &want[seq]);
        let same = &from_mbox[seq];
        assert_eq!(m.raw, same.raw, "{} differs from {}", m.origin, same.origin);
        assert_eq!(m.internal_date, same.internal_date, "{}", m.origin);
        assert!(m.flags.seen, "{}", m.origin);
        assert!(seen_seqs.insert(seq, ()).is_none(), "{} twice", m.origin);
    }
    assert_eq!(seen_seqs.len(), MESSAGES);
}
