//! Sections against the wire form: every section of every message in the
//! shared corpus is checked against `Ingested::wire`, and hand-written
//! messages (nested message/rfc822, alternative inside mixed, signed) have
//! known answers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::PathBuf;

use super::*;
use crate::mime::{Ingested, ingest};

/// Serves `spec` of `ing`, with a lookup that fails the test when asked
/// for a body part `needed` did not name.
fn get(ing: &Ingested, part: &[u32], text: Option<SectionText<'_>>) -> Option<Vec<u8>> {
    let spec = SectionSpec { part, text };
    let need = needed(&ing.parts, &spec);
    let content: HashMap<[u8; 32], &[u8]> = ing
        .leaves
        .iter()
        .map(|l| (l.hash, l.decoded.as_slice()))
        .collect();
    for h in &need {
        assert!(content.contains_key(h), "needed names a hash not stored");
    }
    let lookup = |h: &[u8; 32]| {
        assert!(
            need.contains(h),
            "{spec:?} read a body part needed did not name"
        );
        content.get(h).map(|d| Cow::Borrowed(*d))
    };
    section(&ing.parts, &lookup, &spec).unwrap()
}

fn s(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn numbers(name: &str) -> Vec<u32> {
    name.split('.').map(|n| n.parse().unwrap()).collect()
}

/// The checks every message must pass.
fn assert_sections(ing: &Ingested, what: &str) {
    let wire = &ing.wire;
    assert_eq!(get(ing, &[], None).unwrap(), *wire, "{what}: BODY[]");
    let header = get(ing, &[], Some(SectionText::Header)).unwrap();
    let text = get(ing, &[], Some(SectionText::Text)).unwrap();
    assert_eq!(
        [header.clone(), text].concat(),
        *wire,
        "{what}: HEADER+TEXT"
    );

    let subject = [String::from("SUBJECT")];
    let fields = get(ing, &[], Some(SectionText::HeaderFields(&subject))).unwrap();
    let has_subject = parse::split_entity(&header).field("subject").is_some();
    if has_subject {
        assert!(
            fields.len() > 2 && fields[..8].eq_ignore_ascii_case(b"subject:"),
            "{what}: {}",
            s(&fields)
        );
    } else {
        assert_eq!(fields, b"\r\n", "{what}");
    }
    assert!(fields.ends_with(b"\r\n"), "{what}");
    // FIELDS and FIELDS.NOT split the header between them.
    let rest = get(ing, &[], Some(SectionText::HeaderFieldsNot(&subject))).unwrap();
    assert_eq!(
        fields.len() + rest.len(),
        header.len() + 2,
        "{what}: FIELDS + FIELDS.NOT"
    );

    // Each section renders the message once; a message of thousands of
    // parts (flanker/enclosed-endless.eml) is checked at 200 of them.
    let step = ing.parts.len().div_ceil(200).max(1);
    for row in ing.parts.iter().step_by(step) {
        if row.part.is_empty() || row.part.ends_with("HEADER") {
            continue;
        }
        let n = numbers(&row.part);
        let body = get(ing, &n, None).unwrap_or_else(|| panic!("{what}: no [{}]", row.part));
        let mime = get(ing, &n, Some(SectionText::Mime)).unwrap();
        let both = [mime.clone(), body.clone()].concat();
        assert!(
            memchr::memmem::find(wire, &both).is_some(),
            "{what}: [{0}.MIME] + [{0}] is not a slice of the wire:\n{1}",
            row.part,
            s(&both)
        );
        // What follows the header column is the content the row measures.
        assert_eq!(
            body.len() as u64,
            split_header_column(&row.header).1.len() as u64 + row.encoded_bytes,
            "{what}: size of [{}]",
            row.part
        );
        let spec = SectionSpec {
            part: &n,
            text: None,
        };
        let tree = Tree::new(&ing.parts);
        let r = tree.get(&row.part).unwrap();
        if let (Some(h), false, None) = (row.bodypart, is_multipart(row), tree.opaque_ancestor(r)) {
            let leaf = ing.leaves.iter().find(|l| l.hash == h).unwrap();
            assert_eq!(
                body,
                crate::mime::serve_leaf(&leaf.decoded, &row.transfer_encoding).as_ref(),
                "{what}: leaf [{}]",
                row.part
            );
            assert_eq!(needed(&ing.parts, &spec), vec![h], "{what}");
        }
        if is_message(row) {
            let h = get(ing, &n, Some(SectionText::Header)).unwrap();
            let t = get(ing, &n, Some(SectionText::Text)).unwrap();
            assert_eq!(
                [h, t].concat(),
                body,
                "{what}: [{0}.HEADER] + [{0}.TEXT] != [{0}]",
                row.part
            );
        } else {
            assert_eq!(get(ing, &n, Some(SectionText::Header)), None, "{what}");
        }
    }
}

fn corpus_files() -> Vec<PathBuf> {
    // Beside the main checkout, or two levels up from a worktree under wt/.
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let root = ["../shared/corpus/real", "../../shared/corpus/real"]
        .iter()
        .map(|p| manifest.join(p))
        .find(|p| p.is_dir())
        .expect("the shared corpus beside the checkout");
    let mut out = Vec::new();
    let mut dirs = vec![root];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "eml") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn rfc9051_6_4_5_every_section_of_the_real_corpus_is_cut_from_body() {
    let files = corpus_files();
    assert!(files.len() > 1000, "the corpus is missing: {}", files.len());
    let mut signed_children = 0;
    for path in &files {
        let raw = std::fs::read(path).unwrap();
        let ing = ingest(&raw);
        assert_sections(&ing, &path.display().to_string());
        let tree = Tree::new(&ing.parts);
        signed_children += (0..ing.parts.len())
            .filter(|&r| tree.opaque_ancestor(r).is_some())
            .count();
    }
    // The corpus has signed messages; their parts were checked too.
    assert!(signed_children > 100, "{signed_children}");
}

const HEAD: &str = "From: a@example.org\r\nTo: b@example.org\r\n\
    Date: Mon, 2 Jan 2006 15:04:05 +0000\r\nMessage-ID: <m@example.org>\r\nMIME-Version: 1.0\r\n";

fn clean(body: &str) -> Ingested {
    let raw = format!("{HEAD}{body}");
    let ing = ingest(raw.as_bytes());
    assert_eq!(ing.wrapped, None);
    assert_eq!(s(&ing.wire), raw, "the test message must be normal already");
    assert_sections(&ing, "hand-written");
    ing
}

#[test]
fn rfc9051_6_4_5_single_part_message() {
    let ing = clean(
        "Subject: Hello\r\nX-Long: one\r\n two\r\nsubject: again\r\nContent-Type: text/plain\r\n\r\nBody.\r\n",
    );
    assert_eq!(get(&ing, &[1], None).unwrap(), b"Body.\r\n");
    assert_eq!(
        get(&ing, &[], Some(SectionText::Text)).unwrap(),
        b"Body.\r\n"
    );
    // Part 1's MIME header is the message's own.
    assert_eq!(
        get(&ing, &[1], Some(SectionText::Mime)).unwrap(),
        get(&ing, &[], Some(SectionText::Header)).unwrap()
    );
    assert_eq!(get(&ing, &[2], None), None);
    assert_eq!(get(&ing, &[0], None), None);
    assert_eq!(get(&ing, &[1, 1], None), None);
    assert_eq!(get(&ing, &[], Some(SectionText::Mime)), None);
    assert_eq!(get(&ing, &[1], Some(SectionText::Text)), None);
    // Names ignore case, continuation lines come along, order is the message's.
    let names = ["x-LONG".to_string(), "Subject".to_string()];
    assert_eq!(
        s(&get(&ing, &[], Some(SectionText::HeaderFields(&names))).unwrap()),
        "Subject: Hello\r\nX-Long: one\r\n two\r\nsubject: again\r\n\r\n"
    );
    let names = [
        "subject".to_string(),
        "x-long".into(),
        "message-id".into(),
        "date".into(),
    ];
    assert_eq!(
        s(&get(&ing, &[], Some(SectionText::HeaderFieldsNot(&names))).unwrap()),
        "From: a@example.org\r\nTo: b@example.org\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n"
    );
    let none = ["X-Absent".to_string()];
    assert_eq!(
        get(&ing, &[], Some(SectionText::HeaderFields(&none))).unwrap(),
        b"\r\n"
    );
    // HEADER reads no body part.
    let spec = SectionSpec {
        part: &[],
        text: Some(SectionText::Header),
    };
    assert!(needed(&ing.parts, &spec).is_empty());
}

#[test]
fn rfc9051_6_4_5_alternative_inside_mixed_and_nested_messages() {
    let ing = clean(
        "Subject: nest\r\nContent-Type: multipart/mixed; boundary=outer\r\n\r\n\
         --outer\r\nContent-Type: multipart/alternative; boundary=alt\r\n\r\n\
         --alt\r\nContent-Type: text/plain\r\n\r\nplain\r\n\
         --alt\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--alt--\r\n\r\n\
         --outer\r\nContent-Type: message/rfc822\r\n\r\n\
         From: c@example.org\r\nSubject: enclosed\r\nContent-Type: multipart/mixed; boundary=deep\r\n\r\n\
         --deep\r\nContent-Type: text/plain\r\n\r\ndeep text\r\n\
         --deep\r\nContent-Type: message/rfc822\r\n\r\nSubject: deepest\r\n\r\ndeepest body\r\n--deep--\r\n\r\n\
         --outer--\r\n",
    );
    let t = |p: &[u32], x: Option<SectionText<'_>>| s(&get(&ing, p, x).unwrap());
    assert_eq!(t(&[1, 1], None), "plain");
    assert_eq!(t(&[1, 2], None), "<p>html</p>");
    assert_eq!(
        t(&[1, 2], Some(SectionText::Mime)),
        "Content-Type: text/html\r\n\r\n"
    );
    assert_eq!(
        t(&[1], None),
        "--alt\r\nContent-Type: text/plain\r\n\r\nplain\r\n\
         --alt\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--alt--\r\n"
    );
    assert_eq!(
        t(&[1], Some(SectionText::Mime)),
        "Content-Type: multipart/alternative; boundary=alt\r\n\r\n"
    );
    assert_eq!(
        t(&[2], Some(SectionText::Mime)),
        "Content-Type: message/rfc822\r\n\r\n"
    );
    assert!(t(&[2], None).starts_with("From: c@example.org\r\nSubject: enclosed\r\n"));
    assert!(t(&[2], None).ends_with("deepest body\r\n--deep--\r\n"));
    assert_eq!(
        t(&[2], Some(SectionText::Header)),
        "From: c@example.org\r\nSubject: enclosed\r\nContent-Type: multipart/mixed; boundary=deep\r\n\r\n"
    );
    let subject = ["subject".to_string()];
    assert_eq!(
        t(&[2], Some(SectionText::HeaderFields(&subject))),
        "Subject: enclosed\r\n\r\n"
    );
    assert!(t(&[2], Some(SectionText::Text)).starts_with("--deep\r\n"));
    assert_eq!(t(&[2, 1], None), "deep text");
    assert_eq!(t(&[2, 2, 1], None), "deepest body");
    assert_eq!(t(&[2, 2], Some(SectionText::Text)), "deepest body");
    assert_eq!(
        t(&[2, 2], Some(SectionText::Header)),
        "Subject: deepest\r\n\r\n"
    );
    // Single-part enclosed message: its part 1's MIME header is its header.
    assert_eq!(
        t(&[2, 2, 1], Some(SectionText::Mime)),
        "Subject: deepest\r\n\r\n"
    );
    // [1.2] reads the HTML part only.
    let html = ing
        .leaves
        .iter()
        .find(|l| l.decoded == b"<p>html</p>")
        .unwrap();
    let spec = SectionSpec {
        part: &[1, 2],
        text: None,
    };
    assert_eq!(needed(&ing.parts, &spec), vec![html.hash]);
}

#[test]
fn rfc9051_6_4_5_parts_of_a_signed_message_are_cut_from_its_exact_bytes() {
    let ing = clean(
        "Subject: signed\r\nContent-Type: multipart/signed; boundary=sig; protocol=\"application/pgp-signature\"; micalg=pgp-sha256\r\n\r\n\
         preamble\r\n--sig\r\nContent-Type: multipart/mixed; boundary=in\r\n\r\n\
         --in\r\nContent-Type: text/plain\r\n\r\nsigned text\r\n\
         --in\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n--in--\r\n\r\n\
         --sig\r\nContent-Type: application/pgp-signature\r\n\r\n\
         -----BEGIN PGP SIGNATURE-----\r\nxyz\r\n-----END PGP SIGNATURE-----\r\n--sig--\r\n",
    );
    let t = |p: &[u32], x: Option<SectionText<'_>>| s(&get(&ing, p, x).unwrap());
    assert_eq!(t(&[1, 1], None), "signed text");
    assert_eq!(
        t(&[1, 1], Some(SectionText::Mime)),
        "Content-Type: text/plain\r\n\r\n"
    );
    assert_eq!(
        t(&[1], Some(SectionText::Mime)),
        "Content-Type: multipart/mixed; boundary=in\r\n\r\n"
    );
    assert!(t(&[1], None).starts_with("--in\r\nContent-Type: text/plain\r\n"));
    assert!(t(&[1], None).ends_with("inner body\r\n--in--\r\n"));
    assert_eq!(t(&[1, 2], None), "Subject: inner\r\n\r\ninner body");
    assert_eq!(
        t(&[1, 2], Some(SectionText::Header)),
        "Subject: inner\r\n\r\n"
    );
    assert_eq!(t(&[1, 2], Some(SectionText::Text)), "inner body");
    assert_eq!(t(&[1, 2, 1], None), "inner body");
    assert_eq!(
        t(&[2], None),
        "-----BEGIN PGP SIGNATURE-----\r\nxyz\r\n-----END PGP SIGNATURE-----"
    );
    assert_eq!(get(&ing, &[3], None), None);
    assert_eq!(get(&ing, &[1, 3], None), None);
    // Everything inside reads the signed part's raw body, and only that.
    let signed = ing.parts.iter().find(|p| p.part.is_empty()).unwrap();
    for (part, text) in [
        (&[1, 1][..], None),
        (&[1, 2][..], Some(SectionText::Header)),
        (&[2][..], Some(SectionText::Mime)),
    ] {
        let spec = SectionSpec { part, text };
        assert_eq!(
            needed(&ing.parts, &spec),
            signed.bodypart.into_iter().collect::<Vec<_>>()
        );
    }
}

#[test]
fn rfc9051_6_4_5_a_signed_enclosed_message_is_cut_from_its_bytes() {
    let ing = clean(
        "Subject: fwd\r\nContent-Type: multipart/mixed; boundary=o\r\n\r\n\
         --o\r\nContent-Type: text/plain\r\n\r\nsee below\r\n\
         --o\r\nContent-Type: message/rfc822\r\n\r\n\
         Subject: s\r\nContent-Type: multipart/signed; boundary=sig; protocol=\"application/pgp-signature\"\r\n\r\n\
         --sig\r\nContent-Type: text/plain\r\n\r\nsigned\r\n\
         --sig\r\nContent-Type: application/pgp-signature\r\n\r\nSIG\r\n--sig--\r\n\
         --o--\r\n",
    );
    let t = |p: &[u32], x: Option<SectionText<'_>>| s(&get(&ing, p, x).unwrap());
    assert_eq!(t(&[2, 1], None), "signed");
    assert_eq!(t(&[2, 2], None), "SIG");
    assert_eq!(
        t(&[2, 2], Some(SectionText::Mime)),
        "Content-Type: application/pgp-signature\r\n\r\n"
    );
    assert_eq!(t(&[1], None), "see below");
}

#[test]
fn rfc9051_6_4_5_partial_is_clipped() {
    let b = b"0123456789";
    assert_eq!(partial(b, 0, 4), b"0123");
    assert_eq!(partial(b, 8, 4), b"89");
    assert_eq!(partial(b, 10, 4), b"");
    assert_eq!(partial(b, u32::MAX, u32::MAX), b"");
    assert_eq!(partial(b, 3, 0), b"");
    assert_eq!(partial(b, 2, u32::MAX), b"23456789");
}

#[test]
fn a_message_without_rows_is_an_error_not_a_panic() {
    let lookup = |_: &[u8; 32]| None;
    let spec = SectionSpec {
        part: &[1],
        text: None,
    };
    assert_eq!(
        section(&[], &lookup, &spec),
        Err(RenderError::MissingPart(String::new()))
    );
    assert!(needed(&[], &spec).is_empty());
}

#[test]
fn missing_content_is_an_error() {
    let ing = clean("Subject: x\r\nContent-Type: text/plain\r\n\r\nBody.\r\n");
    let lookup = |_: &[u8; 32]| None;
    let spec = SectionSpec {
        part: &[1],
        text: None,
    };
    assert_eq!(
        section(&ing.parts, &lookup, &spec),
        Err(RenderError::MissingContent("1".into()))
    );
}
