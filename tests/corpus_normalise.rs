//! The message layer over every message in `../shared/corpus/real/`
//! (DESIGN §7, issue 4): nothing panics, everything is parsed or wrapped,
//! normalising is idempotent, `render` rebuilds the wire form from the
//! stored parts, sizes are those of the served bytes, served headers are
//! 7-bit, signed parts are served byte-exact, every message ends with CRLF,
//! and an mbox export (LF line endings) re-imports as the same message.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, HashMap};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use archiveopteryx::mime::{self, Ingested, Part};
use sha2::{Digest, Sha256};

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/real")
}

struct Entry {
    path: String,
    sha256: String,
    features: String,
}

fn manifest() -> Vec<Entry> {
    let path = corpus_dir().join("MANIFEST.tsv");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            assert!(cols.len() >= 5, "bad manifest line {l:?}");
            Entry {
                path: cols[0].to_owned(),
                sha256: cols[2].to_owned(),
                features: cols[4].to_owned(),
            }
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The line ending repair: CRLF everywhere, and at the end.
fn to_crlf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 20);
    let mut prev = 0u8;
    for &b in raw {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// What an mbox writer stores: CRLF as LF.
fn lf_form(wire: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(wire.len());
    for (i, &b) in wire.iter().enumerate() {
        if !(b == b'\r' && wire.get(i + 1) == Some(&b'\n')) {
            out.push(b);
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    if needle.is_empty() {
        return true;
    }
    let first = needle[0];
    haystack
        .iter()
        .enumerate()
        .filter(|&(_, &b)| b == first)
        .any(|(i, _)| haystack[i..].starts_with(needle))
}

/// Rows that are descriptions inside a signed (opaque) multipart.
fn is_view(rows: &[Part], row: &Part) -> bool {
    rows.iter()
        .filter(|o| o.content_type.starts_with("multipart/") && o.bodypart.is_some())
        .any(|o| {
            // A message's header row ("" or "N.HEADER") has children "k" or "N.k".
            let number = o.part.strip_suffix(".HEADER").unwrap_or(&o.part);
            if number.is_empty() {
                !row.part.is_empty()
            } else {
                row.part != o.part && row.part.starts_with(&format!("{number}."))
            }
        })
}

fn count_lines(data: &[u8]) -> u64 {
    let n = data.iter().filter(|&&b| b == b'\n').count() as u64;
    match data.last() {
        Some(b'\n') | None => n,
        Some(_) => n + 1,
    }
}

/// Every check for one message; returns the problems found.
fn check(entry: &Entry, raw: &[u8], ing: &Ingested) -> Vec<String> {
    let mut problems = Vec::new();
    let mut fail = |what: String| problems.push(format!("{}: {what}", entry.path));
    if ing.wire.is_empty() || ing.parts.is_empty() {
        fail("no wire bytes or no parts".into());
        return problems;
    }
    if ing.raw_sha256 != <[u8; 32]>::from(Sha256::digest(raw)) {
        fail("raw_sha256 is not the SHA-256 of the input".into());
    }
    if ing.original_kept != (ing.wire != raw) {
        fail("original_kept disagrees with wire != raw".into());
    }
    if !ing.wire.ends_with(b"\r\n") {
        fail("the wire form does not end with CRLF".into());
    }
    // Export to mbox and import again: the same message. (A CR left in
    // signed content makes the LF form ambiguous; such files are skipped.)
    let exported = lf_form(&ing.wire);
    if !exported.contains(&b'\r') && mime::normalise(&exported) != ing.wire {
        fail("an mbox export and re-import changes the message".into());
    }
    // Idempotence.
    let again = catch_unwind(AssertUnwindSafe(|| mime::ingest(&ing.wire)));
    match again {
        Ok(second) => {
            if second.wire != ing.wire {
                let at = second
                    .wire
                    .iter()
                    .zip(&ing.wire)
                    .position(|(a, b)| a != b)
                    .unwrap_or(second.wire.len().min(ing.wire.len()));
                fail(format!(
                    "not idempotent: first difference at byte {at}: {:?} vs {:?}",
                    String::from_utf8_lossy(
                        &ing.wire[at.saturating_sub(40)..(at + 40).min(ing.wire.len())]
                    ),
                    String::from_utf8_lossy(
                        &second.wire[at.saturating_sub(40)..(at + 40).min(second.wire.len())]
                    ),
                ));
            }
            if second.wrapped.is_some() {
                fail("the normalised form does not parse".into());
            }
            if second.bodystructure != ing.bodystructure || second.envelope != ing.envelope {
                fail("BODYSTRUCTURE or ENVELOPE changes on re-ingest".into());
            }
        }
        Err(_) => fail("re-ingesting the wire form panicked".into()),
    }
    // render(parts, leaves) == wire.
    let leaves: HashMap<[u8; 32], &[u8]> = ing
        .leaves
        .iter()
        .map(|l| (l.hash, l.decoded.as_slice()))
        .collect();
    let lookup = |h: &[u8; 32]| leaves.get(h).map(|d| d.to_vec());
    match mime::render(&ing.parts, &lookup) {
        Ok(w) if w == ing.wire => {}
        Ok(_) => fail("render(parts, leaves) != wire".into()),
        Err(e) => fail(format!("render failed: {e}")),
    }
    for leaf in &ing.leaves {
        if leaf.hash != <[u8; 32]>::from(Sha256::digest(&leaf.decoded)) {
            fail("a leaf's hash is not the SHA-256 of its content".into());
        }
        if leaf.text.as_deref().is_some_and(|t| t.contains('\0')) {
            fail("search text contains NUL".into());
        }
    }
    for (i, row) in ing.parts.iter().enumerate() {
        if row.position != i as i32 {
            fail(format!("row {i} has position {}", row.position));
        }
        let view = is_view(&ing.parts, row);
        // Served headers are 7-bit (signed content is served as it came).
        let (block, _) = mime::split_header_column(&row.header);
        if !view && !block.is_ascii() {
            fail(format!("part {:?} has an 8-bit header", row.part));
        }
        // BODYSTRUCTURE sizes are those of the bytes render puts there.
        if let (Some(hash), false, false) = (
            row.bodypart,
            view,
            row.content_type.starts_with("multipart/"),
        ) {
            let decoded = leaves.get(&hash).copied().unwrap_or_default();
            let served = mime::serve_leaf(decoded, &row.transfer_encoding);
            if served.len() as u64 != row.encoded_bytes || count_lines(&served) != row.lines {
                fail(format!(
                    "part {:?}: encoded_bytes/lines {}/{} but {}/{} served",
                    row.part,
                    row.encoded_bytes,
                    row.lines,
                    served.len(),
                    count_lines(&served)
                ));
            }
        }
    }
    // A single-part message is its header and its one leaf (and the CRLF
    // that ends the message, when the leaf is base64).
    if ing.parts.len() == 2
        && ing.parts[1].bodypart.is_some()
        && !ing.parts[0].content_type.starts_with("multipart/")
    {
        let mut expect = ing.parts[0].header.clone();
        expect.extend_from_slice(&ing.parts[1].header);
        let decoded = ing.parts[1]
            .bodypart
            .and_then(|h| leaves.get(&h).copied())
            .unwrap_or_default();
        expect.extend_from_slice(&mime::serve_leaf(decoded, &ing.parts[1].transfer_encoding));
        if !expect.ends_with(b"\r\n") {
            expect.extend_from_slice(b"\r\n");
        }
        if expect != ing.wire {
            fail("single-part wire is not header + served leaf".into());
        }
    }
    problems
}

/// The signed multiparts of a message: their raw bodies must appear in
/// the original (line endings repaired) and in the wire form exactly.
fn check_signed(entry: &Entry, raw: &[u8], ing: &Ingested) -> (usize, Vec<String>) {
    let crlf = to_crlf(raw);
    let mut problems = Vec::new();
    let mut count = 0;
    for row in &ing.parts {
        if row.content_type == "multipart/signed"
            && let Some(hash) = row.bodypart
        {
            count += 1;
            let Some(leaf) = ing.leaves.iter().find(|l| l.hash == hash) else {
                problems.push(format!("{}: signed part without content", entry.path));
                continue;
            };
            if !contains(&crlf, &leaf.decoded) {
                problems.push(format!(
                    "{}: part {:?} is not byte-identical to the original",
                    entry.path, row.part
                ));
            }
            let mut served = row.header.clone();
            served.extend_from_slice(&leaf.decoded);
            if !contains(&ing.wire, &served) {
                problems.push(format!(
                    "{}: part {:?} is not served as stored",
                    entry.path, row.part
                ));
            }
        }
    }
    (count, problems)
}

#[test]
fn corpus_every_message_normalises_idempotently_and_renders() {
    let entries = manifest();
    assert!(
        entries.len() > 1000,
        "the corpus manifest lists {} files",
        entries.len()
    );
    let mut problems: Vec<String> = Vec::new();
    let mut parsed = 0;
    let mut wrapped: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut changed = 0;
    let mut signed_files = 0;
    let mut signed_parts = 0;
    for entry in &entries {
        let path = corpus_dir().join(&entry.path);
        let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            hex(&Sha256::digest(&raw)),
            entry.sha256,
            "{}: checksum",
            entry.path
        );
        let ing = match catch_unwind(AssertUnwindSafe(|| mime::ingest(&raw))) {
            Ok(i) => i,
            Err(_) => {
                problems.push(format!("{}: ingest panicked", entry.path));
                continue;
            }
        };
        match &ing.wrapped {
            Some(reason) => wrapped
                .entry(reason.clone())
                .or_default()
                .push(entry.path.clone()),
            None => parsed += 1,
        }
        if ing.original_kept {
            changed += 1;
        }
        problems.extend(check(entry, &raw, &ing));
        let f = entry.features.to_ascii_lowercase();
        if f.contains("signed") || f.contains("pgp") || f.contains("smime") {
            let (n, p) = check_signed(entry, &raw, &ing);
            if n > 0 {
                signed_files += 1;
            }
            signed_parts += n;
            problems.extend(p);
        }
    }
    let wrapped_total: usize = wrapped.values().map(Vec::len).sum();
    println!(
        "corpus: {} files, {parsed} parsed, {wrapped_total} wrapped, {changed} changed by normalisation, \
         {signed_parts} signed multiparts in {signed_files} files served byte-exact",
        entries.len()
    );
    for (reason, files) in &wrapped {
        println!("  wrapped ({reason}): {}", files.join(", "));
    }
    for p in problems.iter().take(60) {
        println!("PROBLEM {p}");
    }
    assert!(
        problems.is_empty(),
        "{} problems (first ones printed above)",
        problems.len()
    );
    assert_eq!(parsed + wrapped_total, entries.len());
    assert!(
        signed_parts > 50,
        "only {signed_parts} signed multiparts found"
    );
}

/// Prints what ingest makes of one corpus file (`AOX_FILE=source/name.eml`).
#[test]
#[ignore = "a debugging aid, run by hand"]
fn debug_one_file() {
    let Ok(file) = std::env::var("AOX_FILE") else {
        return;
    };
    let raw = std::fs::read(corpus_dir().join(file)).unwrap_or_default();
    let first = mime::ingest(&raw);
    let second = mime::ingest(&first.wire);
    println!("wrapped: {:?}", first.wrapped);
    println!(
        "ENVELOPE 1: {}\nENVELOPE 2: {}",
        first.envelope, second.envelope
    );
    println!(
        "BODYSTRUCTURE 1: {}\nBODYSTRUCTURE 2: {}",
        first.bodystructure, second.bodystructure
    );
    for p in &first.parts {
        println!(
            "{:?} {} {} {} {} leaf={}",
            p.part,
            p.content_type,
            p.transfer_encoding,
            p.encoded_bytes,
            p.lines,
            p.bodypart.is_some()
        );
    }
    if std::env::var("AOX_WIRE").is_ok() {
        println!("{}", String::from_utf8_lossy(&first.wire));
    }
}

fn corpus_file(path: &str) -> Ingested {
    let raw = std::fs::read(corpus_dir().join(path)).unwrap();
    mime::ingest(&raw)
}

#[test]
fn rfc9051_7_5_2_known_answers_for_corpus_messages() {
    let ing = corpus_file("dovecot-imaptest/fetch-envelope__mbox001.eml");
    assert_eq!(
        ing.envelope,
        "(\"Thu, 15 Feb 2007 01:02:03 +0200\" \"subject header\" \
         ((\"From Real\" NIL \"fromuser\" \"fromdomain.org\")) \
         ((\"Sender Real\" NIL \"senderuser\" \"senderdomain.org\")) \
         ((\"ReplyTo Real\" NIL \"replytouser\" \"replytodomain.org\")) \
         ((\"To Real\" NIL \"touser\" \"todomain.org\")) \
         ((\"Cc Real\" NIL \"ccuser\" \"ccdomain.org\")) \
         ((\"Bcc Real\" NIL \"bccuser\" \"bccdomain.org\")) \
         \"<reply@to.id>\" \"<msg@id>\")"
    );
    assert_eq!(
        ing.bodystructure,
        "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 6 1 NIL NIL NIL NIL)"
    );
    assert_eq!(ing.header_date, Some(1_171_494_123));
    assert_eq!(ing.message_id.as_deref(), Some("msg@id"));
    assert_eq!(ing.search.bcc_text, "Bcc Real <bccuser@bccdomain.org>");

    let ing = corpus_file("dovecot-imaptest/fetch-bodystructure__mbox001.eml");
    assert_eq!(
        ing.bodystructure,
        "((\"TEXT\" \"X-MYOWN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 7 1 NIL NIL NIL NIL) \
         \"MIXED\" (\"BOUNDARY\" \"foo bar\") NIL NIL NIL)"
    );
    assert_eq!(
        ing.body,
        "((\"TEXT\" \"X-MYOWN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 7 1) \"MIXED\")"
    );

    let ing = corpus_file("dovecot-imaptest/fetch-body-message-rfc822__mbox001.eml");
    assert_eq!(
        ing.bodystructure,
        "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 93 \
         (\"Sun, 12 Aug 2012 12:34:56 +0300\" \"submsg\" ((NIL NIL \"sub\" \"domain.org\")) \
         ((NIL NIL \"sub\" \"domain.org\")) ((NIL NIL \"sub\" \"domain.org\")) NIL NIL NIL NIL NIL) \
         (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 13 1 NIL NIL NIL NIL) 5 \
         NIL NIL NIL NIL)"
    );
    let names: Vec<&str> = ing.parts.iter().map(|p| p.part.as_str()).collect();
    assert_eq!(names, vec!["", "1", "1.HEADER", "1.1"]);

    // No Message-ID: one derived from the raw bytes, in the wire form too.
    let ing = corpus_file("dovecot-imaptest/fetch-envelope__mbox002.eml");
    let id = ing.message_id.clone().unwrap();
    assert_eq!(
        id,
        format!("{}@archiveopteryx.invalid", &hex(&ing.raw_sha256)[..32])
    );
    assert_eq!(
        ing.envelope,
        format!(
            "(\"Thu, 15 Feb 2007 01:02:03 +0200\" NIL ((NIL NIL \"user\" \"domain\")) \
             ((NIL NIL \"user\" \"domain\")) ((NIL NIL \"user\" \"domain\")) NIL NIL NIL NIL \"<{id}>\")"
        )
    );
}
