//! The `message_search` row: header text decoded to UTF-8 for SEARCH
//! SUBJECT/FROM/TO/CC/BCC/HEADER (substring matches, RFC 9051 §6.4.4).

use super::SearchFields;
use super::charset;
use super::fields::{self, AddressItem, Mailbox};
use super::tree::Node;

/// Search text for the message whose root entity is `node`.
pub(crate) fn search_fields(node: &Node) -> SearchFields {
    let unstructured = |name: &str| node.field(name).map(|v| decoded(&v)).unwrap_or_default();
    let mut headers = String::new();
    for f in &node.fields {
        headers.push_str(&f.name);
        headers.push_str(": ");
        headers.push_str(&decoded(&f.unfolded()));
        headers.push('\n');
    }
    SearchFields {
        subject: unstructured("subject"),
        from_text: addresses(node, "from"),
        to_text: addresses(node, "to"),
        cc_text: addresses(node, "cc"),
        bcc_text: addresses(node, "bcc"),
        headers: charset::strip_nul(headers),
    }
}

/// A value with encoded words decoded (8-bit bytes, which only signed
/// parts keep, decoded first).
fn decoded(value: &[u8]) -> String {
    let utf8 = charset::decode_header_bytes(value, None);
    charset::strip_nul(fields::unstructured(utf8.as_bytes()))
}

fn mailbox_text(m: &Mailbox) -> String {
    match (&m.name, &m.address) {
        (Some(n), Some(a)) => format!("{n} <{a}>"),
        (Some(n), None) => n.clone(),
        (None, Some(a)) => a.clone(),
        (None, None) => String::new(),
    }
}

/// Every address of every `name` field, as `Name <address>`, comma-joined.
fn addresses(node: &Node, name: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    for f in node.fields.iter().filter(|f| f.is(name)) {
        let utf8 = charset::decode_header_bytes(&f.unfolded(), None);
        for item in fields::addresses(utf8.as_bytes()) {
            match item {
                AddressItem::Mailbox(m) => parts.push(mailbox_text(&m)),
                AddressItem::Group(g, members) => {
                    let members: Vec<String> = members.iter().map(mailbox_text).collect();
                    parts.push(format!(
                        "{}: {};",
                        g.unwrap_or_default(),
                        members.join(", ")
                    ));
                }
            }
        }
    }
    parts.retain(|p| !p.is_empty());
    charset::strip_nul(parts.join(", "))
}
