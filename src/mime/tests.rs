//! Tests of the whole pipeline: idempotence (property tests over generated
//! messages), deduplication, signed parts, wrapping, limits, the Date and
//! Message-ID rules, and known ENVELOPE/BODYSTRUCTURE answers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;

use proptest::prelude::*;

use super::*;

fn rendered(ing: &Ingested) -> Result<Vec<u8>, RenderError> {
    let content: HashMap<[u8; 32], Vec<u8>> = ing
        .leaves
        .iter()
        .map(|l| (l.hash, l.decoded.clone()))
        .collect();
    render(&ing.parts, &|h| content.get(h).cloned())
}

/// The checks every ingested message must pass.
fn assert_sound(raw: &[u8]) -> Ingested {
    let first = ingest(raw);
    assert_eq!(rendered(&first).unwrap(), first.wire, "render != wire");
    let second = ingest(&first.wire);
    assert_eq!(
        String::from_utf8_lossy(&second.wire),
        String::from_utf8_lossy(&first.wire),
        "not idempotent"
    );
    assert_eq!(second.wire, first.wire);
    assert_eq!(second.bodystructure, first.bodystructure);
    assert_eq!(second.envelope, first.envelope);
    assert!(second.wrapped.is_none(), "the normalised form must parse");
    assert_eq!(first.original_kept, first.wire != raw);
    assert!(first.wire.ends_with(b"\r\n"), "the message ends with CRLF");
    // Each leaf's size is that of the bytes served for it.
    for row in &first.parts {
        if let (Some(hash), false) = (row.bodypart, row.content_type.starts_with("multipart/")) {
            let leaf = first.leaves.iter().find(|l| l.hash == hash).unwrap();
            let served = serve_leaf(&leaf.decoded, &row.transfer_encoding);
            assert_eq!(
                served.len() as u64,
                row.encoded_bytes,
                "size of {:?}",
                row.part
            );
            assert_eq!(
                encode::count_lines(&served),
                row.lines,
                "lines of {:?}",
                row.part
            );
        }
    }
    first
}

fn leaf_of<'a>(ing: &'a Ingested, part: &str) -> &'a Leaf {
    let hash = ing
        .parts
        .iter()
        .find(|p| p.part == part)
        .and_then(|p| p.bodypart)
        .unwrap();
    ing.leaves.iter().find(|l| l.hash == hash).unwrap()
}

const SIMPLE: &[u8] = b"From: Alice Example <alice@example.com>\r\n\
To: bob@example.net, \"Carol, C.\" <carol@example.org>\r\n\
Subject: Hello\r\n\
Date: Tue, 1 Jul 2003 10:52:37 +0200\r\n\
Message-ID: <1234@example.com>\r\n\
\r\n\
Hi Bob.\r\n";

#[test]
fn rfc9051_7_5_2_envelope_and_bodystructure_of_a_simple_message() {
    let ing = assert_sound(SIMPLE);
    assert!(!ing.original_kept, "a clean message is served as it came");
    assert_eq!(ing.wire, SIMPLE);
    assert_eq!(
        ing.envelope,
        "(\"Tue, 1 Jul 2003 10:52:37 +0200\" \"Hello\" \
         ((\"Alice Example\" NIL \"alice\" \"example.com\")) \
         ((\"Alice Example\" NIL \"alice\" \"example.com\")) \
         ((\"Alice Example\" NIL \"alice\" \"example.com\")) \
         ((NIL NIL \"bob\" \"example.net\")(\"Carol, C.\" NIL \"carol\" \"example.org\")) \
         NIL NIL NIL \"<1234@example.com>\")"
    );
    assert_eq!(
        ing.bodystructure,
        "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 9 1 NIL NIL NIL NIL)"
    );
    assert_eq!(
        ing.body,
        "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 9 1)"
    );
    assert_eq!(ing.header_date, Some(1_057_049_557));
    assert_eq!(ing.message_id.as_deref(), Some("1234@example.com"));
    assert_eq!(ing.search.subject, "Hello");
    assert_eq!(ing.search.from_text, "Alice Example <alice@example.com>");
    assert_eq!(
        ing.search.to_text,
        "bob@example.net, Carol, C. <carol@example.org>"
    );
    assert!(ing.search.headers.contains("Subject: Hello\n"));
    let names: Vec<&str> = ing.parts.iter().map(|p| p.part.as_str()).collect();
    assert_eq!(names, vec!["", "1"]);
    assert_eq!(ing.parts[1].encoded_bytes, 9);
    assert_eq!(leaf_of(&ing, "1").text.as_deref(), Some("Hi Bob.\r\n"));
}

#[test]
fn rfc9051_7_5_2_group_syntax_and_defaults() {
    let raw = b"From: a@example.com\r\nTo: Friends: b@example.com, C <c@example.com>;, undisclosed-recipients:;\r\nSubject:\r\n\r\nx";
    let ing = assert_sound(raw);
    let id = ing.message_id.clone().unwrap();
    assert_eq!(
        ing.envelope,
        format!(
            "(NIL \"\" ((NIL NIL \"a\" \"example.com\")) ((NIL NIL \"a\" \"example.com\")) \
             ((NIL NIL \"a\" \"example.com\")) \
             ((NIL NIL \"Friends\" NIL)(NIL NIL \"b\" \"example.com\")(\"C\" NIL \"c\" \"example.com\")(NIL NIL NIL NIL)\
             (NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) \
             NIL NIL NIL \"<{id}>\")"
        )
    );
}

#[test]
fn rfc9051_7_5_2_multipart_bodystructure_with_extension_data() {
    let raw = b"From: a@example.com\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n\
preamble\r\n--XX\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Language: en, de\r\n\r\nhello\r\n\
--XX\r\nContent-Type: application/pdf; name=a.pdf\r\nContent-Disposition: attachment; filename=\"a b.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\nContent-ID: <id1>\r\n\r\nJVBERi0=\r\n--XX--\r\n";
    let ing = assert_sound(raw);
    assert_eq!(
        ing.bodystructure,
        "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 5 1 NIL NIL (\"en\" \"de\") NIL)\
         (\"APPLICATION\" \"PDF\" (\"NAME\" \"a.pdf\") \"<id1>\" NIL \"BASE64\" 8 NIL \
         (\"ATTACHMENT\" (\"FILENAME\" \"a b.pdf\")) NIL NIL) \
         \"MIXED\" (\"BOUNDARY\" \"XX\") NIL NIL NIL)"
    );
    assert_eq!(
        ing.body,
        "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 5 1)\
         (\"APPLICATION\" \"PDF\" (\"NAME\" \"a.pdf\") \"<id1>\" NIL \"BASE64\" 8) \"MIXED\")"
    );
    // The preamble is kept, in the multipart's header column.
    let (block, preamble) = split_header_column(&ing.parts[0].header);
    assert!(block.ends_with(b"\r\n\r\n"));
    assert_eq!(preamble, b"preamble\r\n");
    assert_eq!(leaf_of(&ing, "2").decoded, b"%PDF-");
    assert_eq!(ing.wire.len() as u64, ing.wire.len() as u64);
}

#[test]
fn rfc9051_7_5_2_message_rfc822_parts_and_numbering() {
    let raw = b"From: a@example.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
--b\r\n\r\nouter text\r\n\
--b\r\nContent-Type: message/rfc822\r\n\r\n\
From: inner@example.com\r\nSubject: inner\r\nContent-Type: multipart/alternative; boundary=c\r\n\r\n\
--c\r\nContent-Type: text/plain\r\n\r\nplain\r\n--c\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--c--\r\n\
\r\n--b--\r\n";
    let ing = assert_sound(raw);
    let names: Vec<&str> = ing.parts.iter().map(|p| p.part.as_str()).collect();
    assert_eq!(names, vec!["", "1", "2", "2.HEADER", "2.1", "2.2"]);
    let msg = &ing.parts[2];
    assert_eq!(msg.content_type, "message/rfc822");
    assert_eq!(
        ing.bodystructure,
        "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 10 1 NIL NIL NIL NIL)\
         (\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 184 \
         (NIL \"inner\" ((NIL NIL \"inner\" \"example.com\")) ((NIL NIL \"inner\" \"example.com\")) \
         ((NIL NIL \"inner\" \"example.com\")) NIL NIL NIL NIL NIL) \
         ((\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 5 1 NIL NIL NIL NIL)\
         (\"TEXT\" \"HTML\" NIL NIL NIL \"7BIT\" 11 1 NIL NIL NIL NIL) \
         \"ALTERNATIVE\" (\"BOUNDARY\" \"c\") NIL NIL NIL) 13 NIL NIL NIL NIL) \
         \"MIXED\" (\"BOUNDARY\" \"b\") NIL NIL NIL)"
    );
    assert_eq!(leaf_of(&ing, "2.2").text.as_deref(), Some("html\n"));
    // encoded_bytes of the message/rfc822 part is the whole enclosed message.
    let start = ing
        .wire
        .windows(24)
        .position(|w| w == b"From: inner@example.com\r")
        .unwrap();
    let end = ing.wire.len() - b"\r\n--b--\r\n".len();
    assert_eq!(msg.encoded_bytes, (end - start) as u64);
}

#[test]
fn issue4_same_attachment_in_base64_and_qp_is_one_body_part() {
    let content: Vec<u8> = (0u8..=255).cycle().take(3000).collect();
    let b64 = String::from_utf8(encode::encode_base64(&content)).unwrap();
    let qp = String::from_utf8(encode::encode_qp(&content)).unwrap();
    // A third sender wraps base64 at 64 columns, LF line endings.
    let b64_64: String =
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &content)
            .as_bytes()
            .chunks(64)
            .map(|c| format!("{}\n", String::from_utf8_lossy(c)))
            .collect();
    let message = |cte: &str, body: &str| {
        format!(
            "From: a@example.com\r\nSubject: s\r\nMessage-ID: <same@example.com>\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n\
             --z\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: {cte}\r\n\r\n{body}\r\n--z--\r\n"
        )
        .into_bytes()
    };
    let a = assert_sound(&message("base64", &b64));
    let b = assert_sound(&message("quoted-printable", &qp));
    let c = assert_sound(&message("base64", &b64_64));
    let (la, lb, lc) = (leaf_of(&a, "1"), leaf_of(&b, "1"), leaf_of(&c, "1"));
    assert_eq!(la.decoded, content);
    assert_eq!(la.hash, lb.hash);
    assert_eq!(la.hash, lc.hash);
    assert_eq!(la.hash, parts::sha256(&content));
    // Each is served canonically in its own encoding.
    assert_eq!(a.parts[1].transfer_encoding, "base64");
    assert_eq!(b.parts[1].transfer_encoding, "quoted-printable");
    assert_eq!(
        a.wire, c.wire,
        "the same content in base64 is served the same"
    );
}

/// A multipart message already in the normal form: CRLF, clean headers, a
/// text part, a base64 attachment in 76-column lines, a canonical
/// quoted-printable part, and the final CRLF.
fn canonical_multipart() -> Vec<u8> {
    let attachment: Vec<u8> = (0u8..=255).cycle().take(700).collect();
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &attachment);
    let b64_lines: Vec<&str> = b64
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "From: Alice <alice@example.com>\r\nTo: bob@example.net\r\nSubject: canonical\r\n\
         Date: Tue, 1 Jul 2003 10:52:37 +0200\r\nMessage-ID: <canonical@example.com>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"=_b\"\r\n\r\n\
         This is a multi-part message in MIME format.\r\n\
         --=_b\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nHello Bob.\r\n\r\nAlice\r\n\
         --=_b\r\nContent-Type: application/octet-stream; name=\"data.bin\"\r\n\
         Content-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"data.bin\"\r\n\r\n{}\r\n\
         --=_b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
         Gr=C3=BC=C3=9Fe aus K=C3=B6ln, a=3Db, and a line long enough to need a soft=\r\n \
         break.\r\n\
         --=_b--\r\n",
        b64_lines.join("\r\n")
    )
    .into_bytes()
}

#[test]
fn rfc2046_5_1_1_a_canonical_multipart_normalises_to_itself() {
    let m = canonical_multipart();
    assert!(
        m.windows(5).any(|w| w == b"=\r\n--"),
        "base64 then delimiter"
    );
    let ing = assert_sound(&m);
    assert!(ing.wrapped.is_none());
    assert_eq!(
        String::from_utf8_lossy(&ing.wire),
        String::from_utf8_lossy(&m)
    );
    assert!(!ing.original_kept, "a canonical message is kept once");
    assert_eq!(ing.wire, m);
    // The base64 part's content is its lines without the delimiter's CRLF,
    // which is what FETCH BODY[2] serves.
    let row = ing.parts.iter().find(|p| p.part == "2").unwrap();
    let served = serve_leaf(&leaf_of(&ing, "2").decoded, &row.transfer_encoding);
    assert!(!served.ends_with(b"\r\n"));
    let needle = [&b"\r\n\r\n"[..], &served, b"\r\n--=_b\r\n"].concat();
    assert!(ing.wire.windows(needle.len()).any(|w| w == needle));
    assert_eq!(row.encoded_bytes, served.len() as u64);
    assert_eq!(row.lines, 13);
    assert_eq!(leaf_of(&ing, "2").decoded.len(), 700);
    assert_eq!(row.encoded_bytes, 936 + 12 * 2);
    // The same with lowercase QP hex, LF line endings and no final line
    // break is repaired to exactly this.
    let sloppy = String::from_utf8(m.clone())
        .unwrap()
        .replace("K=C3=B6ln", "K=c3=b6ln")
        .replace("\r\n", "\n");
    let sloppy = sloppy.trim_end_matches('\n');
    let ing = assert_sound(sloppy.as_bytes());
    assert!(ing.original_kept);
    assert_eq!(ing.wire, m);
}

#[test]
fn a_canonical_single_part_base64_message_normalises_to_itself() {
    let data: Vec<u8> = (0u8..=255).rev().cycle().take(200).collect();
    let mut m = b"From: a@example.com\r\nSubject: s\r\nDate: Tue, 1 Jul 2003 10:52:37 +0200\r\n\
Message-ID: <b64@example.com>\r\nContent-Type: application/octet-stream\r\n\
Content-Transfer-Encoding: base64\r\n\r\n"
        .to_vec();
    m.extend_from_slice(&encode::encode_base64(&data));
    m.extend_from_slice(b"\r\n");
    let ing = assert_sound(&m);
    assert!(!ing.original_kept);
    assert_eq!(ing.wire, m);
    assert_eq!(leaf_of(&ing, "1").decoded, data);
    // BODY[1] is the leaf; the final CRLF is the message's.
    assert_eq!(ing.parts[1].encoded_bytes, 268 + 3 * 2);
    // Without the final line break, the same bytes come out.
    let ing = assert_sound(&m[..m.len() - 2]);
    assert_eq!(ing.wire, m);
}

#[test]
fn a_message_without_a_final_line_break_gets_one() {
    let mbox_round_trip = |wire: &[u8]| {
        // An mbox writer ends the message with LF; importing makes CRLF.
        let exported = super::lf_form(wire);
        assert!(exported.ends_with(b"\n"));
        assert_eq!(
            ingest(&exported).wire,
            wire,
            "export and re-import changed it"
        );
    };
    // Plain text: the last line gets CRLF, in the content too.
    let ing = assert_sound(b"From: a@b\r\nMessage-ID: <x@b>\r\n\r\nlast line");
    assert_eq!(
        ing.wire,
        b"From: a@b\r\nMessage-ID: <x@b>\r\n\r\nlast line\r\n"
    );
    assert_eq!(leaf_of(&ing, "1").decoded, b"last line\r\n");
    mbox_round_trip(&ing.wire);
    // Quoted-printable ending in a soft line break: the same.
    let ing = assert_sound(
        b"From: a@b\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=E9=\r\n",
    );
    assert!(ing.wire.ends_with(b"\r\n\r\ncaf=E9\r\n"));
    mbox_round_trip(&ing.wire);
    // Binary content is not changed; its base64 form ends with CRLF.
    let ing = assert_sound(b"From: a@b\r\nContent-Type: application/octet-stream\r\n\r\n\x00\x01");
    assert!(ing.wire.ends_with(b"\r\n\r\nAAE=\r\n"));
    assert_eq!(leaf_of(&ing, "1").decoded, b"\x00\x01");
    mbox_round_trip(&ing.wire);
    // An enclosed message that ends the message, and one encoded in base64.
    let inner = b"Subject: inner\r\n\r\ninner text";
    let mut raw = b"From: a@b\r\nContent-Type: message/rfc822\r\n\r\n".to_vec();
    raw.extend_from_slice(inner);
    let ing = assert_sound(&raw);
    assert!(ing.wire.ends_with(b"\r\n\r\ninner text\r\n"));
    mbox_round_trip(&ing.wire);
    let mut raw =
        b"From: a@b\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            .to_vec();
    raw.extend_from_slice(&encode::encode_base64(inner));
    let ing = assert_sound(&raw);
    assert!(ing.wire.ends_with(b"\r\n\r\ninner text\r\n"));
    mbox_round_trip(&ing.wire);
    // A signed message whose epilogue lacks the line break: the signed
    // bytes are untouched, the message still ends with CRLF.
    let raw = b"From: a@b\r\nContent-Type: multipart/signed; protocol=\"application/pgp-signature\"; boundary=S\r\n\r\n\
--S\r\nContent-Type: text/plain\r\n\r\nsigned  \r\n--S\r\nContent-Type: application/pgp-signature\r\n\r\nsig\r\n--S--";
    let ing = assert_sound(raw);
    assert!(ing.wire.windows(10).any(|w| w == b"signed  \r\n"));
    assert!(ing.wire.ends_with(b"--S--\r\n"));
    mbox_round_trip(&ing.wire);
    // A header without a body.
    let ing = assert_sound(b"From: a@b\r\nMessage-ID: <x@b>");
    assert_eq!(ing.wire, b"From: a@b\r\nMessage-ID: <x@b>\r\n\r\n");
}

#[test]
fn rfc5322_3_6_missing_date_from_received_and_synthetic_message_id() {
    let raw = b"Received: from a by b; Wed, 2 Jul 2003 08:00:00 +0000\r\n\
Received: from c by d; Tue, 1 Jul 2003 10:00:00 +0000\r\n\
From: a@example.com\r\n\r\nbody\r\n";
    let ing = assert_sound(raw);
    let sha_hex: String = ing.raw_sha256[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let wire = String::from_utf8(ing.wire.clone()).unwrap();
    // The bottom-most Received is the first hop.
    assert!(
        wire.contains("\r\nDate: Tue, 1 Jul 2003 10:00:00 +0000\r\n"),
        "{wire}"
    );
    assert!(wire.contains(&format!(
        "\r\nMessage-ID: <{sha_hex}@archiveopteryx.invalid>\r\n"
    )));
    assert_eq!(ing.header_date, Some(1_057_053_600));
    assert_eq!(
        ing.message_id,
        Some(format!("{sha_hex}@{SYNTHETIC_ID_DOMAIN}"))
    );
    // No Received either: no Date, and the importer's date stands.
    let ing = assert_sound(b"From: a@example.com\r\n\r\nbody\r\n");
    assert_eq!(ing.header_date, None);
    assert!(ing.envelope.starts_with("(NIL NIL "));
    // The same raw message always gets the same Message-ID.
    assert_eq!(
        ing.message_id,
        assert_sound(b"From: a@example.com\r\n\r\nbody\r\n").message_id
    );
}

#[test]
fn design_5_crlf_8bit_headers_and_charset_repair() {
    let raw =
        "From: Jörg <j@example.de>\nSubject: Grüße\nContent-Type: text/plain\n\nGrüße aus Köln\n"
            .as_bytes();
    let ing = assert_sound(raw);
    let (block, _) = split_header_column(&ing.parts[0].header);
    assert!(block.is_ascii(), "served headers are 7-bit");
    assert!(!ing.wire.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'));
    assert_eq!(ing.search.subject, "Grüße");
    assert_eq!(ing.search.from_text, "Jörg <j@example.de>");
    // unlabelled UTF-8 text is labelled UTF-8 and served 8bit
    assert!(
        ing.bodystructure
            .starts_with("(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"8BIT\" 19 1"),
        "{}",
        ing.bodystructure
    );
    assert!(
        ing.envelope
            .contains("((\"=?UTF-8?Q?J=C3=B6rg?=\" NIL \"j\" \"example.de\"))")
    );
    assert_eq!(
        leaf_of(&ing, "1").text.as_deref(),
        Some("Grüße aus Köln\r\n")
    );
    // Latin-1 bytes under an ASCII label become windows-1252.
    let raw = b"From: a@b\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\ncaf\xe9\r\n";
    let ing = assert_sound(raw);
    assert!(ing.bodystructure.contains("(\"CHARSET\" \"windows-1252\")"));
    assert_eq!(leaf_of(&ing, "1").text.as_deref(), Some("café\r\n"));
}

#[test]
fn rfc2045_transfer_encoding_repairs() {
    // 7bit declared, but a line over 998 octets: served quoted-printable.
    let long = "x".repeat(1500);
    let raw = format!("From: a@b\r\nContent-Transfer-Encoding: 7bit\r\n\r\n{long}\r\n");
    let ing = assert_sound(raw.as_bytes());
    assert_eq!(ing.parts[1].transfer_encoding, "quoted-printable");
    assert_eq!(leaf_of(&ing, "1").decoded, format!("{long}\r\n").as_bytes());
    // A typo in the encoding name, where the intent is clear.
    let raw = b"From: a@b\r\nContent-Transfer-Encoding: base-64\r\n\r\naGVsbG8=\r\n";
    let ing = assert_sound(raw);
    assert_eq!(leaf_of(&ing, "1").decoded, b"hello");
    assert_eq!(ing.parts[1].transfer_encoding, "base64");
    // NUL in an unencoded binary attachment: base64.
    let raw = b"From: a@b\r\nContent-Type: application/octet-stream\r\n\r\n\x00\x01\x02";
    let ing = assert_sound(raw);
    assert_eq!(ing.parts[1].transfer_encoding, "base64");
    assert_eq!(leaf_of(&ing, "1").decoded, b"\x00\x01\x02");
}

#[test]
fn rfc2046_5_1_broken_boundaries() {
    // Declared boundary absent, but the body plainly uses another.
    let raw = b"From: a@b\r\nContent-Type: multipart/mixed; boundary=nope\r\n\r\n\
--real\r\n\r\none\r\n--real\r\n\r\ntwo\r\n--real--\r\n";
    let ing = assert_sound(raw);
    assert_eq!(ing.parts.len(), 3);
    assert!(ing.bodystructure.contains("(\"BOUNDARY\" \"real\")"));
    // No close delimiter: one is supplied.
    let raw = b"From: a@b\r\nContent-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\n\r\none\r\n";
    let ing = assert_sound(raw);
    assert!(ing.wire.ends_with(b"one\r\n\r\n--q--\r\n"));
    // No delimiter at all: the body is the text it is.
    let raw = b"From: a@b\r\nContent-Type: multipart/mixed\r\n\r\njust text\r\n";
    let ing = assert_sound(raw);
    assert_eq!(ing.parts[1].content_type, "text/plain");
    assert_eq!(leaf_of(&ing, "1").decoded, b"just text\r\n");
}

#[test]
fn rfc1847_signed_content_is_served_byte_exact() {
    // Deliberately non-canonical content: an over-long QP line, trailing
    // whitespace, odd header folding. Repairing any of it would break the
    // signature.
    let signed_part = "Content-Type: text/plain; charset=iso-8859-1\r\n\
Content-Transfer-Encoding: quoted-printable\r\nX-Fold:  a\r\n\t  b\r\n\r\n\
caf=E9 \r\n-- \r\nsig\r\n";
    let raw = format!(
        "From: a@b\r\nSubject: signed\r\nContent-Type: multipart/signed; micalg=pgp-sha256;\r\n protocol=\"application/pgp-signature\"; boundary=\"S\"\r\n\r\n\
This is an OpenPGP/MIME signed message\r\n--S\r\n{signed_part}\r\n--S\r\n\
Content-Type: application/pgp-signature; name=signature.asc\r\n\r\n\
-----BEGIN PGP SIGNATURE-----\r\nAAAA\r\n-----END PGP SIGNATURE-----\r\n\r\n--S--\r\n\r\nepilogue\r\n"
    );
    let ing = assert_sound(raw.as_bytes());
    let needle = format!("--S\r\n{signed_part}\r\n--S\r\n");
    assert!(
        ing.wire
            .windows(needle.len())
            .any(|w| w == needle.as_bytes()),
        "the signed part is not byte-identical"
    );
    let top = &ing.parts[0];
    assert_eq!(top.content_type, "multipart/signed");
    assert!(top.bodypart.is_some());
    // Children describe it, for BODYSTRUCTURE and search.
    assert!(ing.bodystructure.starts_with(
        "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"iso-8859-1\") NIL NIL \"QUOTED-PRINTABLE\" "
    ));
    assert!(
        ing.bodystructure
            .contains("\"SIGNED\" (\"MICALG\" \"pgp-sha256\"")
    );
    // (QP: trailing whitespace on a line is transport padding.)
    assert_eq!(
        leaf_of(&ing, "1").text.as_deref(),
        Some("café\r\n--\r\nsig\r\n")
    );
    // LF-only input: the signed bytes are the CRLF form, which is what the
    // signature was made over (RFC 3156 §5).
    let lf = raw.replace("\r\n", "\n");
    let ing = assert_sound(lf.as_bytes());
    assert!(
        ing.wire
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
    );
}

#[test]
fn design_5_unparseable_input_is_wrapped_never_lost() {
    for raw in [
        &b""[..],
        b"\x00\x01\x02 binary junk",
        b"no header here\r\njust text\r\n",
    ] {
        let ing = assert_sound(raw);
        assert_eq!(ing.wrapped.as_deref(), Some("no header fields"));
        assert!(ing.original_kept);
        assert_eq!(ing.raw_sha256, parts::sha256(raw));
        let attachment = ing
            .parts
            .iter()
            .find(|p| p.content_type == "application/octet-stream")
            .unwrap();
        assert_eq!(attachment.transfer_encoding, "base64");
        assert_eq!(leaf_of(&ing, &attachment.part).decoded, raw);
        let text = ing.leaves.iter().find_map(|l| l.text.clone()).unwrap();
        assert!(text.contains("could not parse"));
    }
}

#[test]
fn design_6_nesting_deeper_than_the_limit_is_wrapped_with_salvaged_headers() {
    let mut raw = String::from(
        "From: Deep <deep@example.com>\r\nSubject: very deep\r\nDate: Tue, 1 Jul 2003 10:52:37 +0200\r\nMessage-ID: <deep@x>\r\n",
    );
    for i in 0..100 {
        raw.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n"
        ));
    }
    raw.push_str("\r\nbottom\r\n");
    let ing = assert_sound(raw.as_bytes());
    assert_eq!(
        ing.wrapped.as_deref(),
        Some("MIME nesting deeper than 64 levels")
    );
    assert_eq!(ing.message_id.as_deref(), Some("deep@x"));
    assert_eq!(ing.header_date, Some(1_057_049_557));
    assert_eq!(ing.search.subject, "very deep");
    assert_eq!(ing.search.from_text, "Deep <deep@example.com>");
    // 64 levels are fine.
    let mut ok = String::from("From: a@b\r\n");
    for i in 0..60 {
        ok.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n"
        ));
    }
    ok.push_str("\r\nbottom\r\n");
    assert!(assert_sound(ok.as_bytes()).wrapped.is_none());
}

#[test]
fn design_6_large_inputs_stay_linear() {
    // A 4 MB single line, a 20,000-field header and 20,000 lines that look
    // like delimiters but are not: each would be slow if any step were
    // quadratic.
    let mut raw = String::from("From: a@b\r\nSubject: ");
    raw.push_str(&"w ".repeat(200_000));
    raw.push_str("\r\n");
    for i in 0..20_000 {
        raw.push_str(&format!("X-F{i}: v\r\n"));
    }
    raw.push_str("Content-Type: multipart/mixed; boundary=real\r\n\r\n--real\r\n\r\n");
    raw.push_str(&"--fake\r\n".repeat(20_000));
    raw.push_str(&"y".repeat(4_000_000));
    raw.push_str("\r\n--real--\r\n");
    let ing = assert_sound(raw.as_bytes());
    assert!(ing.wrapped.is_none());
    assert_eq!(ing.wire.len() as u64, ing.wire.len() as u64);
}

#[test]
fn from_line_bom_and_bare_lf_are_repaired() {
    let raw = b"\xEF\xBB\xBFFrom: a@b\nSubject: s\n\nbody\n";
    let ing = assert_sound(raw);
    assert!(ing.wire.starts_with(b"From: a@b\r\nSubject: s\r\n"));
    let raw = b"From someone@example.com Mon Jan  1 00:00:00 2001\nFrom: a@b\n\nbody\n";
    let ing = assert_sound(raw);
    assert!(ing.wire.starts_with(b"From: a@b\r\n"));
}

// ---- property tests -------------------------------------------------------

fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[ a-zA-Z0-9<>@.,;:\"()=?_-]{0,40}".prop_map(String::into_bytes),
        "[ a-zäöüéß€中文]{0,30}".prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..30),
        Just(b" =?iso-8859-1?q?caf=E9?= and =?utf-8?b?w7w=?=".to_vec()),
        "[a-z]{1,10}".prop_map(|w| format!(" {}", [w.as_str(); 120].join(" ")).into_bytes()),
        "[a-z]{1100}".prop_map(String::into_bytes),
        Just(b" a\r\n \r\n b\rc\x00d".to_vec()),
    ]
}

fn field() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![
            Just("Subject"),
            Just("To"),
            Just("From"),
            Just("Cc"),
            Just("X-Thing"),
            Just("Date"),
            Just("Content-Description")
        ],
        header_value(),
    )
        .prop_map(|(n, v)| {
            let mut f = n.as_bytes().to_vec();
            f.push(b':');
            f.extend(v);
            f.extend_from_slice(b"\r\n");
            f
        })
}

fn body_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[ a-z\r\n.=-]{0,200}".prop_map(String::into_bytes),
        "[ a-zé€\n]{0,200}".prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..200),
        Just(b"--b0\r\nlooks like a boundary\r\n".to_vec()),
    ]
}

#[derive(Debug, Clone)]
enum Gen {
    Leaf {
        ctype: &'static str,
        cte: &'static str,
        body: Vec<u8>,
    },
    Multi {
        sub: &'static str,
        boundary: String,
        preamble: Vec<u8>,
        children: Vec<Gen>,
        close: bool,
        epilogue: Vec<u8>,
    },
    Message(Vec<Vec<u8>>, Box<Gen>),
}

fn leaf() -> impl Strategy<Value = Gen> {
    (
        prop_oneof![
            Just(""),
            Just("text/plain"),
            Just("text/plain; charset=utf-8"),
            Just("text/plain; charset=us-ascii"),
            Just("text/html; charset=iso-8859-1"),
            Just("application/octet-stream; name=\"a b.bin\""),
            Just("image/png"),
            Just("multipart/mixed"),
        ],
        prop_oneof![
            Just(""),
            Just("7bit"),
            Just("8bit"),
            Just("binary"),
            Just("base64"),
            Just("quoted-printable"),
            Just("x-uuencode"),
            Just("BASE-64"),
        ],
        body_bytes(),
    )
        .prop_map(|(ctype, cte, body)| {
            let body = match cte {
                "base64" | "BASE-64" => encode::encode_base64(&body),
                "quoted-printable" => encode::encode_qp(&body),
                _ => body,
            };
            Gen::Leaf { ctype, cte, body }
        })
}

fn entity() -> impl Strategy<Value = Gen> {
    leaf().prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            (
                prop_oneof![
                    Just("mixed"),
                    Just("alternative"),
                    Just("digest"),
                    Just("signed")
                ],
                "[a-zA-Z0-9'()+_,./:=?-]{1,20}",
                body_bytes(),
                proptest::collection::vec(inner.clone(), 1..4),
                any::<bool>(),
                body_bytes(),
            )
                .prop_map(|(sub, boundary, preamble, children, close, epilogue)| {
                    Gen::Multi {
                        sub,
                        boundary,
                        preamble,
                        children,
                        close,
                        epilogue,
                    }
                }),
            (proptest::collection::vec(field(), 0..3), inner)
                .prop_map(|(h, g)| Gen::Message(h, Box::new(g))),
        ]
    })
}

fn write_gen(g: &Gen, out: &mut Vec<u8>) {
    match g {
        Gen::Leaf { ctype, cte, body } => {
            if !ctype.is_empty() {
                out.extend_from_slice(format!("Content-Type: {ctype}\r\n").as_bytes());
            }
            if !cte.is_empty() {
                out.extend_from_slice(format!("Content-Transfer-Encoding: {cte}\r\n").as_bytes());
            }
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(body);
        }
        Gen::Multi {
            sub,
            boundary,
            preamble,
            children,
            close,
            epilogue,
        } => {
            out.extend_from_slice(
                format!("Content-Type: multipart/{sub}; boundary=\"{boundary}\"\r\n\r\n")
                    .as_bytes(),
            );
            out.extend_from_slice(preamble);
            for c in children {
                out.extend_from_slice(format!("\r\n--{boundary}\r\n").as_bytes());
                write_gen(c, out);
            }
            if *close {
                out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
                out.extend_from_slice(epilogue);
            }
        }
        Gen::Message(fields, inner) => {
            out.extend_from_slice(b"Content-Type: message/rfc822\r\n\r\n");
            for f in fields {
                out.extend_from_slice(f);
            }
            write_gen(inner, out);
        }
    }
}

fn message() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<bool>(),
        proptest::collection::vec(field(), 0..6),
        entity(),
        prop_oneof![Just(0u8), Just(1), Just(2)],
    )
        .prop_map(|(from_line, fields, body, eol)| {
            let mut out = Vec::new();
            if from_line {
                out.extend_from_slice(b"From sender@example.com Mon Jan  1 00:00:00 2001\r\n");
            }
            out.extend_from_slice(b"From: a@example.com\r\n");
            for f in fields {
                out.extend(f);
            }
            write_gen(&body, &mut out);
            match eol {
                // LF only, or mixed: what mbox files and broken mailers give.
                1 => String::from_utf8_lossy(&out)
                    .replace("\r\n", "\n")
                    .into_bytes(),
                2 => out
                    .iter()
                    .enumerate()
                    .filter(|&(i, &b)| !(b == b'\r' && i % 3 == 0))
                    .map(|(_, &b)| b)
                    .collect(),
                _ => out,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn normalise_is_idempotent_on_generated_messages(raw in message()) {
        let first = ingest(&raw);
        prop_assert!(first.wrapped.is_none(), "wrapped: {:?}", first.wrapped);
        let second = ingest(&first.wire);
        prop_assert_eq!(
            String::from_utf8_lossy(&second.wire),
            String::from_utf8_lossy(&first.wire)
        );
        prop_assert_eq!(&second.bodystructure, &first.bodystructure);
        prop_assert_eq!(&second.envelope, &first.envelope);
        prop_assert_eq!(rendered(&first).unwrap(), first.wire.clone());
        prop_assert_eq!(normalise(&first.wire), first.wire.clone());
        prop_assert!(first.wire.ends_with(b"\r\n"));
        // What an mbox export writes (LF) re-imports as the same message
        // (unless a CR in signed content makes the LF form ambiguous).
        let exported = lf_form(&first.wire);
        if !exported.contains(&b'\r') {
            prop_assert_eq!(normalise(&exported), first.wire);
        }
    }

    #[test]
    fn ingest_never_panics_and_is_idempotent_on_arbitrary_bytes(
        raw in proptest::collection::vec(any::<u8>(), 0..600)
    ) {
        let first = ingest(&raw);
        prop_assert_eq!(rendered(&first).unwrap(), first.wire.clone());
        prop_assert_eq!(normalise(&first.wire), first.wire);
    }
}

#[test]
fn an_lf_only_original_is_a_delta_of_a_few_bytes() {
    let raw = b"From: a@b.example\nSubject: x\nMessage-ID: <x@b.example>\nDate: Mon, 2 Jan 2006 15:04:05 +0000\n\nhello\n";
    let ing = super::ingest(raw);
    assert!(ing.original_kept);
    let d = super::delta::delta(raw, &ing.wire, 64).unwrap();
    assert!(d.len() <= 3, "{d:?}");
    assert_eq!(super::delta::apply(&ing.wire, &d).unwrap(), raw.to_vec());
}
