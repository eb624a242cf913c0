//! Header fields on the way out: kept as they came when they are already
//! clean, otherwise repaired to 7-bit (RFC 2047 encoded words, RFC 2231
//! parameters) and refolded.
//!
//! "Clean" means 7-bit printable, folded only before whitespace, no line
//! over 998 octets and no whitespace-only line. Clean fields are left
//! byte-for-byte alone so that well-formed mail is served as it arrived, and
//! everything we write is clean, which is what makes normalising idempotent.

use super::charset;
use super::fields::{self, AddressItem, ContentType, Mailbox};
use super::parse::{Field, unfold};

/// Lines are folded to this length where whitespace allows (RFC 5322 §2.1.1).
const FOLD_AT: usize = 78;
/// RFC 2047 §2: an encoded word is at most 75 characters.
const MAX_ENCODED_WORD: usize = 75;

/// A header field as it will be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OutField {
    /// The name, 7-bit printable.
    pub name: String,
    /// What follows the colon, folds included, no final CRLF.
    pub value: Vec<u8>,
}

impl OutField {
    /// A new field with an ASCII value, folded.
    pub fn new(name: &str, value: &str) -> Self {
        let value = format!(" {}", value.trim());
        OutField {
            name: name.to_owned(),
            value: fold(name.len(), value.as_bytes()),
        }
    }

    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }

    /// The value without its folds.
    pub fn unfolded(&self) -> Vec<u8> {
        unfold(&self.value)
    }
}

/// Serialises a header block, blank line included.
pub(crate) fn write_header(fields: &[OutField]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in fields {
        out.extend_from_slice(f.name.as_bytes());
        out.push(b':');
        out.extend_from_slice(&f.value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Normalises one field. `hint` is the charset to try for 8-bit bytes that
/// are not UTF-8 (the part's own charset, when it declares one).
pub(crate) fn normalise_field(f: &Field<'_>, hint: Option<&str>) -> OutField {
    // The name passed parse.rs's check: printable ASCII without a colon.
    let name = String::from_utf8_lossy(f.name).into_owned();
    if is_clean(f.name.len(), f.value) {
        return OutField {
            name,
            value: f.value.to_vec(),
        };
    }
    let text = repaired_text(f.value, hint);
    let value = if text.is_ascii() {
        text
    } else {
        let lower = name.to_ascii_lowercase();
        format!(" {}", encode_structured(&lower, text.trim()))
    };
    OutField {
        value: fold(name.len(), value.as_bytes()),
        name,
    }
}

/// The value unfolded, control characters turned to spaces (NUL dropped),
/// 8-bit bytes decoded to UTF-8.
fn repaired_text(value: &[u8], hint: Option<&str>) -> String {
    let unfolded = unfold(value);
    let cleaned: Vec<u8> = unfolded
        .iter()
        .filter(|&&b| b != 0)
        .map(|&b| {
            if b < 0x20 && b != b'\t' || b == 0x7f {
                b' '
            } else {
                b
            }
        })
        .collect();
    charset::decode_header_bytes(&cleaned, hint)
}

/// Encodes a non-ASCII value by its field's grammar: address lists keep
/// their addresses and encode display names, MIME parameters go to RFC
/// 2231, everything else is treated as unstructured text.
fn encode_structured(lower_name: &str, text: &str) -> String {
    const ADDRESS_FIELDS: &[&str] = &[
        "from",
        "sender",
        "reply-to",
        "to",
        "cc",
        "bcc",
        "resent-from",
        "resent-sender",
        "resent-to",
        "resent-cc",
        "resent-bcc",
    ];
    if ADDRESS_FIELDS.contains(&lower_name) {
        let items = fields::addresses(text.as_bytes());
        if !items.is_empty() {
            return write_addresses(&downgrade_addresses(items));
        }
    } else if (lower_name == "content-type" || lower_name == "content-disposition")
        && let Some(ct) = fields::content_type(text.as_bytes(), lower_name != "content-type")
    {
        return write_content_type(&ct, lower_name != "content-type");
    }
    encode_unstructured(text)
}

/// Whether a field can be served as it is (see the module comment).
fn is_clean(name_len: usize, value: &[u8]) -> bool {
    let mut line_len = name_len + 1;
    let mut line_has_text = true;
    let mut i = 0;
    while i < value.len() {
        let b = value[i];
        if b == b'\r' {
            if value.get(i + 1) != Some(&b'\n')
                || !matches!(value.get(i + 2), Some(b' ' | b'\t'))
                || !line_has_text
            {
                return false;
            }
            i += 2;
            line_len = 0;
            line_has_text = false;
            continue;
        }
        if !(b == b'\t' || (0x20..0x7f).contains(&b)) {
            return false;
        }
        if b != b' ' && b != b'\t' {
            line_has_text = true;
        }
        line_len += 1;
        if line_len > super::encode::MAX_LINE {
            return false;
        }
        i += 1;
    }
    line_has_text
}

/// Folds `value` (unfolded, ASCII) for a field whose name is `name_len`
/// long: a CRLF goes before whitespace that follows text, greedily, so that
/// lines stay within 78 characters where whitespace allows. Unfolding the
/// result gives `value` back.
pub(crate) fn fold(name_len: usize, value: &[u8]) -> Vec<u8> {
    if name_len + 1 + value.len() <= FOLD_AT {
        return value.to_vec();
    }
    // Break candidates: whitespace right after non-whitespace, when more
    // text follows (never leave a whitespace-only line).
    let is_ws = |b: u8| b == b' ' || b == b'\t';
    let last_text = value.iter().rposition(|&b| !is_ws(b)).unwrap_or(0);
    let mut pieces: Vec<&[u8]> = Vec::new();
    let mut start = 0;
    for i in 1..value.len() {
        if is_ws(value[i]) && !is_ws(value[i - 1]) && i < last_text {
            pieces.push(&value[start..i]);
            start = i;
        }
    }
    pieces.push(&value[start..]);
    let mut out = Vec::with_capacity(value.len() + pieces.len() * 2);
    let mut line = name_len + 1;
    for (k, p) in pieces.iter().enumerate() {
        if k > 0 && line + p.len() > FOLD_AT {
            out.extend_from_slice(b"\r\n");
            line = 0;
        }
        out.extend_from_slice(p);
        line += p.len();
    }
    out
}

/// Unstructured text to 7 bits: runs of words with non-ASCII characters
/// become encoded words (with the whitespace between them, which a decoder
/// would otherwise drop), everything else stays.
pub(crate) fn encode_unstructured(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    // Tokens alternate between whitespace runs and words.
    let mut tokens: Vec<&str> = Vec::new();
    let mut start = 0;
    let mut in_ws = None;
    for (i, c) in text.char_indices() {
        let ws = c == ' ' || c == '\t';
        if in_ws.is_some_and(|w| w != ws) {
            tokens.push(&text[start..i]);
            start = i;
        }
        in_ws = Some(ws);
    }
    if start < text.len() {
        tokens.push(&text[start..]);
    }
    let mut i = 0;
    while i < tokens.len() {
        let t = tokens[i];
        if t.is_ascii() {
            out.push_str(t);
            i += 1;
            continue;
        }
        // A run: this word and following words joined by whitespace, as long
        // as the next word is also non-ASCII.
        let mut j = i;
        while j + 2 < tokens.len() && !tokens[j + 2].is_ascii() {
            j += 2;
        }
        let run_start = t.as_ptr() as usize - text.as_ptr() as usize;
        let last = tokens[j];
        let run_end = last.as_ptr() as usize - text.as_ptr() as usize + last.len();
        out.push_str(&encoded_words(&text[run_start..run_end]));
        i = j + 1;
    }
    out
}

/// RFC 2047 encoded words for `text`, each at most 75 characters, joined by
/// single spaces; Q unless B is much shorter.
pub(crate) fn encoded_words(text: &str) -> String {
    let q_len: usize = text
        .bytes()
        .map(|b| if q_literal(b) || b == b' ' { 1 } else { 3 })
        .sum();
    let b_len = text.len().div_ceil(3) * 4;
    // Q stays readable in a raw header; B only when it is much shorter.
    let use_b = b_len * 3 < q_len * 2;
    let prefix = if use_b { "=?UTF-8?B?" } else { "=?UTF-8?Q?" };
    let room = MAX_ENCODED_WORD - prefix.len() - 2;
    let mut words: Vec<String> = Vec::new();
    let mut chunk = String::new();
    let mut chunk_len = 0;
    for c in text.chars() {
        let mut buf = [0u8; 4];
        let bytes = c.encode_utf8(&mut buf).as_bytes();
        let add = if use_b {
            (chunk.len() + bytes.len()).div_ceil(3) * 4 - chunk_len
        } else {
            bytes
                .iter()
                .map(|&b| if q_literal(b) { 1 } else { 3 })
                .sum()
        };
        if chunk_len + add > room && !chunk.is_empty() {
            words.push(encode_word(&chunk, use_b, prefix));
            chunk.clear();
            chunk_len = 0;
        }
        chunk.push(c);
        chunk_len = if use_b {
            chunk.len().div_ceil(3) * 4
        } else {
            chunk_len + add
        };
    }
    if !chunk.is_empty() {
        words.push(encode_word(&chunk, use_b, prefix));
    }
    words.join(" ")
}

/// Characters RFC 2047 §5 (3) allows unencoded in a Q word anywhere,
/// phrases included.
fn q_literal(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!*+-/".contains(&b)
}

fn encode_word(chunk: &str, use_b: bool, prefix: &str) -> String {
    use base64::Engine as _;
    let mut w = String::from(prefix);
    if use_b {
        w.push_str(&base64::engine::general_purpose::STANDARD.encode(chunk.as_bytes()));
    } else {
        for b in chunk.bytes() {
            if b == b' ' {
                w.push('_');
            } else if q_literal(b) {
                w.push(char::from(b));
            } else {
                w.push_str(&format!("={b:02X}"));
            }
        }
    }
    w.push_str("?=");
    w
}

/// A display name as an RFC 5322 phrase: atoms as they are, a quoted string
/// when specials need it, encoded words when it is not ASCII.
pub(crate) fn phrase(name: &str) -> String {
    if !name.is_ascii() {
        return encoded_words(name);
    }
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~ ".contains(c);
    if !name.is_empty() && name.chars().all(atext) && !name.contains("=?") {
        name.to_owned()
    } else {
        let mut q = String::with_capacity(name.len() + 2);
        q.push('"');
        for c in name.chars() {
            if c == '"' || c == '\\' {
                q.push('\\');
            }
            q.push(c);
        }
        q.push('"');
        q
    }
}

fn write_mailbox(m: &Mailbox) -> String {
    match (&m.name, &m.address) {
        (Some(n), Some(a)) => format!("{} <{a}>", phrase(n)),
        (None, Some(a)) => a.clone(),
        (Some(n), None) => phrase(n),
        (None, None) => String::new(),
    }
}

/// An address list in 7-bit form.
pub(crate) fn write_addresses(items: &[AddressItem]) -> String {
    items
        .iter()
        .map(|i| match i {
            AddressItem::Mailbox(m) => write_mailbox(m),
            AddressItem::Group(name, members) => format!(
                "{}: {};",
                phrase(name.as_deref().unwrap_or("")),
                members
                    .iter()
                    .map(write_mailbox)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}

/// An address in UTF-8 (RFC 6531) has no 7-bit form, and RFC 2047 §5
/// forbids encoded words inside an address. RFC 6858 §3's downgrade: each
/// such mailbox becomes an empty group whose display name is the mailbox
/// as it was written, which a 7-bit phrase can carry as encoded words. A
/// group's UTF-8 members leave it the same way, since groups do not nest.
fn downgrade_addresses(items: Vec<AddressItem>) -> Vec<AddressItem> {
    let ascii = |m: &Mailbox| m.address.as_deref().is_none_or(str::is_ascii);
    let as_group = |m: Mailbox| {
        let address = m.address.unwrap_or_default();
        let text = match m.name {
            Some(name) if !name.is_empty() => format!("{name} <{address}>"),
            _ => address,
        };
        AddressItem::Group(Some(text), Vec::new())
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match item {
            AddressItem::Mailbox(m) if !ascii(&m) => out.push(as_group(m)),
            AddressItem::Group(name, members) if !members.iter().all(ascii) => {
                let (kept, moved): (Vec<_>, Vec<_>) = members.into_iter().partition(ascii);
                out.push(AddressItem::Group(name, kept));
                out.extend(moved.into_iter().map(as_group));
            }
            other => out.push(other),
        }
    }
    out
}

/// A Content-Type or Content-Disposition value, parameters as tokens,
/// quoted strings, or RFC 2231 UTF-8 with continuations when not ASCII.
pub(crate) fn write_content_type(ct: &ContentType, disposition: bool) -> String {
    let mut out = if disposition || ct.sub.is_empty() {
        ct.ty.clone()
    } else {
        ct.mime()
    };
    for (name, value) in &ct.params {
        out.push_str("; ");
        if !value.is_empty() && value.bytes().all(fields::is_token_char) {
            out.push_str(&format!("{name}={value}"));
        } else if value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            out.push_str(&format!(
                "{name}=\"{}\"",
                value.replace('\\', "\\\\").replace('"', "\\\"")
            ));
        } else {
            out.push_str(&rfc2231(name, value));
        }
    }
    out
}

/// RFC 2231 §3–4: `name*=utf-8''…`, split into `name*0*`, `name*1*`… when long.
fn rfc2231(name: &str, value: &str) -> String {
    const CHUNK: usize = 60;
    let mut pieces: Vec<String> = Vec::new();
    let mut cur = String::new();
    for c in value.chars() {
        let mut buf = [0u8; 4];
        let enc: String = c
            .encode_utf8(&mut buf)
            .bytes()
            .map(|b| {
                if fields::is_token_char(b) && !b"*'%".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        // Never split a character: each piece must decode on its own.
        if cur.len() + enc.len() > CHUNK && !cur.is_empty() {
            pieces.push(std::mem::take(&mut cur));
        }
        cur.push_str(&enc);
    }
    pieces.push(cur);
    if pieces.len() == 1 {
        return format!("{name}*=utf-8''{}", pieces[0]);
    }
    pieces
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if i == 0 {
                format!("{name}*0*=utf-8''{p}")
            } else {
                format!("{name}*{i}*={p}")
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn field<'a>(name: &'a [u8], value: &'a [u8]) -> Field<'a> {
        Field { name, value }
    }

    #[test]
    fn clean_fields_are_kept_verbatim() {
        let f = field(b"Subject", b" a\r\n\tb");
        assert_eq!(normalise_field(&f, None).value, b" a\r\n\tb");
        let long = format!(" {}", "word ".repeat(40));
        let f = field(b"X-Long", long.as_bytes());
        assert_eq!(normalise_field(&f, None).value, long.as_bytes());
    }

    #[test]
    fn rfc2047_8bit_subject_becomes_encoded_words() {
        let f = field(b"Subject", " Grüße aus Köln, bis bald".as_bytes());
        let out = normalise_field(&f, None);
        let v = String::from_utf8(out.value.clone()).unwrap();
        assert!(v.is_ascii());
        assert_eq!(
            v,
            " =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= aus =?UTF-8?Q?K=C3=B6ln=2C?= bis bald"
        );
        assert_eq!(fields::unstructured(&out.value), "Grüße aus Köln, bis bald");
        // Latin-1 bytes are not UTF-8: decoded as windows-1252.
        let f = field(b"Subject", b" caf\xe9");
        assert_eq!(normalise_field(&f, None).value, b" =?UTF-8?Q?caf=C3=A9?=");
    }

    #[test]
    fn rfc2047_8bit_address_names_are_encoded_addresses_kept() {
        let f = field(
            b"From",
            " Jörg Müller <jm@example.de>, plain@example.com".as_bytes(),
        );
        let out = normalise_field(&f, None);
        assert_eq!(
            out.value,
            b" =?UTF-8?Q?J=C3=B6rg_M=C3=BCller?= <jm@example.de>, plain@example.com"
        );
    }

    #[test]
    fn rfc6858_utf8_addresses_become_empty_groups_named_by_the_address() {
        let f = field(
            b"To",
            " Jörg <jörg@bücher.de>, plain@example.com, team: ana@example.com, zoë@example.com;"
                .as_bytes(),
        );
        let out = normalise_field(&f, None);
        let v = String::from_utf8(out.value.clone()).unwrap();
        assert!(v.is_ascii(), "{v}");
        // No encoded word inside an address (RFC 2047 §5): every angle
        // bracket that is left belongs to a plain ASCII address.
        assert!(!v.contains("<=?"), "{v}");
        let group = |name: &str| AddressItem::Group(Some(name.into()), vec![]);
        let mailbox = |a: &str| Mailbox {
            name: None,
            address: Some(a.into()),
        };
        assert_eq!(
            fields::addresses(&out.value),
            vec![
                group("Jörg <jörg@bücher.de>"),
                AddressItem::Mailbox(mailbox("plain@example.com")),
                AddressItem::Group(Some("team".into()), vec![mailbox("ana@example.com")]),
                group("zoë@example.com"),
            ]
        );
        // Normalising what was written changes nothing.
        let again = normalise_field(&field(b"To", &out.value), None);
        assert_eq!(again.value, out.value);
    }

    #[test]
    fn rfc2231_8bit_parameters() {
        let f = field(
            b"Content-Disposition",
            " attachment; filename=\"résumé.pdf\"".as_bytes(),
        );
        let out = normalise_field(&f, None);
        assert_eq!(
            out.value,
            b" attachment; filename*=utf-8''r%C3%A9sum%C3%A9.pdf"
        );
        let ct = fields::content_type(&out.unfolded(), true).unwrap();
        assert_eq!(ct.param("filename"), Some("résumé.pdf"));
    }

    #[test]
    fn folding_is_reversible_and_bounded() {
        let value = format!(" {}", "abcdefgh ".repeat(30).trim_end());
        let folded = fold(7, value.as_bytes());
        assert_eq!(unfold(&folded), value.as_bytes());
        for line in folded.split(|&b| b == b'\n') {
            assert!(line.len() <= 79);
        }
        assert!(is_clean(7, &folded));
        // control characters and whitespace-only lines are repaired
        let f = field(b"Subject", b" a\rb\r\n \r\n c");
        assert_eq!(normalise_field(&f, None).value, b" a b  c");
    }

    #[test]
    fn long_encoded_words_are_split() {
        let text = "ü".repeat(100);
        let words = encoded_words(&text);
        assert!(words.split(' ').all(|w| w.len() <= 75));
        assert_eq!(fields::unstructured(words.as_bytes()), text);
    }
}
