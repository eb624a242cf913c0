//! BODYSTRUCTURE and BODY (RFC 9051 §7.5.2, RFC 3501 §7.4.2).
//!
//! Types, subtypes, encodings and parameter names are upper-cased, as in the
//! RFC's examples; parameter values are as the header gave them, decoded
//! from RFC 2231 and, when not ASCII, given back as RFC 2047 encoded words.

use super::Part;
use super::charset;
use super::envelope::envelope;
use super::fields::{self, ContentType};
use super::header;
use super::imapstr::{nil, nstring, string};
use super::tree::{Body, Node};

/// BODYSTRUCTURE (`extended`) or BODY of the message whose root is `node`;
/// sizes come from the node's row in `rows`.
pub(crate) fn write(node: &Node, rows: &[Part], extended: bool) -> String {
    let mut out = String::with_capacity(256);
    body(&mut out, node, rows, extended);
    out
}

fn body(out: &mut String, node: &Node, rows: &[Part], extended: bool) {
    match &node.body {
        Body::Multipart(children) | Body::Opaque { children, .. } => {
            out.push('(');
            for c in children {
                body(out, c, rows, extended);
            }
            out.push(' ');
            string(out, &node.ctype.sub.to_ascii_uppercase());
            if extended {
                out.push(' ');
                params(out, &node.ctype, false);
                extension(out, node);
            }
            out.push(')');
        }
        Body::Leaf { .. } | Body::Message(_) => single(out, node, rows, extended),
    }
}

fn single(out: &mut String, node: &Node, rows: &[Part], extended: bool) {
    let (size, lines) = rows
        .get(node.row)
        .map_or((0, 0), |r| (r.encoded_bytes, r.lines));
    out.push('(');
    // A multipart that could not be split (only possible inside a signed
    // part, which is never repaired) is described as the text it is.
    let (ty, sub) = if node.ctype.is_multipart() {
        ("TEXT".to_owned(), "PLAIN".to_owned())
    } else {
        (
            node.ctype.ty.to_ascii_uppercase(),
            node.ctype.sub.to_ascii_uppercase(),
        )
    };
    string(out, &ty);
    out.push(' ');
    string(out, &sub);
    out.push(' ');
    params(out, &node.ctype, node.ctype_defaulted);
    out.push(' ');
    nstring(out, field_text(node, "content-id").as_deref());
    out.push(' ');
    nstring(out, field_text(node, "content-description").as_deref());
    out.push(' ');
    string(out, &node.cte.to_ascii_uppercase());
    out.push_str(&format!(" {size}"));
    if let Body::Message(inner) = &node.body {
        out.push(' ');
        out.push_str(&envelope(inner));
        out.push(' ');
        body(out, inner, rows, extended);
        out.push_str(&format!(" {lines}"));
    } else if ty == "TEXT" {
        out.push_str(&format!(" {lines}"));
    }
    if extended {
        out.push(' ');
        nstring(out, field_text(node, "content-md5").as_deref());
        extension(out, node);
    }
    out.push(')');
}

/// A field's value as 7-bit text, if present.
fn field_text(node: &Node, name: &str) -> Option<String> {
    node.field(name).map(|v| {
        let s = charset::decode_header_bytes(&v, None);
        if s.is_ascii() {
            s
        } else {
            header::encode_unstructured(&s)
        }
    })
}

/// `body-fld-param`. A defaulted text type reports RFC 2045's implicit
/// charset.
fn params(out: &mut String, ct: &ContentType, defaulted: bool) {
    if defaulted && ct.is_text() {
        out.push_str("(\"CHARSET\" \"US-ASCII\")");
        return;
    }
    if ct.params.is_empty() {
        nil(out);
        return;
    }
    out.push('(');
    for (i, (name, value)) in ct.params.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        string(out, &name.to_ascii_uppercase());
        out.push(' ');
        if value.is_ascii() {
            string(out, value);
        } else {
            string(out, &header::encoded_words(value));
        }
    }
    out.push(')');
}

/// `body-fld-dsp SP body-fld-lang SP body-fld-loc`, after the MD5 (single
/// parts) or the parameters (multiparts).
fn extension(out: &mut String, node: &Node) {
    out.push(' ');
    match node
        .field("content-disposition")
        .and_then(|v| fields::content_type(&v, true))
    {
        Some(d) => {
            out.push('(');
            string(out, &d.ty.to_ascii_uppercase());
            out.push(' ');
            params(out, &d, false);
            out.push(')');
        }
        None => nil(out),
    }
    out.push(' ');
    let langs: Vec<String> = field_text(node, "content-language")
        .map(|v| {
            v.split(',')
                .map(|l| l.trim().to_owned())
                .filter(|l| !l.is_empty())
                .collect()
        })
        .unwrap_or_default();
    match langs.len() {
        0 => nil(out),
        1 => string(out, &langs[0]),
        _ => {
            out.push('(');
            for (i, l) in langs.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                string(out, l);
            }
            out.push(')');
        }
    }
    out.push(' ');
    nstring(out, field_text(node, "content-location").as_deref());
}
