//! Flattening the normalised tree into `message_parts` rows and
//! deduplicated `bodyparts` leaves, in pre-order (render.rs explains the
//! part naming).

use std::collections::HashSet;

use sha2::{Digest, Sha256};

use super::tree::{Body, Node};
use super::{Leaf, Part};

/// SHA-256 of `data`.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Collects rows and leaves; moves decoded content out of the tree.
#[derive(Default)]
pub(crate) struct Flattener {
    pub rows: Vec<Part>,
    pub leaves: Vec<Leaf>,
    seen: HashSet<[u8; 32]>,
}

impl Flattener {
    fn push(
        &mut self,
        part: String,
        header: Vec<u8>,
        node: &Node,
        bodypart: Option<[u8; 32]>,
    ) -> usize {
        let (encoded_bytes, lines) = node.view.unwrap_or((0, 0));
        let position = i32::try_from(self.rows.len()).unwrap_or(i32::MAX);
        self.rows.push(Part {
            part,
            position,
            header,
            content_type: node.ctype.mime(),
            transfer_encoding: node.cte.clone(),
            bodypart,
            encoded_bytes,
            lines,
        });
        self.rows.len() - 1
    }

    fn leaf(&mut self, decoded: Vec<u8>, text: Option<String>) -> [u8; 32] {
        let hash = sha256(&decoded);
        if self.seen.insert(hash) {
            self.leaves.push(Leaf {
                hash,
                decoded,
                text,
            });
        }
        hash
    }

    /// Takes a leaf's content out of the tree and records it.
    fn take_leaf(&mut self, node: &mut Node) -> Option<[u8; 32]> {
        match &mut node.body {
            Body::Leaf { decoded, text } => {
                let (decoded, text) = (std::mem::take(decoded), text.take());
                Some(self.leaf(decoded, text))
            }
            _ => None,
        }
    }

    /// A message's root entity under IMAP number `prefix` ("" at the top).
    pub fn message(&mut self, node: &mut Node, prefix: &str) {
        let name = if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix}.HEADER")
        };
        let child = if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix}.")
        };
        let header = std::mem::take(&mut node.header);
        if let Some(hash) = self.take_leaf(node) {
            node.row = self.push(name, header, node, None);
            // RFC 9051 §6.4.5: a non-multipart message's body is part 1.
            self.push(format!("{child}1"), Vec::new(), node, Some(hash));
        } else if matches!(node.body, Body::Message(_)) {
            node.row = self.push(name, header, node, None);
            self.push(format!("{child}1"), Vec::new(), node, None);
            if let Body::Message(inner) = &mut node.body {
                self.message(inner, &format!("{child}1"));
            }
        } else {
            node.row = self.container(header, node, name);
            self.children(node, &child);
        }
    }

    /// A body part numbered `number`.
    fn part(&mut self, node: &mut Node, number: String) {
        let header = std::mem::take(&mut node.header);
        if let Some(hash) = self.take_leaf(node) {
            node.row = self.push(number, header, node, Some(hash));
        } else if matches!(node.body, Body::Message(_)) {
            node.row = self.push(number.clone(), header, node, None);
            if let Body::Message(inner) = &mut node.body {
                self.message(inner, &number);
            }
        } else {
            node.row = self.container(header, node, number.clone());
            self.children(node, &format!("{number}."));
        }
    }

    /// A multipart's own row; a signed one carries its raw body as content.
    fn container(&mut self, header: Vec<u8>, node: &mut Node, name: String) -> usize {
        let raw = match &mut node.body {
            Body::Opaque { raw, .. } => Some(std::mem::take(raw)),
            _ => None,
        };
        let bodypart = raw.map(|r| self.leaf(r, None));
        self.push(name, header, node, bodypart)
    }

    fn children(&mut self, node: &mut Node, prefix: &str) {
        let children = match &mut node.body {
            Body::Multipart(c) => c,
            Body::Opaque { children, .. } => children,
            _ => return,
        };
        for (k, c) in children.iter_mut().enumerate() {
            self.part(c, format!("{prefix}{}", k + 1));
        }
    }
}
