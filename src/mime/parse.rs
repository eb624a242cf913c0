//! Splitting a CRLF message into header fields, bodies and MIME parts.
//!
//! This is deliberately our own code rather than mail-parser's tree: serving
//! signed parts byte-exact needs exact byte ranges, repair needs to know
//! where the input deviated, and idempotence needs the same rules on the way
//! in as on the way out. Field *values* (addresses, dates, parameters,
//! encoded words) are parsed by mail-parser, in `fields.rs`.

/// One header field as it appeared, borrowed from the message.
#[derive(Debug, Clone)]
pub(crate) struct Field<'a> {
    /// The field name, trailing whitespace before the colon removed.
    pub name: &'a [u8],
    /// Everything after the colon up to (not including) the CRLF that ends
    /// the field; folds are still in it.
    pub value: &'a [u8],
}

impl Field<'_> {
    /// Whether the name is `name`, ignoring case.
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name.as_bytes())
    }
}

/// A header block and the body after it.
#[derive(Debug)]
pub(crate) struct Entity<'a> {
    pub fields: Vec<Field<'a>>,
    /// The header bytes exactly as they were, blank line included if any.
    pub header_raw: &'a [u8],
    pub body: &'a [u8],
}

impl<'a> Entity<'a> {
    /// The first field called `name`.
    pub fn field(&self, name: &str) -> Option<&Field<'a>> {
        self.fields.iter().find(|f| f.is(name))
    }
}

/// Splits `buf` (CRLF line endings) into header fields and body.
///
/// The header ends at the first empty line, or, when a sender forgot it, at
/// the first line that cannot be a header field: that line then starts the
/// body. A continuation line with no field before it is skipped.
pub(crate) fn split_entity(buf: &[u8]) -> Entity<'_> {
    let mut fields: Vec<Field<'_>> = Vec::new();
    // (start of the field, colon offset, end excluding the final CRLF)
    let mut open: Option<(usize, usize, usize)> = None;
    let mut pos = 0;
    let mut body_start = buf.len();
    let mut header_end = buf.len();
    while pos < buf.len() {
        let next = memchr::memchr(b'\n', &buf[pos..]).map_or(buf.len(), |i| pos + i + 1);
        let line = &buf[pos..next];
        let content = line
            .strip_suffix(b"\r\n")
            .or_else(|| line.strip_suffix(b"\n"))
            .unwrap_or(line);
        if content.is_empty() {
            body_start = next;
            header_end = next;
            break;
        }
        if content[0] == b' ' || content[0] == b'\t' {
            if let Some((_, _, end)) = open.as_mut() {
                *end = pos + content.len();
            }
            pos = next;
            continue;
        }
        match field_name(content) {
            Some(colon) => {
                if let Some(f) = open.take() {
                    fields.push(make_field(buf, f));
                }
                open = Some((pos, pos + colon, pos + content.len()));
                pos = next;
            }
            None => {
                body_start = pos;
                header_end = pos;
                break;
            }
        }
    }
    if pos >= buf.len() {
        body_start = buf.len();
        header_end = buf.len();
    }
    if let Some(f) = open.take() {
        fields.push(make_field(buf, f));
    }
    Entity {
        fields,
        header_raw: &buf[..header_end],
        body: &buf[body_start..],
    }
}

fn make_field(buf: &[u8], (start, colon, end): (usize, usize, usize)) -> Field<'_> {
    let mut name = &buf[start..colon];
    while let Some((&last, init)) = name.split_last() {
        if last == b' ' || last == b'\t' {
            name = init;
        } else {
            break;
        }
    }
    Field {
        name,
        value: &buf[colon + 1..end],
    }
}

/// The colon's offset if `line` starts a header field: a non-empty name of
/// printable ASCII (RFC 5322 §3.6.8), optionally followed by whitespace
/// before the colon (obsolete syntax, §4.5).
fn field_name(line: &[u8]) -> Option<usize> {
    let colon = line.iter().position(|&b| b == b':')?;
    let name = &line[..colon];
    let trimmed = name.iter().rposition(|&b| b != b' ' && b != b'\t')? + 1;
    name[..trimmed]
        .iter()
        .all(|&b| (33..=126).contains(&b))
        .then_some(colon)
}

/// Removes the folding CRLFs from a field value (RFC 5322 §2.2.3).
pub(crate) fn unfold(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        if value[i] == b'\r' && value.get(i + 1) == Some(&b'\n') {
            i += 2;
            continue;
        }
        if value[i] == b'\n' {
            i += 1;
            continue;
        }
        out.push(value[i]);
        i += 1;
    }
    out
}

/// A multipart body cut at its delimiters (RFC 2046 §5.1.1).
#[derive(Debug)]
pub(crate) struct Multipart<'a> {
    /// Everything before the first delimiter line, with the CRLF that
    /// belongs to that delimiter.
    pub preamble: &'a [u8],
    /// Each body part, without the CRLF that belongs to the next delimiter.
    pub parts: Vec<&'a [u8]>,
    /// Whether a close delimiter was seen.
    pub closed: bool,
}

/// Whether `line` (without its CRLF) is a delimiter for `boundary`:
/// `Some(false)` for `--boundary`, `Some(true)` for the close delimiter
/// `--boundary--`, in both cases allowing trailing transport padding.
fn delimiter(line: &[u8], boundary: &[u8]) -> Option<bool> {
    let rest = line.strip_prefix(b"--")?.strip_prefix(boundary)?;
    let (close, rest) = match rest.strip_prefix(b"--") {
        Some(r) => (true, r),
        None => (false, rest),
    };
    rest.iter()
        .all(|&b| b == b' ' || b == b'\t')
        .then_some(close)
}

/// Cuts `body` at the delimiters for `boundary`. `None` when there is no
/// opening delimiter at all. A missing close delimiter is tolerated: the
/// last part runs to the end. Anything after the close delimiter (the
/// epilogue) is dropped.
pub(crate) fn split_multipart<'a>(body: &'a [u8], boundary: &[u8]) -> Option<Multipart<'a>> {
    if boundary.is_empty() {
        return None;
    }
    let mut preamble: Option<&'a [u8]> = None;
    let mut parts = Vec::new();
    let mut part_start = 0;
    // Only a line that starts with `--` can be a delimiter: those are
    // found by searching for LF `--` (SIMD), not by walking every line.
    let dashed = memchr::memmem::find_iter(body, b"\n--").map(|i| i + 1);
    for pos in body
        .starts_with(b"--")
        .then_some(0)
        .into_iter()
        .chain(dashed)
    {
        let next = memchr::memchr(b'\n', &body[pos..]).map_or(body.len(), |i| pos + i + 1);
        let line = &body[pos..next];
        let content = line
            .strip_suffix(b"\r\n")
            .or_else(|| line.strip_suffix(b"\n"))
            .unwrap_or(line);
        if let Some(close) = delimiter(content, boundary) {
            // The CRLF before a delimiter belongs to the delimiter.
            let end = if pos >= part_start + 2 && &body[pos - 2..pos] == b"\r\n" {
                pos - 2
            } else {
                pos
            };
            match preamble {
                None => {
                    if close {
                        // A close delimiter before any opening one:
                        // nothing to split.
                        return None;
                    }
                    preamble = Some(&body[..pos]);
                }
                Some(_) => parts.push(&body[part_start..end]),
            }
            if close {
                return Some(Multipart {
                    preamble: preamble.unwrap_or_default(),
                    parts,
                    closed: true,
                });
            }
            part_start = next;
        }
    }
    let preamble = preamble?;
    parts.push(&body[part_start.min(body.len())..]);
    Some(Multipart {
        preamble,
        parts,
        closed: false,
    })
}

/// Guesses the boundary of a multipart body whose declared one does not
/// occur: the first `--token` line, if that token delimits at least twice
/// (open and close, or two opens). Anything less is not clear intent.
pub(crate) fn guess_boundary(body: &[u8]) -> Option<Vec<u8>> {
    let mut candidate: Option<&[u8]> = None;
    for line in body.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(rest) = line.strip_prefix(b"--") {
            let token = rest.strip_suffix(b"--").unwrap_or(rest);
            let token_end = token
                .iter()
                .rposition(|&b| b != b' ' && b != b'\t')
                .map_or(0, |i| i + 1);
            let token = &token[..token_end];
            if !token.is_empty()
                && token.len() <= 70
                && token.iter().all(|&b| (33..=126).contains(&b))
            {
                candidate = Some(token);
                break;
            }
        }
    }
    let token = candidate?;
    let split = split_multipart(body, token)?;
    (split.closed || split.parts.len() >= 2).then(|| token.to_vec())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn rfc5322_2_2_header_and_body() {
        let e = split_entity(b"Subject: hi\r\n there\r\nFrom: a@b\r\n\r\nbody\r\n");
        assert_eq!(e.fields.len(), 2);
        assert_eq!(e.fields[0].name, b"Subject");
        assert_eq!(e.fields[0].value, b" hi\r\n there");
        assert_eq!(unfold(e.fields[0].value), b" hi there");
        assert_eq!(e.body, b"body\r\n");
        assert_eq!(e.header_raw, b"Subject: hi\r\n there\r\nFrom: a@b\r\n\r\n");
    }

    #[test]
    fn header_without_blank_line_ends_at_first_non_field() {
        let e = split_entity(b"Subject: x\r\nthis is body\r\nmore\r\n");
        assert_eq!(e.fields.len(), 1);
        assert_eq!(e.body, b"this is body\r\nmore\r\n");
        let e = split_entity(b"Subject : x\r\nX-A:y");
        assert_eq!(e.fields[0].name, b"Subject");
        assert_eq!(e.fields[1].value, b"y");
        assert!(e.body.is_empty());
        let e = split_entity(b"\r\nbody");
        assert!(e.fields.is_empty());
        assert_eq!(e.body, b"body");
    }

    #[test]
    fn rfc2046_5_1_1_delimiters() {
        let body = b"pre\r\n--b\r\nA\r\n--b  \r\n\r\nB\r\n--b--\r\nepilogue";
        let m = split_multipart(body, b"b").unwrap();
        assert_eq!(m.preamble, b"pre\r\n");
        assert_eq!(m.parts, vec![&b"A"[..], &b"\r\nB"[..]]);
        assert!(m.closed);
        // "--b1" is not a delimiter for "b".
        let m = split_multipart(b"--b\r\n--b1\r\n--b--", b"b").unwrap();
        assert_eq!(m.parts, vec![&b"--b1"[..]]);
        // unclosed: last part runs to the end
        let m = split_multipart(b"--b\r\nA\r\n", b"b").unwrap();
        assert_eq!(m.parts, vec![&b"A\r\n"[..]]);
        assert!(!m.closed);
        assert!(split_multipart(b"no delimiters", b"b").is_none());
        assert!(split_multipart(b"--b--\r\n", b"b").is_none());
    }

    #[test]
    fn boundary_guess_needs_two_delimiters() {
        assert_eq!(
            guess_boundary(b"--xyz\r\nA\r\n--xyz--\r\n"),
            Some(b"xyz".to_vec())
        );
        assert_eq!(guess_boundary(b"-- \r\nsignature"), None);
        assert_eq!(guess_boundary(b"--xyz\r\nonly one"), None);
    }
}
