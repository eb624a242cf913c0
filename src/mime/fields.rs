//! Header field values, parsed by mail-parser's field parsers: addresses
//! (with groups), dates, message-ids, MIME parameters (RFC 2231) and
//! encoded words (RFC 2047). Everything here takes one unfolded or folded
//! value, as it follows the colon.

use mail_parser::parsers::MessageStream;
use mail_parser::{Address, HeaderValue};

/// A value unfolded (so that a value parses the same however it is folded),
/// with the line end mail-parser's parsers expect to stop at.
fn terminated(value: &[u8]) -> Vec<u8> {
    let mut v = super::parse::unfold(value);
    v.push(b'\n');
    v
}

/// A parsed Content-Type or Content-Disposition: lower-case type and
/// subtype (subtype empty for a disposition), parameters in order with
/// lower-case names and decoded values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ContentType {
    pub ty: String,
    pub sub: String,
    pub params: Vec<(String, String)>,
}

impl ContentType {
    /// RFC 2045 §5.2: what a part without a usable Content-Type is.
    pub fn text_plain_default() -> Self {
        ContentType {
            ty: "text".into(),
            sub: "plain".into(),
            params: vec![("charset".into(), "us-ascii".into())],
        }
    }

    /// RFC 2046 §5.1.5: the default inside multipart/digest.
    pub fn message_rfc822() -> Self {
        ContentType {
            ty: "message".into(),
            sub: "rfc822".into(),
            params: Vec::new(),
        }
    }

    /// The first parameter called `name` (lower-case).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Sets (or adds) a parameter.
    pub fn set_param(&mut self, name: &str, value: &str) {
        match self.params.iter_mut().find(|(n, _)| n == name) {
            Some(p) => p.1 = value.to_owned(),
            None => self.params.push((name.to_owned(), value.to_owned())),
        }
    }

    /// `type/subtype`, lower-case.
    pub fn mime(&self) -> String {
        format!("{}/{}", self.ty, self.sub)
    }

    pub fn is_multipart(&self) -> bool {
        self.ty == "multipart"
    }

    pub fn is_text(&self) -> bool {
        self.ty == "text"
    }

    /// message/rfc822 and its RFC 6532 sibling message/global both carry a
    /// whole message (RFC 9051 §7.5.2 body-type-msg).
    pub fn is_message(&self) -> bool {
        self.ty == "message" && (self.sub == "rfc822" || self.sub == "global")
    }
}

/// Parses a Content-Type (or Content-Disposition) value. `None` when it has
/// no usable type: RFC 2045 §5.2 then says text/plain.
pub(crate) fn content_type(value: &[u8], disposition: bool) -> Option<ContentType> {
    let input = terminated(value);
    let HeaderValue::ContentType(ct) = MessageStream::new(&input).parse_content_type() else {
        return None;
    };
    let ty = ct.c_type.trim().to_ascii_lowercase();
    if ty.is_empty() || !ty.bytes().all(is_token_char) {
        return None;
    }
    let sub = match ct.c_subtype.as_deref() {
        Some(s) if !disposition => {
            let s = s.trim().to_ascii_lowercase();
            if s.is_empty() || !s.bytes().all(is_token_char) {
                return None;
            }
            s
        }
        Some(_) => String::new(),
        None if disposition => String::new(),
        None => return None,
    };
    let params = ct
        .attributes
        .unwrap_or_default()
        .into_iter()
        .map(|a| (a.name.to_ascii_lowercase(), a.value.into_owned()))
        .collect();
    Some(ContentType { ty, sub, params })
}

/// RFC 2045 §5.1 token characters.
pub(crate) fn is_token_char(b: u8) -> bool {
    (33..=126).contains(&b) && !b"()<>@,;:\\\"/[]?=".contains(&b)
}

/// One address of an address list; `name` is decoded to UTF-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mailbox {
    pub name: Option<String>,
    pub address: Option<String>,
}

/// An address list entry: a mailbox, or a named group of mailboxes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AddressItem {
    Mailbox(Mailbox),
    Group(Option<String>, Vec<Mailbox>),
}

/// Parses an address list (RFC 5322 §3.4), groups included.
pub(crate) fn addresses(value: &[u8]) -> Vec<AddressItem> {
    let input = terminated(value);
    let convert = |a: mail_parser::Addr<'_>| Mailbox {
        name: a
            .name
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty()),
        address: a
            .address
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty()),
    };
    match MessageStream::new(&input).parse_address() {
        HeaderValue::Address(Address::List(list)) => list
            .into_iter()
            .map(|a| AddressItem::Mailbox(convert(a)))
            .collect(),
        HeaderValue::Address(Address::Group(groups)) => {
            let mut out = Vec::new();
            for g in groups {
                match g.name {
                    Some(name) => out.push(AddressItem::Group(
                        Some(name.trim().to_owned()),
                        g.addresses.into_iter().map(convert).collect(),
                    )),
                    None => out.extend(
                        g.addresses
                            .into_iter()
                            .map(|a| AddressItem::Mailbox(convert(a))),
                    ),
                }
            }
            out
        }
        _ => Vec::new(),
    }
}

/// Decodes an unstructured value (encoded words and all) for display and
/// search; whitespace runs become single spaces.
pub(crate) fn unstructured(value: &[u8]) -> String {
    let input = terminated(value);
    match MessageStream::new(&input).parse_unstructured() {
        HeaderValue::Text(t) => t.into_owned(),
        _ => String::new(),
    }
}

/// Parses an RFC 5322 §3.3 date (obsolete forms included), if it is one.
pub(crate) fn date(value: &[u8]) -> Option<mail_parser::DateTime> {
    let input = terminated(value);
    match MessageStream::new(&input).parse_date() {
        HeaderValue::DateTime(d) if d.is_valid() => Some(d),
        _ => None,
    }
}

/// The message-ids in a Message-ID, In-Reply-To or References value,
/// without their angle brackets.
pub(crate) fn message_ids(value: &[u8]) -> Vec<String> {
    let input = terminated(value);
    match MessageStream::new(&input).parse_id() {
        HeaderValue::Text(t) => vec![t.into_owned()],
        HeaderValue::TextList(l) => l.into_iter().map(|t| t.into_owned()).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn rfc2045_5_content_type_with_rfc2231_parameters() {
        let ct = content_type(
            b" Text/Plain; charset=\"ISO-8859-1\"; name*=utf-8''caf%C3%A9.txt",
            false,
        )
        .unwrap();
        assert_eq!(ct.mime(), "text/plain");
        assert_eq!(ct.param("charset"), Some("ISO-8859-1"));
        assert_eq!(ct.param("name"), Some("café.txt"));
        assert!(content_type(b" garbage", false).is_none());
        let d = content_type(b" attachment; filename=a.txt", true).unwrap();
        assert_eq!(
            (d.ty.as_str(), d.param("filename")),
            ("attachment", Some("a.txt"))
        );
    }

    #[test]
    fn rfc5322_3_4_addresses_and_groups() {
        let a = addresses(b" \"Doe, John\" <john@example.com>, =?utf-8?q?J=C3=B6rg?= <j@x.de>");
        assert_eq!(
            a,
            vec![
                AddressItem::Mailbox(Mailbox {
                    name: Some("Doe, John".into()),
                    address: Some("john@example.com".into())
                }),
                AddressItem::Mailbox(Mailbox {
                    name: Some("Jörg".into()),
                    address: Some("j@x.de".into())
                }),
            ]
        );
        let g = addresses(b" undisclosed-recipients:;");
        assert_eq!(
            g,
            vec![AddressItem::Group(
                Some("undisclosed-recipients".into()),
                vec![]
            )]
        );
    }

    #[test]
    fn dates_ids_and_text() {
        let d = date(b" Tue, 1 Jul 2003 10:52:37 +0200").unwrap();
        assert_eq!(d.to_timestamp(), 1057049557);
        assert!(date(b" not a date").is_none());
        assert_eq!(message_ids(b" <a@b> <c@d>"), vec!["a@b", "c@d"]);
        assert_eq!(unstructured(b" =?iso-8859-1?q?caf=E9?= ok"), "café ok");
    }
}
