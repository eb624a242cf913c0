//! Messages: parse, normalise, hash, envelope/bodystructure, wire bytes. Pure: no I/O, no async, no SQL.
//!
//! [`ingest`] turns the bytes of an arriving message into everything the
//! store keeps (DESIGN §4.5, §5): the normalised wire form, one row per MIME
//! part for `message_parts`, deduplicated leaves for `bodyparts`, ENVELOPE,
//! BODYSTRUCTURE and BODY, and the `message_search` row. [`render`] rebuilds
//! the wire form from stored rows, which is how FETCH serves BODY[].
//!
//! The normalised form:
//! - CRLF line endings; a leading mbox `From ` line is dropped.
//! - The message ends with CRLF: a last line without a line break gets one
//!   (so that an mbox export, which must end it with LF, re-imports as the
//!   same bytes). Only the top-level message; enclosed ones end where their
//!   delimiter begins.
//! - Header fields that are clean (7-bit, folded only before whitespace, no
//!   line over 998 octets) stay as they came; others are unfolded, repaired
//!   (8-bit bytes decoded as UTF-8, else the part's charset, else
//!   windows-1252; controls removed), given back as RFC 2047 encoded words
//!   (display names in address lists, RFC 2231 for MIME parameters) and
//!   refolded at 78 columns. Served headers are 7-bit, except inside signed
//!   parts.
//! - Missing Date: the date of the bottom-most Received field that has one;
//!   else none (the importer's internal date stands). Missing Message-ID:
//!   `<first 16 bytes of raw_sha256, hex@archiveopteryx.invalid>`, so the
//!   same raw message always gets the same one. Top level only.
//! - Multipart: the preamble is kept, transport padding after delimiters and
//!   the epilogue are dropped, a missing close delimiter is supplied. A
//!   boundary that does not occur is replaced by the one the body visibly
//!   uses; with no delimiter at all the part becomes text/plain.
//! - Leaves: base64 and quoted-printable stay so, re-encoded canonically
//!   (encode.rs: base64 in 76-column lines, with no CRLF after the last,
//!   since the CRLF before a delimiter is the delimiter's); other content is served 7bit/8bit when RFC 2045 allows,
//!   else quoted-printable (text) or base64 (the rest). Encoding typos are
//!   repaired. 8-bit text labelled ASCII (or unlabelled) is relabelled UTF-8
//!   or windows-1252; Latin-1-labelled valid UTF-8 is relabelled UTF-8.
//! - message/rfc822 encoded in base64 or quoted-printable is served decoded.
//! - multipart/signed bodies are served exactly as they came (after line
//!   ending repair, which is the canonical form signatures are made over).
//! - Input that has no header, nests deeper than [`MAX_DEPTH`], has more than
//!   [`MAX_PARTS`] parts or panics a parser is wrapped (wrap.rs).

mod bodystructure;
mod charset;
pub mod delta;
mod encode;
mod envelope;
mod fields;
mod header;
mod imapstr;
mod normalise;
mod parse;
mod parts;
mod render;
mod search_text;
pub mod section;
mod tree;
mod wrap;

use std::borrow::Cow;
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

pub use normalise::SYNTHETIC_ID_DOMAIN;
pub use render::{RenderError, render, split_header_column};
pub use wrap::ORIGINAL_NAME;

/// Deepest MIME nesting (multiparts and enclosed messages) accepted before a
/// message is wrapped instead.
pub const MAX_DEPTH: usize = 64;
/// Most MIME parts accepted in one message before it is wrapped instead.
pub const MAX_PARTS: usize = 10_000;

/// Everything the store keeps about one arriving message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ingested {
    /// SHA-256 of the input exactly as given (`messages.raw_sha256`).
    pub raw_sha256: [u8; 32],
    /// The normalised message: exactly what FETCH BODY[] serves (CRLF).
    /// RFC822.SIZE is its length.
    pub wire: Vec<u8>,
    /// `wire != raw`: the store keeps the raw bytes too, as a body part whose
    /// hash is `raw_sha256` (`messages.original_hash`).
    pub original_kept: bool,
    /// The `message_parts` rows, in pre-order (`position` = index).
    pub parts: Vec<Part>,
    /// The `bodyparts` rows this message references, each hash once.
    pub leaves: Vec<Leaf>,
    /// ENVELOPE, as it goes on the wire.
    pub envelope: String,
    /// BODYSTRUCTURE, with extension data.
    pub bodystructure: String,
    /// BODY (no extension data).
    pub body: String,
    /// The Date field as Unix seconds (`messages.header_date`).
    pub header_date: Option<i64>,
    /// The Message-ID without its angle brackets (`messages.message_id_header`).
    pub message_id: Option<String>,
    /// The `message_search` row.
    pub search: SearchFields,
    /// `Some(reason)` when the input could not be parsed and `wire` is a
    /// wrapper around it (`messages.wrapped`).
    pub wrapped: Option<String>,
}

/// One `message_parts` row. See [`render`] for how rows are named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// IMAP part number: `""` the top-level header, `"1"`, `"1.2"`; the
    /// header of the message inside message/rfc822 part `N` is `"N.HEADER"`.
    pub part: String,
    /// Order in the message (pre-order index).
    pub position: i32,
    /// Served before the part's content: its header block with the blank
    /// line, for a multipart also its preamble ([`split_header_column`]).
    pub header: Vec<u8>,
    /// Lower-case `type/subtype`.
    pub content_type: String,
    /// As served: `7bit`, `8bit`, `base64`, `quoted-printable` (inside
    /// signed parts, whatever the part declares).
    pub transfer_encoding: String,
    /// SHA-256 of the decoded content (`bodypart_hash`). On a multipart
    /// (only multipart/signed) it names the raw body, served as it is, and
    /// the rows below describe it but are not rendered.
    pub bodypart: Option<[u8; 32]>,
    /// Octets of the part's content as served, after its header column (for
    /// a message/rfc822 part, the whole enclosed message).
    pub encoded_bytes: u64,
    /// Lines of the same.
    pub lines: u64,
}

/// One `bodyparts` row: content-addressed, decoded content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaf {
    /// SHA-256 of `decoded`.
    pub hash: [u8; 32],
    /// The content after transfer decoding (for a signed multipart, its raw
    /// body).
    pub decoded: Vec<u8>,
    /// Searchable UTF-8 text: text/* parts (HTML reduced to text) and
    /// textual message/* reports; no NUL characters.
    pub text: Option<String>,
}

/// The `message_search` row: top-level header text decoded to UTF-8.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchFields {
    /// The Subject, encoded words decoded.
    pub subject: String,
    /// From addresses as `Name <address>`, comma-separated.
    pub from_text: String,
    /// To addresses, likewise.
    pub to_text: String,
    /// Cc addresses, likewise.
    pub cc_text: String,
    /// Bcc addresses, likewise.
    pub bcc_text: String,
    /// Every header field as `Name: decoded value`, one a line.
    pub headers: String,
}

/// Ingests one message. Never fails: what cannot be parsed comes back
/// wrapped, with `wrapped` saying why.
pub fn ingest(raw: &[u8]) -> Ingested {
    ingest_hashed(raw, parts::sha256(raw))
}

/// [`ingest`] for a caller that already has the SHA-256 of `raw` (the
/// importer hashes every message first to skip what is already stored).
pub fn ingest_hashed(raw: &[u8], sha: [u8; 32]) -> Ingested {
    let reason = match catch_unwind(AssertUnwindSafe(|| build(raw, &sha))) {
        Ok(Ok(ingested)) => return ingested,
        Ok(Err(reason)) => reason,
        Err(panic) => format!("a parser failed: {}", panic_text(panic.as_ref())),
    };
    for salvaging in [true, false] {
        let attempt = catch_unwind(AssertUnwindSafe(|| {
            let wrapper = wrap::wrapper(raw, &reason, &sha, salvaging);
            build(&wrapper, &sha)
        }));
        if let Ok(Ok(mut ingested)) = attempt {
            ingested.raw_sha256 = sha;
            ingested.original_kept = true;
            ingested.wrapped = Some(reason);
            return ingested;
        }
    }
    // Unreachable in practice: the bare wrapper is our own well-formed
    // message. Still, never lose the input.
    last_resort(raw, sha, reason)
}

/// A leaf's content as served under `transfer_encoding` (what FETCH
/// BODY[n] returns for a leaf part, and what `render` puts there).
pub fn serve_leaf<'a>(decoded: &'a [u8], transfer_encoding: &str) -> Cow<'a, [u8]> {
    encode::encode(decoded, transfer_encoding)
}

/// `wire` with CRLF as LF: what a message served from the store looks like
/// in an mbox or a Unix maildir.
pub fn lf_form(wire: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(wire.len());
    let mut start = 0;
    for i in memchr::memchr_iter(b'\n', wire) {
        if i > start && wire[i - 1] == b'\r' {
            out.extend_from_slice(&wire[start..i - 1]);
            start = i;
        }
    }
    out.extend_from_slice(&wire[start..]);
    out
}

/// The normalised form of `raw`: `ingest(raw).wire`.
pub fn normalise(raw: &[u8]) -> Vec<u8> {
    ingest(raw).wire
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_owned()
    }
}

/// Drops a leading mbox `From ` envelope line, which is not part of the
/// RFC 5322 message.
pub(crate) fn strip_from_line(buf: &[u8]) -> &[u8] {
    if buf.starts_with(b"From ") {
        match memchr::memchr(b'\n', buf) {
            Some(i) => &buf[i + 1..],
            None => &[],
        }
    } else {
        buf
    }
}

/// Skips a UTF-8 byte order mark and blank lines before the header when a
/// header follows them.
fn skip_leading_blank_lines(buf: &[u8]) -> &[u8] {
    let mut rest = buf.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(buf);
    while let Some(r) = rest.strip_prefix(b"\r\n") {
        rest = r;
    }
    if rest.len() != buf.len() && !parse::split_entity(rest).fields.is_empty() {
        rest
    } else {
        buf
    }
}

/// `raw_sha256` is the SHA-256 of the bytes that arrived (which `input` is,
/// or wraps): the importer has it already, and hashing every message twice
/// was a measurable share of an import. It also seeds a synthetic Message-ID.
fn build(input: &[u8], raw_sha256: &[u8; 32]) -> Result<Ingested, normalise::WrapReason> {
    let crlf = encode::to_crlf(input);
    let buf = skip_leading_blank_lines(strip_from_line(&crlf));
    let entity = parse::split_entity(buf);
    if entity.fields.is_empty() {
        return Err("no header fields".into());
    }
    let mut walk = normalise::Walk::default();
    let mut root = normalise::top(&entity, raw_sha256, &mut walk)?;
    let header_date = root
        .field("date")
        .and_then(|d| fields::date(&d))
        .map(|d| d.to_timestamp());
    let message_id = root
        .field("message-id")
        .and_then(|v| fields::message_ids(&v).into_iter().next());
    let search = search_text::search_fields(&root);
    let envelope = envelope::envelope(&root);

    let mut flat = parts::Flattener::default();
    flat.message(&mut root, "");
    let (mut rows, leaves) = (flat.rows, flat.leaves);
    let content: HashMap<[u8; 32], &[u8]> = leaves
        .iter()
        .map(|l| (l.hash, l.decoded.as_slice()))
        .collect();
    let lookup = |h: &[u8; 32]| content.get(h).map(|d| Cow::Borrowed(*d));
    let (wire, spans) = render::render_with_spans(&rows, &lookup)
        .map_err(|e| format!("internal error rendering the parts: {e}"))?;
    for (row, span) in rows.iter_mut().zip(&spans) {
        if let Some((start, end)) = *span {
            row.encoded_bytes = (end - start) as u64;
            row.lines = encode::count_lines(&wire[start..end]);
        }
    }
    let bodystructure = bodystructure::write(&root, &rows, true);
    let body = bodystructure::write(&root, &rows, false);
    Ok(Ingested {
        raw_sha256: *raw_sha256,
        original_kept: wire != input,
        wire,
        parts: rows,
        leaves,
        envelope,
        bodystructure,
        body,
        header_date,
        message_id,
        search,
        wrapped: None,
    })
}

/// A message stored as one opaque attachment, built without any parser.
fn last_resort(raw: &[u8], sha: [u8; 32], reason: String) -> Ingested {
    let header = b"Subject: Unparsable message\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n".to_vec();
    let encoded = encode::encode_base64(raw);
    let mut wire = header.clone();
    wire.extend_from_slice(&encoded);
    if !encoded.is_empty() {
        // As `render` does: the message ends with CRLF, the leaf does not.
        wire.extend_from_slice(b"\r\n");
    }
    let size = encoded.len() as u64;
    let lines = encode::count_lines(&encoded);
    let row = |part: &str, header: Vec<u8>, bodypart| Part {
        part: part.into(),
        position: if part.is_empty() { 0 } else { 1 },
        header,
        content_type: "application/octet-stream".into(),
        transfer_encoding: encode::BASE64.into(),
        bodypart,
        encoded_bytes: size,
        lines,
    };
    Ingested {
        raw_sha256: sha,
        original_kept: true,
        parts: vec![row("", header, None), row("1", Vec::new(), Some(sha))],
        leaves: vec![Leaf {
            hash: sha,
            decoded: raw.to_vec(),
            text: None,
        }],
        envelope: "(NIL \"Unparsable message\" NIL NIL NIL NIL NIL NIL NIL NIL)".into(),
        bodystructure: format!(
            "(\"APPLICATION\" \"OCTET-STREAM\" NIL NIL NIL \"BASE64\" {size} NIL NIL NIL NIL)"
        ),
        body: format!("(\"APPLICATION\" \"OCTET-STREAM\" NIL NIL NIL \"BASE64\" {size})"),
        wire,
        header_date: None,
        message_id: None,
        search: SearchFields {
            subject: "Unparsable message".into(),
            ..SearchFields::default()
        },
        wrapped: Some(reason),
    }
}

#[cfg(test)]
mod tests;
