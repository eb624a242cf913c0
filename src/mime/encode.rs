//! Transfer encodings: the canonical encoders whose output we serve, and the
//! lenient decoders that accept what senders actually write.
//!
//! Canonical means a pure function of the decoded content, so that `render`
//! can rebuild the served bytes from a deduplicated body part, and so that
//! decoding and re-encoding our own output changes nothing (idempotence).

use std::borrow::Cow;

use base64::Engine as _;

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
    let chars = data.len().div_ceil(3) * 4;
    let mut out = String::with_capacity(chars + chars / BASE64_LINE * 2);
    // Each line is encoded straight into place from its 57 octets.
    for (i, chunk) in data.chunks(BASE64_LINE / 4 * 3).enumerate() {
        if i > 0 {
            out.push_str("\r\n");
        }
        base64::engine::general_purpose::STANDARD.encode_string(chunk, &mut out);
    }
    out.into_bytes()
}

/// What a byte is to the base64 decoder: its 6-bit value, [`SKIP`] (not in
/// the alphabet) or [`PAD`].
const SKIP: u8 = 0x80;
const PAD: u8 = 0xC0;
static BASE64_VALUES: [u8; 256] = base64_values();

const fn base64_values() -> [u8; 256] {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut table = [SKIP; 256];
    let mut i = 0;
    while i < 64 {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table[b'=' as usize] = PAD;
    table
}

/// Lenient base64: characters outside the alphabet are skipped (RFC 2045
/// §6.8 says to ignore them), decoding stops at the first padding `=` so a
/// footer appended by a list server is not decoded as noise, and a dangling
/// final character (which cannot carry a whole octet) is dropped.
pub(crate) fn decode_base64(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() / 4 * 3 + 3);
    // Sextets gathered towards the next three octets.
    let (mut acc, mut n) = (0u32, 0u32);
    let mut i = 0;
    loop {
        // Most of a body is whole quads of clean alphabet between line
        // ends: decode those four at a time, byte by byte only the rest.
        if n == 0 {
            while let Some(&[a, b, c, d]) = body.get(i..i + 4) {
                let v = [a, b, c, d].map(|x| BASE64_VALUES[usize::from(x)]);
                if (v[0] | v[1] | v[2] | v[3]) & SKIP != 0 {
                    break;
                }
                let quad = u32::from(v[0]) << 18
                    | u32::from(v[1]) << 12
                    | u32::from(v[2]) << 6
                    | u32::from(v[3]);
                out.extend_from_slice(&quad.to_be_bytes()[1..]);
                i += 4;
            }
        }
        let Some(&byte) = body.get(i) else { break };
        i += 1;
        match BASE64_VALUES[usize::from(byte)] {
            PAD => break,
            SKIP => {}
            v => {
                acc = acc << 6 | u32::from(v);
                n += 1;
                if n == 4 {
                    out.extend_from_slice(&acc.to_be_bytes()[1..]);
                    (acc, n) = (0, 0);
                }
            }
        }
    }
    // Two sextets carry one octet, three carry two; the extra bits go.
    match n {
        2 => out.push((acc >> 4) as u8),
        3 => out.extend_from_slice(&((acc >> 2) as u16).to_be_bytes()),
        _ => {}
    }
    out
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
    while let Some(i) = memchr::memchr(b'\n', &data[from..]) {
        let at = from + i;
        if at > 0 && data[at - 1] == b'\r' {
            return Some(at - 1);
        }
        from = at + 1;
    }
    None
}

fn encode_qp_line(line: &[u8], out: &mut Vec<u8>) {
    let mut col = 0;
    let mut i = 0;
    while i < line.len() {
        // A run of octets that stand for themselves anywhere but at the
        // line's end, up to where a soft break must come: copied whole.
        // (A `-` opening an encoded line goes the slow way, for its rule.)
        if col > 0 || line[i] != b'-' {
            let limit = (line.len() - 1).min(i + (QP_LINE - 1).saturating_sub(col));
            let run = line[i..limit]
                .iter()
                .take_while(|&&b| (b != b'=' && (33..=126).contains(&b)) || b == b' ' || b == b'\t')
                .count();
            if run > 0 {
                out.extend_from_slice(&line[i..i + run]);
                col += run;
                i += run;
                continue;
            }
        }
        col = encode_qp_octet(line, i, col, out);
        i += 1;
    }
}

/// Encodes octet `i` of `line`, which would start at column `col`, with a
/// soft break before it when it would not fit; returns the next column.
fn encode_qp_octet(line: &[u8], i: usize, col: usize, out: &mut Vec<u8>) -> usize {
    let literal = |col: usize| -> bool {
        let last = i + 1 == line.len();
        match line[i] {
            b'=' => false,
            b' ' | b'\t' => !last,
            b'-' => !(col == 0 && line.get(i + 1) == Some(&b'-')),
            33..=126 => true,
            _ => false,
        }
    };
    let last = i + 1 == line.len();
    let mut col = col;
    let mut lit = literal(col);
    let width = if lit { 1 } else { 3 };
    // A non-final token must leave room for the soft break's `=`.
    if col + width > QP_LINE || (!last && col + width > QP_LINE - 1) {
        out.extend_from_slice(b"=\r\n");
        col = 0;
        lit = literal(col);
    }
    if lit {
        out.push(line[i]);
        col + 1
    } else {
        push_hex(out, line[i]);
        col + 3
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
        let (mut line, terminated, next) = match memchr::memchr(b'\n', rest) {
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
        // Runs between `=` signs are copied as they stand.
        while let Some(at) = memchr::memchr(b'=', line) {
            out.extend_from_slice(&line[..at]);
            let hex = (
                line.get(at + 1).copied().and_then(hex_value),
                line.get(at + 2).copied().and_then(hex_value),
            );
            if let (Some(h), Some(l)) = hex {
                out.push(h << 4 | l);
                line = &line[at + 3..];
            } else {
                out.push(b'=');
                line = &line[at + 1..];
            }
        }
        out.extend_from_slice(line);
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
    // Counted per 255 octets in a u8, which the compiler turns into wide
    // compares and adds; a plain filter().count() goes a few octets a step.
    let newlines: u64 = data
        .chunks(255)
        .map(|c| u64::from(c.iter().map(|&b| u8::from(b == b'\n')).sum::<u8>()))
        .sum();
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

    /// The octet-at-a-time encoder the fast runs must agree with.
    fn encode_qp_line_reference(line: &[u8], out: &mut Vec<u8>) {
        let mut col = 0;
        for i in 0..line.len() {
            col = encode_qp_octet(line, i, col, out);
        }
    }

    proptest! {
        #[test]
        fn qp_encoding_in_runs_matches_byte_at_a_time(s in "[ a-z=\\-\t.\u{e9}]{0,200}") {
            let line = s.into_bytes();
            let mut fast = Vec::new();
            encode_qp_line(&line, &mut fast);
            let mut slow = Vec::new();
            encode_qp_line_reference(&line, &mut slow);
            prop_assert_eq!(fast, slow);
        }

        #[test]
        fn lines_are_counted_in_blocks_as_one_by_one(data in proptest::collection::vec(prop::sample::select(&b"a\r\n"[..]), 0..2000)) {
            let newlines = data.iter().filter(|&&b| b == b'\n').count() as u64;
            let expected = newlines + u64::from(data.last().is_some_and(|&b| b != b'\n'));
            prop_assert_eq!(count_lines(&data), expected);
        }

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

        #[test]
        fn base64_decoding_skips_what_is_not_alphabet_anywhere(
            data in proptest::collection::vec(any::<u8>(), 0..200),
            noise in proptest::collection::vec((any::<prop::sample::Index>(), prop::sample::select(&b" \t\r\n*-.\xe9"[..])), 0..20),
        ) {
            let mut encoded = encode_base64(&data);
            for (at, byte) in noise {
                let at = at.index(encoded.len() + 1);
                encoded.insert(at, byte);
            }
            prop_assert_eq!(decode_base64(&encoded), data);
        }
    }
}
