//! The normalised MIME tree that sits between parsing and the outputs
//! (parts rows, wire bytes, ENVELOPE, BODYSTRUCTURE, search text).

use super::fields::ContentType;
use super::header::OutField;

/// One MIME entity after normalisation: a whole message (its root entity)
/// or a body part.
#[derive(Debug)]
pub(crate) struct Node {
    /// What is served before the entity's content: the header block with its
    /// blank line, and for a multipart also the preamble.
    pub header: Vec<u8>,
    /// The header fields as served (for ENVELOPE, BODYSTRUCTURE, search).
    pub fields: Vec<OutField>,
    pub ctype: ContentType,
    /// True when the entity had no usable Content-Type and `ctype` is the
    /// RFC 2045 §5.2 (or RFC 2046 §5.1.5 digest) default.
    pub ctype_defaulted: bool,
    /// The transfer encoding as served.
    pub cte: String,
    pub body: Body,
    /// For parts inside a signed (opaque) part, which are served inside the
    /// opaque bytes rather than rendered: their size and line count there.
    pub view: Option<(u64, u64)>,
    /// Whether the served entity contains 8-bit octets (decides 7bit or
    /// 8bit for an enclosing message/rfc822).
    pub eight_bit: bool,
    /// Index of this entity's row in the parts list, set when flattening.
    pub row: usize,
}

#[derive(Debug)]
pub(crate) enum Body {
    /// A leaf: its decoded content and searchable text.
    Leaf {
        decoded: Vec<u8>,
        text: Option<String>,
    },
    /// A multipart whose boundary is the `boundary` parameter of `ctype`.
    Multipart(Vec<Node>),
    /// message/rfc822 or message/global: the enclosed message's root.
    Message(Box<Node>),
    /// A signed multipart served byte-exact: `raw` is its body as it came,
    /// `children` describe it for BODYSTRUCTURE, search and section fetches.
    Opaque { raw: Vec<u8>, children: Vec<Node> },
}

impl Node {
    /// The first field called `name`, unfolded and trimmed.
    pub fn field(&self, name: &str) -> Option<Vec<u8>> {
        self.fields.iter().find(|f| f.is(name)).map(|f| {
            let v = f.unfolded();
            let start = v.iter().position(|&b| b != b' ' && b != b'\t');
            let end = v.iter().rposition(|&b| b != b' ' && b != b'\t');
            match (start, end) {
                (Some(s), Some(e)) => v[s..=e].to_vec(),
                _ => Vec::new(),
            }
        })
    }
}
