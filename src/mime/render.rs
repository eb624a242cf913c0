//! Wire bytes from stored parts: how FETCH BODY[] is served from the
//! database. The same code produces `Ingested::wire`, so what ingest says a
//! message is and what FETCH later serves cannot drift apart.
//!
//! Rows are named by IMAP part number. A message's header row is `""` for
//! the top level and `N.HEADER` for the message inside message/rfc822 part
//! `N`; a single-part message's body is part `1` (or `N.1`) with an empty
//! header column; a multipart's children are `1`, `2`… under it.

use std::borrow::Cow;
use std::collections::HashMap;

use super::encode;
use super::fields;
use super::parse;
use super::{MAX_DEPTH, Part};

/// Why stored parts could not be turned back into a message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RenderError {
    /// A part the structure requires is not in the list.
    #[error("part {0:?} is missing")]
    MissingPart(String),
    /// The content for a part's body part hash was not supplied.
    #[error("the content of part {0:?} is not available")]
    MissingContent(String),
    /// A multipart's header names no boundary.
    #[error("multipart part {0:?} has no boundary")]
    NoBoundary(String),
    /// A part has neither content nor children.
    #[error("part {0:?} has no content")]
    Empty(String),
    /// The part numbers nest deeper than any ingested message can.
    #[error("part {0:?} is nested too deeply")]
    TooDeep(String),
}

/// Rebuilds the served message from its parts and the decoded content of
/// their body parts (looked up by SHA-256). `parts` need not be sorted.
pub fn render(
    parts: &[Part],
    leaves: &dyn Fn(&[u8; 32]) -> Option<Vec<u8>>,
) -> Result<Vec<u8>, RenderError> {
    let lookup = |h: &[u8; 32]| leaves(h).map(Cow::Owned);
    render_with_spans(parts, &lookup).map(|(wire, _)| wire)
}

/// Looks up a body part's decoded content by its hash.
pub(crate) type Leaves<'l, 'a> = &'l dyn Fn(&[u8; 32]) -> Option<Cow<'a, [u8]>>;

/// Where each rendered row's content (after its header column) lies in the
/// output; `None` for rows inside opaque parts, which are not rendered.
pub(crate) type Spans = Vec<Option<(usize, usize)>>;

/// `render`, also reporting each row's span.
pub(crate) fn render_with_spans<'a>(
    parts: &[Part],
    leaves: Leaves<'_, 'a>,
) -> Result<(Vec<u8>, Spans), RenderError> {
    let index: HashMap<&str, usize> = parts
        .iter()
        .enumerate()
        .map(|(i, p)| (p.part.as_str(), i))
        .collect();
    let total: usize = parts
        .iter()
        .map(|p| p.header.len() + p.encoded_bytes as usize)
        .sum();
    let mut r = Renderer {
        parts,
        index,
        leaves,
        out: Vec::with_capacity(total),
        spans: vec![None; parts.len()],
    };
    let root = r.find("")?;
    r.entity(root, "", true, 0)?;
    // A message ends with CRLF. Normalising makes every other ending do so
    // already; a base64 leaf does not (encode.rs), so its message gets the
    // CRLF here, after the leaf and outside every row's span.
    if !r.out.is_empty() && !r.out.ends_with(b"\r\n") {
        r.out.extend_from_slice(b"\r\n");
    }
    Ok((r.out, r.spans))
}

struct Renderer<'p, 'l, 'a> {
    parts: &'p [Part],
    index: HashMap<&'p str, usize>,
    leaves: Leaves<'l, 'a>,
    out: Vec<u8>,
    spans: Spans,
}

impl Renderer<'_, '_, '_> {
    fn find(&self, name: &str) -> Result<usize, RenderError> {
        self.index
            .get(name)
            .copied()
            .ok_or_else(|| RenderError::MissingPart(name.to_owned()))
    }

    /// Renders row `idx`. `number` is the IMAP number children are named
    /// under; `header_row` says the row is a message's header.
    fn entity(
        &mut self,
        idx: usize,
        number: &str,
        header_row: bool,
        depth: usize,
    ) -> Result<(), RenderError> {
        let parts = self.parts;
        let row = &parts[idx];
        // Each MIME level can add a header row and a part row.
        if depth > 2 * MAX_DEPTH + 4 {
            return Err(RenderError::TooDeep(row.part.clone()));
        }
        self.out.extend_from_slice(&row.header);
        let start = self.out.len();
        let prefix = if number.is_empty() {
            String::new()
        } else {
            format!("{number}.")
        };
        let multipart = row.content_type.starts_with("multipart/");
        if let Some(hash) = &row.bodypart {
            let data =
                (self.leaves)(hash).ok_or_else(|| RenderError::MissingContent(row.part.clone()))?;
            if multipart {
                // A signed multipart: served exactly as stored.
                self.out.extend_from_slice(&data);
            } else {
                self.out
                    .extend_from_slice(&encode::encode(&data, &row.transfer_encoding));
            }
        } else if multipart {
            let boundary = boundary_of(&row.header)
                .ok_or_else(|| RenderError::NoBoundary(row.part.clone()))?;
            let mut k = 1;
            while let Some(&child) = self.index.get(format!("{prefix}{k}").as_str()) {
                self.out.extend_from_slice(b"--");
                self.out.extend_from_slice(&boundary);
                self.out.extend_from_slice(b"\r\n");
                self.entity(child, &format!("{prefix}{k}"), false, depth + 1)?;
                self.out.extend_from_slice(b"\r\n");
                k += 1;
            }
            if k == 1 {
                return Err(RenderError::Empty(row.part.clone()));
            }
            self.out.extend_from_slice(b"--");
            self.out.extend_from_slice(&boundary);
            self.out.extend_from_slice(b"--\r\n");
        } else if header_row {
            let name = format!("{prefix}1");
            let child = self.find(&name)?;
            self.entity(child, &name, false, depth + 1)?;
        } else if row.content_type == "message/rfc822" || row.content_type == "message/global" {
            let child = self.find(&format!("{number}.HEADER"))?;
            self.entity(child, number, true, depth + 1)?;
        } else {
            return Err(RenderError::Empty(row.part.clone()));
        }
        self.spans[idx] = Some((start, self.out.len()));
        Ok(())
    }
}

/// The boundary parameter of the Content-Type in a header column.
pub(crate) fn boundary_of(header: &[u8]) -> Option<Vec<u8>> {
    let e = parse::split_entity(header);
    let ct = fields::content_type(e.field("content-type")?.value, false)?;
    ct.param("boundary")
        .filter(|b| !b.is_empty())
        .map(|b| b.as_bytes().to_vec())
}

/// Splits a header column into the header block (through its blank line)
/// and what follows it (a multipart's preamble), for FETCH BODY[n.MIME].
pub fn split_header_column(header: &[u8]) -> (&[u8], &[u8]) {
    if header.starts_with(b"\r\n") {
        return (&header[..2], &header[2..]);
    }
    match header.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => (&header[..i + 4], &header[i + 4..]),
        None => (header, &[]),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn row(part: &str, header: &[u8], ct: &str, cte: &str, leaf: Option<u8>) -> Part {
        Part {
            part: part.into(),
            position: 0,
            header: header.to_vec(),
            content_type: ct.into(),
            transfer_encoding: cte.into(),
            bodypart: leaf.map(|b| [b; 32]),
            encoded_bytes: 0,
            lines: 0,
        }
    }

    #[test]
    fn renders_multipart_with_canonical_encodings() {
        let parts = vec![
            row(
                "",
                b"Content-Type: multipart/mixed; boundary=x\r\n\r\npre\r\n",
                "multipart/mixed",
                "7bit",
                None,
            ),
            row("1", b"\r\n", "text/plain", "7bit", Some(1)),
            row(
                "2",
                b"Content-Transfer-Encoding: base64\r\n\r\n",
                "application/octet-stream",
                "base64",
                Some(2),
            ),
        ];
        let leaves = |h: &[u8; 32]| match h[0] {
            1 => Some(b"hello".to_vec()),
            2 => Some(b"\x00\x01".to_vec()),
            _ => None,
        };
        let wire = render(&parts, &leaves).unwrap();
        assert_eq!(
            wire,
            b"Content-Type: multipart/mixed; boundary=x\r\n\r\npre\r\n--x\r\n\r\nhello\r\n--x\r\nContent-Transfer-Encoding: base64\r\n\r\nAAE=\r\n--x--\r\n"
        );
        let none = |_: &[u8; 32]| None;
        assert_eq!(
            render(&parts, &none),
            Err(RenderError::MissingContent("1".into()))
        );
        assert_eq!(
            render(&parts[1..], &leaves),
            Err(RenderError::MissingPart("".into()))
        );
    }

    #[test]
    fn renders_nested_message() {
        let parts = vec![
            row(
                "",
                b"Subject: outer\r\n\r\n",
                "message/rfc822",
                "7bit",
                None,
            ),
            row("1", b"", "message/rfc822", "7bit", None),
            row(
                "1.HEADER",
                b"Subject: inner\r\n\r\n",
                "text/plain",
                "7bit",
                None,
            ),
            row("1.1", b"", "text/plain", "quoted-printable", Some(1)),
        ];
        let leaves = |_: &[u8; 32]| Some(b"caf\xe9".to_vec());
        assert_eq!(
            render(&parts, &leaves).unwrap(),
            b"Subject: outer\r\n\r\nSubject: inner\r\n\r\ncaf=E9\r\n"
        );
    }

    #[test]
    fn a_message_ending_in_a_base64_leaf_ends_with_crlf() {
        let parts = vec![
            row(
                "",
                b"Content-Transfer-Encoding: base64\r\n\r\n",
                "application/octet-stream",
                "base64",
                None,
            ),
            row("1", b"", "application/octet-stream", "base64", Some(1)),
        ];
        let leaves = |_: &[u8; 32]| Some(b"\x00\x01".to_vec());
        let none = |_: &[u8; 32]| Some(Vec::new());
        let (wire, spans) = render_with_spans(&parts, &|h| leaves(h).map(Cow::Owned)).unwrap();
        assert_eq!(wire, b"Content-Transfer-Encoding: base64\r\n\r\nAAE=\r\n");
        // The final CRLF is the message's, not the leaf's.
        let (start, end) = spans[1].unwrap();
        assert_eq!(&wire[start..end], b"AAE=");
        assert_eq!(
            render(&parts, &none).unwrap(),
            b"Content-Transfer-Encoding: base64\r\n\r\n"
        );
    }

    #[test]
    fn header_column_split() {
        assert_eq!(
            split_header_column(b"A: b\r\n\r\npreamble"),
            (&b"A: b\r\n\r\n"[..], &b"preamble"[..])
        );
        assert_eq!(split_header_column(b"\r\npre"), (&b"\r\n"[..], &b"pre"[..]));
    }
}
