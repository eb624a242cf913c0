//! Character sets: turning 8-bit header bytes and text bodies into UTF-8.
//!
//! encoding_rs knows the WHATWG labels; mail-parser's own table adds the
//! mail-only ones (UTF-7, old IBM and Mac code pages). Neither ever fails:
//! undecodable bytes become U+FFFD, since search text must exist.

use encoding_rs::Encoding;

/// The encoding for a MIME charset label, if encoding_rs knows it.
pub(crate) fn lookup(label: &str) -> Option<&'static Encoding> {
    Encoding::for_label_no_replacement(label.trim().as_bytes())
}

/// Labels that promise plain ASCII (or Latin-1, which senders misuse for
/// anything): when content contradicts them, the content wins.
pub(crate) fn is_weak_label(label: &str) -> bool {
    let l = label.trim().to_ascii_lowercase();
    matches!(
        l.as_str(),
        "us-ascii" | "ascii" | "ansi_x3.4-1968" | "iso-8859-1" | "iso8859-1" | "latin1"
    )
}

/// Decodes text in `charset`; without a usable label, UTF-8 when the bytes
/// are valid UTF-8 and windows-1252 otherwise (what browsers assume).
/// NUL characters are dropped: PostgreSQL text cannot hold them.
pub(crate) fn decode_text(bytes: &[u8], charset: Option<&str>) -> String {
    let decoded = match charset.map(str::trim).filter(|c| !c.is_empty()) {
        Some(label) => {
            if let Some(enc) = lookup(label) {
                enc.decode_without_bom_handling(bytes).0.into_owned()
            } else if let Some(f) =
                mail_parser::decoders::charsets::map::charset_decoder(label.as_bytes())
            {
                f(bytes)
            } else {
                guess(bytes)
            }
        }
        None => guess(bytes),
    };
    strip_nul(decoded)
}

/// UTF-8 if valid, else windows-1252.
pub(crate) fn guess(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => encoding_rs::WINDOWS_1252
            .decode_without_bom_handling(bytes)
            .0
            .into_owned(),
    }
}

/// Decodes raw 8-bit header bytes (RFC 5322 forbids them; RFC 6532 allows
/// UTF-8): valid UTF-8 stays, otherwise the part's declared charset if it is
/// an ASCII-compatible one, otherwise windows-1252.
pub(crate) fn decode_header_bytes(bytes: &[u8], hint: Option<&str>) -> String {
    if let Ok(s) = std::str::from_utf8(bytes) {
        return s.to_owned();
    }
    let enc = hint
        .and_then(lookup)
        .filter(|e| e.is_ascii_compatible() && *e != encoding_rs::UTF_8)
        .unwrap_or(encoding_rs::WINDOWS_1252);
    enc.decode_without_bom_handling(bytes).0.into_owned()
}

/// Whether `bytes` is valid UTF-8 containing at least one multi-byte
/// sequence: strong evidence that a Latin-1 or ASCII label is wrong.
pub(crate) fn is_utf8_beyond_ascii(bytes: &[u8]) -> bool {
    !bytes.is_ascii() && std::str::from_utf8(bytes).is_ok()
}

/// Removes NUL characters, which PostgreSQL text columns reject.
pub(crate) fn strip_nul(s: String) -> String {
    if s.contains('\0') {
        s.replace('\0', "")
    } else {
        s
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn decodes_declared_and_guessed_charsets() {
        assert_eq!(decode_text(b"caf\xe9", Some("iso-8859-1")), "café");
        assert_eq!(decode_text(b"caf\xc3\xa9", None), "café");
        assert_eq!(decode_text(b"caf\xe9", None), "café");
        assert_eq!(
            decode_text(b"+ZYeB9FH6ckh5Pg-", Some("utf-7")),
            "文致出版社"
        );
        assert_eq!(decode_text(b"a\0b", Some("nonsense-charset")), "ab");
    }

    #[test]
    fn header_bytes_prefer_utf8_then_hint_then_cp1252() {
        assert_eq!(decode_header_bytes(b"J\xc3\xb6rg", None), "Jörg");
        assert_eq!(decode_header_bytes(b"J\xf6rg", None), "Jörg");
        assert_eq!(decode_header_bytes(b"\xcf\xf0", Some("koi8-r")), "оП");
        assert!(is_utf8_beyond_ascii("é".as_bytes()));
        assert!(!is_utf8_beyond_ascii(b"plain"));
        assert!(is_weak_label("US-ASCII"));
    }
}
