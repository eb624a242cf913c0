//! Transfer encodings: the canonical encoders whose output we serve, and the
//! lenient decoders that accept what senders actually write.
//!
//! Canonical means a pure function of the decoded content, so that `render`
//! can rebuild the served bytes from a deduplicated body part, and so that
//! decoding and re-encoding our own output changes nothing (idempotence).

use std::borrow::Cow;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// RFC 2045 §6.8: encoded lines are at most 76 characters.
const BASE64_LINE: usize = 76;
/// RFC 2045 §6.7 rule 5: encoded lines are at most 76 characters.
const QP_LINE: usize = 76;
/// RFC 5322 §2.1.1: a line is at most 998 characters before its CRLF.
pub(crate) const MAX_LINE: usize = 998;

/// The encodings this layer serves, as the `transfer_encoding` column spells them.
pub(crate) const SEVEN_BIT: &str = "7bit";
pub(crate) const EIGHT_BIT: &str = "8bit";
pub(crate) const BASE64: &str = "base64";
pub(crate) const QUOTED_PRINTABLE: &str = "quoted-printable";

/// Encodes `data` as served under `cte`: base64 and quoted-printable
/// canonically, anything else as the identity.
pub(crate) fn encode<'a>(data: &'a [u8], cte: &str) -> Cow<'a, [u8]> {
    if cte.eq_ignore_ascii_case(BASE64) {
        Cow::Owned(encode_base64(data))
    } else if cte.eq_ignore_ascii_case(QUOTED_PRINTABLE) {
        Cow::Owned(encode_qp(data))
    } else {
        Cow::Borrowed(data)
    }
}

/// Decodes a body transfer-encoded as `cte` (already lower-case), leniently.
pub(crate) fn decode<'a>(body: &'a [u8], cte: &str) -> Cow<'a, [u8]> {
    match cte {
        BASE64 => Cow::Owned(decode_base64(body)),
        QUOTED_PRINTABLE => Cow::Owned(decode_qp(body)),
        _ => Cow::Borrowed(body),
    }
}

/// Standard alphabet with padding, 76-character lines joined by CRLF, with
/// no CRLF after the last one: the CRLF before a boundary delimiter belongs
/// to the delimiter (RFC 2046 §5.1.1), so `…=\r\n--b` in a multipart is
/// this output followed by the delimiter. At the end of a message, `render`
/// supplies the final CRLF.
pub(crate) fn encode_base64(data: &[u8]) -> Vec<u8> {
    let flat = base64::engine::general_purpose::STANDARD.encode(data);
    let flat = flat.as_bytes();
    let mut out = Vec::with_capacity(flat.len() + flat.len() / BASE64_LINE * 2);
    for (i, chunk) in flat.chunks(BASE64_LINE).enumerate() {
        if i > 0 {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(chunk);
    }
    out
}

/// Lenient base64: characters outside the alphabet are skipped (RFC 2045
/// §6.8 says to ignore them), decoding stops at the first padding `=` so a
/// footer appended by a list server is not decoded as noise, and a dangling
/// final character (which cannot carry a whole octet) is dropped.
pub(crate) fn decode_base64(body: &[u8]) -> Vec<u8> {
    // Whole lines of clean alphabet are copied as slices; only a line with
    // padding or stray characters is filtered byte by byte, and from there on.
    let mut chars: Vec<u8> = Vec::with_capacity(body.len());
    let mut rest = body;
    while !rest.is_empty() {
        let end = memchr::memchr(b'\n', rest).map_or(rest.len(), |i| i + 1);
        let line = &rest[..end];
        let text = line.strip_suffix(b"\n").unwrap_or(line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if text
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
        {
            chars.extend_from_slice(text);
            rest = &rest[end..];
        } else {
            break;
        }
    }
    for &b in rest {
        if b == b'=' {
            break;
        }
        if b.is_ascii_alphanumeric() || b == b'+' || b == b'/' {
            chars.push(b);
        }
    }
    if chars.len() % 4 == 1 {
        chars.pop();
    }
    let engine = GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::RequireNone),
    );
    // The filtered input is always decodable; should the engine disagree,
    // keeping the encoded text loses nothing.
    engine.decode(&chars).unwrap_or(chars)
}

/// Canonical quoted-printable (RFC 2045 §6.7): CRLF pairs are hard line
/// breaks, every other control, 8-bit octet and `=` is escaped, whitespace is
/// escaped at the end of a line, lines are soft-broken to 76 characters.
/// Additionally, `-` is escaped when an encoded line would start with `--`,
/// so that no encoded line can ever be mistaken for a MIME boundary.
pub(crate) fn encode_qp(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 8 + 8);
    let mut rest = data;
    loop {
        let (line, next) = match find_crlf(rest) {
            Some(i) => (&rest[..i], Some(&rest[i + 2..])),
            None => (rest, None),
        };
        encode_qp_line(line, &mut out);
        match next {
            Some(n) => {
                out.extend_from_slice(b"\r\n");
                rest = n;
            }
            None => break,
        }
    }
    out
}

fn find_crlf(data: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = data[from..].iter().position(|&b| b == b'\n') {
        let at = from + i;
        if at > 0 && data[at - 1] == b'\r' {
            return Some(at - 1);
        }
        from = at + 1;
    }
    None
}

fn encode_qp_line(line: &[u8], out: &mut Vec<u8>) {
    let literal = |i: usize, col: usize| -> bool {
        let b = line[i];
        let last = i + 1 == line.len();
        match b {
            b'=' => false,
            b' ' | b'\t' => !last,
            b'-' => !(col == 0 && line.get(i + 1) == Some(&b'-')),
            33..=126 => true,
            _ => false,
        }
    };
    let mut col = 0;
    for i in 0..line.len() {
        let last = i + 1 == line.len();
        let mut lit = literal(i, col);
        let width = if lit { 1 } else { 3 };
        // A non-final token must leave room for the soft break's `=`.
        if col + width > QP_LINE || (!last && col + width > QP_LINE - 1) {
            out.extend_from_slice(b"=\r\n");
            col = 0;
            lit = literal(i, col);
        }
        if lit {
            out.push(line[i]);
            col += 1;
        } else {
            push_hex(out, line[i]);
            col += 3;
        }
    }
}

fn push_hex(out: &mut Vec<u8>, b: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push(b'=');
    out.push(HEX[usize::from(b >> 4)]);
    out.push(HEX[usize::from(b & 15)]);
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Lenient quoted-printable: trailing whitespace on a line is transport
/// padding (removed), `=` at a line's end is a soft break, `=XX` is an octet
/// in either case, and anything malformed (a stray `=`, raw 8-bit octets)
/// is kept as it stands rather than dropped.
pub(crate) fn decode_qp(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut rest = body;
    loop {
        let (mut line, terminated, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], true, &rest[i + 1..]),
            None => (rest, false, &rest[rest.len()..]),
        };
        if let Some(stripped) = line.strip_suffix(b"\r") {
            line = stripped;
        }
        while let Some((&last, init)) = line.split_last() {
            if last == b' ' || last == b'\t' {
                line = init;
            } else {
                break;
            }
        }
        let soft = line.last() == Some(&b'=');
        if soft {
            line = &line[..line.len() - 1];
        }
        let mut i = 0;
        while i < line.len() {
            let b = line[i];
            if b == b'='
                && let (Some(h), Some(l)) = (
                    line.get(i + 1).copied().and_then(hex_value),
                    line.get(i + 2).copied().and_then(hex_value),
                )
            {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
            out.push(b);
            i += 1;
        }
        if terminated && !soft {
            out.extend_from_slice(b"\r\n");
        }
        if !terminated {
            break;
        }
        rest = next;
    }
    out
}

/// Converts bare LF line endings to CRLF (RFC 5322 §2.3). A lone CR is left
/// alone here: in a body it is content, in a header it is repaired later.
pub(crate) fn to_crlf(raw: &[u8]) -> Cow<'_, [u8]> {
    // memchr finds the line ends; most of a message is copied in slices.
    let is_bare = |i: usize| i == 0 || raw[i - 1] != b'\r';
    let Some(first) = memchr::memchr_iter(b'\n', raw).find(|&i| is_bare(i)) else {
        return Cow::Borrowed(raw);
    };
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 32 + 2);
    out.extend_from_slice(&raw[..first]);
    let mut start = first;
    for i in memchr::memchr_iter(b'\n', &raw[first..]).map(|i| i + first) {
        if is_bare(i) {
            out.extend_from_slice(&raw[start..i]);
            out.extend_from_slice(b"\r");
            start = i;
        }
    }
    out.extend_from_slice(&raw[start..]);
    Cow::Owned(out)
}

/// Lines as IMAP counts them for BODYSTRUCTURE: line terminators, plus a
/// final line that lacks one.
pub(crate) fn count_lines(data: &[u8]) -> u64 {
    let newlines = data.iter().filter(|&&b| b == b'\n').count() as u64;
    match data.last() {
        Some(b'\n') | None => newlines,
        Some(_) => newlines + 1,
    }
}

/// Whether `data` can be served without a transfer encoding (RFC 2045 §2.7,
/// §2.8): no NUL, CR and LF only as CRLF pairs, no line over 998 octets.
/// The second value says whether it is also 7-bit.
pub(crate) fn line_clean(data: &[u8]) -> (bool, bool) {
    let mut ascii = true;
    let mut col = 0usize;
    for (i, &b) in data.iter().enumerate() {
        match b {
            0 => return (false, false),
            b'\r' => {
                if data.get(i + 1) != Some(&b'\n') {
                    return (false, false);
                }
            }
            b'\n' => {
                if i == 0 || data[i - 1] != b'\r' {
                    return (false, false);
                }
                col = 0;
                continue;
            }
            _ => {
                if b >= 0x80 {
                    ascii = false;
                }
            }
        }
        if b != b'\r' {
            col += 1;
            if col > MAX_LINE {
                return (false, false);
            }
        }
    }
    (true, ascii)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc2045_6_8_base64_is_76_column_crlf_lines() {
        let data = vec![0xA5u8; 200];
        let enc = encode_base64(&data);
        let lines: Vec<&[u8]> = enc.split(|&b| b == b'\n').collect();
        assert_eq!(lines.len(), 4);
        for line in &lines[..3] {
            assert_eq!(line.len(), 77, "76 characters and the CR");
            assert_eq!(line.last(), Some(&b'\r'));
        }
        // RFC 2046 §5.1.1: no CRLF after the last line; a following
        // delimiter brings its own.
        assert!(!enc.ends_with(b"\r\n"));
        assert!(!lines[3].is_empty() && lines[3].len() <= 76);
        assert_eq!(decode_base64(&enc), data);
        assert!(encode_base64(b"").is_empty());
        assert_eq!(encode_base64(&[0u8; 57]).len(), 76);
    }

    #[test]
    fn base64_decoding_is_lenient() {
        assert_eq!(decode_base64(b"aGVs\r\nbG8=\r\n"), b"hello");
        assert_eq!(decode_base64(b"aGVs bG8*"), b"hello");
        assert_eq!(decode_base64(b"aGVsbG8=\r\n-- \r\nfooter"), b"hello");
        assert_eq!(decode_base64(b"aGVsbG8"), b"hello");
        assert_eq!(decode_base64(b"aGVsbG8xZ"), b"hello1");
    }

    #[test]
    fn rfc2045_6_7_qp_canonical_forms() {
        assert_eq!(encode_qp(b"a=b"), b"a=3Db");
        assert_eq!(encode_qp(b"trailing \r\nx\t"), b"trailing=20\r\nx=09");
        assert_eq!(encode_qp(b"caf\xc3\xa9\r\n"), b"caf=C3=A9\r\n");
        assert_eq!(encode_qp(b"lone\ncr\r"), b"lone=0Acr=0D");
        assert_eq!(encode_qp(b"--boundary"), b"=2D-boundary");
        let long = vec![b'x'; 200];
        let enc = encode_qp(&long);
        for line in enc.split(|&b| b == b'\n') {
            assert!(line.len() <= 77);
        }
        assert_eq!(decode_qp(&enc), long);
    }

    #[test]
    fn qp_decoding_is_lenient() {
        assert_eq!(decode_qp(b"a=3db=\r\nc  \r\n"), b"a=bc\r\n");
        assert_eq!(decode_qp(b"50% =ZZ off\n"), b"50% =ZZ off\r\n");
        assert_eq!(decode_qp(b"raw \xe9t\xe9"), b"raw \xe9t\xe9");
        assert_eq!(decode_qp(b"soft= \r\nbreak"), b"softbreak");
    }

    #[test]
    fn crlf_and_lines() {
        assert_eq!(to_crlf(b"a\nb\r\nc\rd\n").as_ref(), b"a\r\nb\r\nc\rd\r\n");
        assert!(matches!(to_crlf(b"a\r\nb"), Cow::Borrowed(_)));
        assert_eq!(count_lines(b""), 0);
        assert_eq!(count_lines(b"a\r\nb"), 2);
        assert_eq!(count_lines(b"a\r\nb\r\n"), 2);
        assert_eq!(line_clean(b"ok\r\n"), (true, true));
        assert_eq!(line_clean(b"caf\xe9\r\n"), (true, false));
        assert!(!line_clean(b"bare\nlf").0);
        assert!(!line_clean(b"nul\0").0);
        assert!(!line_clean(&[b'x'; 999]).0);
    }

    proptest! {
        #[test]
        fn qp_round_trips(data in proptest::collection::vec(any::<u8>(), 0..400)) {
            prop_assert_eq!(decode_qp(&encode_qp(&data)), data);
        }

        #[test]
        fn qp_round_trips_texty(s in "[ a-z=\\-\t\r\n\u{e9}]{0,300}") {
            let data = s.into_bytes();
            let enc = encode_qp(&data);
            prop_assert!(enc.split(|&b| b == b'\n').all(|l| l.len() <= 77 && !l.starts_with(b"--")));
            prop_assert_eq!(decode_qp(&enc), data);
        }

        #[test]
        fn base64_round_trips(data in proptest::collection::vec(any::<u8>(), 0..400)) {
            prop_assert_eq!(decode_base64(&encode_base64(&data)), data);
        }
    }
}
