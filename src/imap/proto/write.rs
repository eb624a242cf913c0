//! Response data writers (RFC 9051 §9 `string`, `astring`, `nstring`,
//! `mailbox`, `flag-list`, `date-time`), appending to the connection's
//! output buffer so that large values are never copied into a temporary.

use std::io::Write as _;

use super::{datetime, mutf7};

/// True for RFC 9051 `ATOM-CHAR`: any CHAR except `atom-specials`.
pub fn is_atom_char(b: u8) -> bool {
    matches!(b, 0x21..=0x7e) && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
}

/// True for RFC 9051 `ASTRING-CHAR`: `ATOM-CHAR` or `]`.
pub fn is_astring_char(b: u8) -> bool {
    is_atom_char(b) || b == b']'
}

/// Writes `s` as a `quoted` string when it can be one (no CR, LF or NUL,
/// and 8-bit bytes only when `utf8` is set and they are UTF-8, RFC 6855
/// §3), otherwise as a `literal`.
pub fn string(out: &mut Vec<u8>, s: &[u8], utf8: bool) {
    let quotable = !s.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0))
        && (s.is_ascii() || (utf8 && std::str::from_utf8(s).is_ok()));
    if quotable {
        out.reserve(s.len() + 2);
        out.push(b'"');
        for &b in s {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        literal(out, s);
    }
}

/// Writes `s` as a synchronising-style `literal` (`{n}` CRLF and the bytes):
/// a server's literals never wait for a continuation.
pub fn literal(out: &mut Vec<u8>, s: &[u8]) {
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{{{}}}\r\n", s.len());
    out.extend_from_slice(s);
}

/// Writes `s` as an atom when it is one, otherwise as [`string`]. `NIL` is
/// quoted so that no client can mistake it for the absent value.
pub fn astring(out: &mut Vec<u8>, s: &[u8], utf8: bool) {
    if !s.is_empty() && s.iter().all(|&b| is_astring_char(b)) && !s.eq_ignore_ascii_case(b"NIL") {
        out.extend_from_slice(s);
    } else {
        string(out, s, utf8);
    }
}

/// Writes `NIL` for None, else [`string`].
pub fn nstring(out: &mut Vec<u8>, s: Option<&[u8]>, utf8: bool) {
    match s {
        Some(s) => string(out, s, utf8),
        None => out.extend_from_slice(b"NIL"),
    }
}

/// Writes a mailbox name: in modified UTF-7 (RFC 3501 §5.1.3) unless the
/// client enabled UTF8=ACCEPT (RFC 6855 §3), then as an [`astring`].
pub fn mailbox(out: &mut Vec<u8>, name: &str, utf8: bool) {
    if utf8 {
        astring(out, name.as_bytes(), true);
    } else {
        astring(out, mutf7::encode(name).as_bytes(), false);
    }
}

/// Writes a `flag-list`, e.g. `(\Seen $Label)`; the flags are written as
/// given (system flags with their backslash).
pub fn flag_list(out: &mut Vec<u8>, flags: &[&str]) {
    out.push(b'(');
    for (i, flag) in flags.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.extend_from_slice(flag.as_bytes());
    }
    out.push(b')');
}

/// Writes a quoted `date-time` in UTC: `"17-Jul-1996 02:44:25 +0000"`.
pub fn date_time(out: &mut Vec<u8>, unix_seconds: i64) {
    out.push(b'"');
    out.extend_from_slice(datetime::format_date_time(unix_seconds).as_bytes());
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn rfc9051_4_3_quoted_escapes_quote_and_backslash() {
        assert_eq!(written(|o| string(o, br#"a"b\c"#, false)), r#""a\"b\\c""#);
        assert_eq!(written(|o| string(o, b"", false)), r#""""#);
    }

    #[test]
    fn rfc9051_4_3_crlf_and_nul_force_a_literal() {
        assert_eq!(written(|o| string(o, b"a\r\nb", false)), "{4}\r\na\r\nb");
        assert_eq!(written(|o| string(o, b"a\0", true)), "{2}\r\na\0");
    }

    #[test]
    fn rfc6855_3_eight_bit_is_quoted_only_for_utf8_clients() {
        let s = "café".as_bytes();
        assert_eq!(written(|o| string(o, s, true)), "\"café\"");
        assert_eq!(written(|o| string(o, s, false)), "{5}\r\ncafé");
        // Not UTF-8: a literal even for a UTF8=ACCEPT client.
        assert_eq!(
            written(|o| string(o, b"\xff", true)).len(),
            "{1}\r\n".len() + 3
        );
    }

    #[test]
    fn astring_uses_an_atom_when_it_can() {
        assert_eq!(written(|o| astring(o, b"INBOX", false)), "INBOX");
        assert_eq!(written(|o| astring(o, b"[Gmail]", false)), "[Gmail]");
        assert_eq!(written(|o| astring(o, b"a b", false)), "\"a b\"");
        assert_eq!(written(|o| astring(o, b"", false)), "\"\"");
        assert_eq!(written(|o| astring(o, b"nil", false)), "\"nil\"");
        assert_eq!(written(|o| astring(o, b"50%", false)), "\"50%\"");
    }

    #[test]
    fn nstring_writes_nil_for_none() {
        assert_eq!(written(|o| nstring(o, None, false)), "NIL");
        assert_eq!(written(|o| nstring(o, Some(b"NIL"), false)), "\"NIL\"");
    }

    #[test]
    fn rfc3501_5_1_3_mailbox_names_are_modified_utf7_unless_utf8() {
        assert_eq!(written(|o| mailbox(o, "Entwürfe", false)), "Entw&APw-rfe");
        assert_eq!(written(|o| mailbox(o, "Entwürfe", true)), "\"Entwürfe\"");
        assert_eq!(written(|o| mailbox(o, "A & B", false)), "\"A &- B\"");
    }

    #[test]
    fn flag_list_and_date_time_match_rfc9051_syntax() {
        assert_eq!(
            written(|o| flag_list(o, &["\\Seen", "$Label"])),
            "(\\Seen $Label)"
        );
        assert_eq!(written(|o| flag_list(o, &[])), "()");
        assert_eq!(
            written(|o| date_time(o, 837_596_665)),
            "\"17-Jul-1996 09:44:25 +0000\""
        );
    }
}
