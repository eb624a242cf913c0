//! ENVELOPE (RFC 9051 §7.5.2): date, subject, from, sender, reply-to, to,
//! cc, bcc, in-reply-to, message-id.

use super::charset;
use super::fields::{self, AddressItem, Mailbox};
use super::header;
use super::imapstr::{nil, nstring, string};
use super::tree::Node;

/// A field's value as text: served headers are 7-bit, but headers inside a
/// signed part are served as they came and may hold 8-bit bytes.
fn text(node: &Node, name: &str) -> Option<String> {
    node.field(name)
        .map(|v| charset::decode_header_bytes(&v, None))
}

/// Text that must stay 7-bit in the envelope: encoded words if not ASCII.
fn seven_bit(s: &str) -> String {
    if s.is_ascii() {
        s.to_owned()
    } else {
        header::encode_unstructured(s)
    }
}

/// The ENVELOPE of the message whose root entity is `node`.
pub(crate) fn envelope(node: &Node) -> String {
    let mut out = String::with_capacity(256);
    out.push('(');
    nstring(&mut out, text(node, "date").as_deref());
    out.push(' ');
    nstring(
        &mut out,
        text(node, "subject").map(|s| seven_bit(&s)).as_deref(),
    );
    let from = address_list(node, "from");
    // RFC 9051 §7.5.2: absent or empty Sender and Reply-To are the From.
    let sender = address_list(node, "sender").or_else(|| from.clone());
    let reply_to = address_list(node, "reply-to").or_else(|| from.clone());
    for list in [
        from,
        sender,
        reply_to,
        address_list(node, "to"),
        address_list(node, "cc"),
        address_list(node, "bcc"),
    ] {
        out.push(' ');
        match list {
            Some(l) => out.push_str(&l),
            None => nil(&mut out),
        }
    }
    out.push(' ');
    nstring(&mut out, text(node, "in-reply-to").as_deref());
    out.push(' ');
    nstring(&mut out, text(node, "message-id").as_deref());
    out.push(')');
    out
}

/// A parenthesised list of addresses, `None` (NIL) when there are none.
/// Groups use RFC 9051's form: a start marker with the group name as
/// mailbox and NIL host, the members, and an end marker of four NILs.
fn address_list(node: &Node, name: &str) -> Option<String> {
    let value = node.field(name)?;
    let items = fields::addresses(charset::decode_header_bytes(&value, None).as_bytes());
    let mut out = String::new();
    for item in &items {
        match item {
            AddressItem::Mailbox(m) => address(&mut out, m),
            AddressItem::Group(name, members) => {
                out.push_str("(NIL NIL ");
                string(&mut out, &seven_bit(name.as_deref().unwrap_or("")));
                out.push_str(" NIL)");
                for m in members {
                    address(&mut out, m);
                }
                out.push_str("(NIL NIL NIL NIL)");
            }
        }
    }
    if out.is_empty() {
        None
    } else {
        Some(format!("({out})"))
    }
}

/// One address `(name adl mailbox host)`. The source route (adl) is always
/// NIL: RFC 5322 made it obsolete. An address without a domain gets an
/// empty host, since a NIL host would mean a group marker.
fn address(out: &mut String, m: &Mailbox) {
    let (mailbox, host) = match (&m.address, &m.name) {
        (Some(a), _) => match a.rfind('@') {
            Some(i) => (a[..i].to_owned(), a[i + 1..].to_owned()),
            None => (a.clone(), String::new()),
        },
        (None, Some(n)) => (n.clone(), String::new()),
        (None, None) => return,
    };
    out.push('(');
    match (&m.name, &m.address) {
        (Some(n), Some(_)) => string(out, &seven_bit(n)),
        _ => nil(out),
    }
    out.push_str(" NIL ");
    string(out, &mailbox);
    out.push(' ');
    string(out, &host);
    out.push(')');
}
