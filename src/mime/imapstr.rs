//! IMAP strings for ENVELOPE and BODYSTRUCTURE (RFC 9051 §4.3, §9 `nstring`).

/// Appends `NIL`.
pub(crate) fn nil(out: &mut String) {
    out.push_str("NIL");
}

/// Appends `s` as an IMAP string: quoted when it is 7-bit without CR or LF
/// (with `\` and `"` escaped), otherwise as a literal `{n}\r\n…` counting
/// octets. NUL, which no IMAP string may hold, is dropped.
pub(crate) fn string(out: &mut String, s: &str) {
    let s = if s.contains('\0') {
        std::borrow::Cow::Owned(s.replace('\0', ""))
    } else {
        std::borrow::Cow::Borrowed(s)
    };
    if s.is_ascii() && !s.contains(['\r', '\n']) {
        out.push('"');
        for c in s.chars() {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
    } else {
        out.push_str(&format!("{{{}}}\r\n", s.len()));
        out.push_str(&s);
    }
}

/// Appends `s` as a string, or `NIL` when absent.
pub(crate) fn nstring(out: &mut String, s: Option<&str>) {
    match s {
        Some(s) => string(out, s),
        None => nil(out),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn rfc9051_4_3_quoted_and_literal_strings() {
        let mut out = String::new();
        string(&mut out, "a \"b\" \\c");
        assert_eq!(out, r#""a \"b\" \\c""#);
        out.clear();
        string(&mut out, "line\r\nbreak");
        assert_eq!(out, "{11}\r\nline\r\nbreak");
        out.clear();
        string(&mut out, "café");
        assert_eq!(out, "{5}\r\ncafé");
        out.clear();
        nstring(&mut out, None);
        assert_eq!(out, "NIL");
    }
}
