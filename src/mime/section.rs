//! FETCH body sections (RFC 9051 §6.4.5, RFC 3501 §6.4.5): the bytes of
//! `BODY[section]` cut from a message's stored parts. Pure: the caller asks
//! [`needed`] which body parts a section reads, loads only those, and hands
//! them to [`section`] by hash.
//!
//! Every section comes from the renderer that made `Ingested::wire`, so it
//! is a slice of what `BODY[]` serves (HEADER.FIELDS: a subset of one of its
//! header blocks) and cannot drift from it. Parts inside a multipart/signed
//! part are not rendered row by row: that part is served byte-exact
//! (RFC 1847 §2.1), so its descendants are found by cutting its body at its
//! boundaries with the parser ingest used to describe them.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;

use super::encode;
use super::parse;
use super::render::{RenderError, boundary_of, render_with_spans, split_header_column};
use super::{MAX_DEPTH, Part};

/// What follows the part number in a section specifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectionText<'a> {
    /// `HEADER`: the header block, blank line included.
    Header,
    /// `HEADER.FIELDS (…)`: only the named fields (names ignore case).
    HeaderFields(&'a [String]),
    /// `HEADER.FIELDS.NOT (…)`: every field but the named ones.
    HeaderFieldsNot(&'a [String]),
    /// `TEXT`: the body after the header block.
    Text,
    /// `MIME`: the part's own MIME header block (needs a part number).
    Mime,
}

/// A section specifier: `BODY[1.2.HEADER]` is part `[1, 2]`, text `Header`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SectionSpec<'a> {
    /// The part number; empty for the top-level message.
    pub part: &'a [u32],
    /// What of that part; `None` for all of it.
    pub text: Option<SectionText<'a>>,
}

/// Gives the decoded content of a body part by hash (`bodyparts.data`).
/// `'a` is explicit so that a caller holding the content (the store's map
/// from `bodypart_data`) can lend it rather than copy it.
pub type LeafLookup<'l, 'a> = &'l dyn Fn(&[u8; 32]) -> Option<Cow<'a, [u8]>>;

/// Hashes of the body parts whose content is needed to serve `spec` (so the
/// store loads only those; none for HEADER/MIME/HEADER.FIELDS).
pub fn needed(parts: &[Part], spec: &SectionSpec) -> Vec<[u8; 32]> {
    let tree = Tree::new(parts);
    match resolve(&tree, spec) {
        Ok(Some((target, _))) => tree.needed(target),
        _ => Vec::new(),
    }
}

/// The bytes of the section, or None when the message has no such part (the
/// session then sends an empty string, as RFC 9051 says).
///
/// `leaves` is asked only for hashes [`needed`] names.
pub fn section<'a>(
    parts: &[Part],
    leaves: LeafLookup<'_, 'a>,
    spec: &SectionSpec,
) -> Result<Option<Vec<u8>>, RenderError> {
    let tree = Tree::new(parts);
    let Some((target, filter)) = resolve(&tree, spec)? else {
        return Ok(None);
    };
    let need = tree.needed(target);
    // A header outside signed parts is a row's header column as it is.
    if let Target::Header(r) = target
        && need.is_empty()
    {
        let block = split_header_column(&parts[r].header).0;
        return Ok(Some(filtered(block, filter)));
    }
    // Render the whole message with empty content for the body parts the
    // section does not read: the spans of the rows it does read come out
    // exactly as in BODY[], at the cost of copying the other header columns.
    let lookup = |h: &[u8; 32]| -> Option<Cow<'a, [u8]>> {
        if need.binary_search(h).is_ok() {
            leaves(h)
        } else {
            Some(Cow::Borrowed(&[][..]))
        }
    };
    let (wire, spans) = render_with_spans(parts, &lookup)?;
    let header_len = |r: usize| split_header_column(&parts[r].header).0.len();
    let locate = Locate {
        tree: &tree,
        wire: &wire,
        spans: &spans,
    };
    Ok(match target {
        Target::Whole => Some(wire),
        // The top-level TEXT includes the CRLF `render` adds at the very end.
        Target::TopText => Some(
            wire.get(header_len(tree.root)..)
                .unwrap_or_default()
                .to_vec(),
        ),
        Target::Header(r) => locate
            .entity(r, 0)
            .map(|e| filtered(split_header_column(&e.header).0, filter)),
        Target::After(r) => locate.entity(r, 0).map(|e| {
            let mut out = split_header_column(&e.header).1.to_vec();
            out.extend_from_slice(&e.content);
            out
        }),
    })
}

/// RFC 9051 §6.4.5 `<offset.length>`: at most `len` octets from `offset`;
/// empty when `offset` is beyond the end.
pub fn partial(bytes: &[u8], offset: u32, len: u32) -> &[u8] {
    let start = (offset as usize).min(bytes.len());
    let end = start.saturating_add(len as usize).min(bytes.len());
    &bytes[start..end]
}

/// A resolved section, by row index.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// `BODY[]`.
    Whole,
    /// `BODY[TEXT]` of the top-level message.
    TopText,
    /// The header block of a row's header column.
    Header(usize),
    /// What follows a row's header block: `[n]` of a part, or `[n.TEXT]`
    /// when the row is the header row of the message inside part n.
    After(usize),
}

/// HEADER.FIELDS names and whether they are the ones to leave out.
type Filter<'s> = Option<(&'s [String], bool)>;

/// The rows by name.
struct Tree<'p> {
    parts: &'p [Part],
    by_name: HashMap<&'p str, usize>,
    root: usize,
    /// Rows of multipart/signed parts served byte-exact.
    opaque: Vec<usize>,
}

impl<'p> Tree<'p> {
    fn new(parts: &'p [Part]) -> Tree<'p> {
        let by_name: HashMap<&str, usize> = parts
            .iter()
            .enumerate()
            .map(|(i, p)| (p.part.as_str(), i))
            .collect();
        let root = by_name.get("").copied().unwrap_or(usize::MAX);
        let opaque = (0..parts.len())
            .filter(|&i| is_multipart(&parts[i]) && parts[i].bodypart.is_some())
            .collect();
        Tree {
            parts,
            by_name,
            root,
            opaque,
        }
    }

    fn get(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// The outermost signed part whose bytes hold row `r`, if any. A
    /// signed part's descendants lie under its number; those of a signed
    /// message root `n.HEADER` under `n`, which is not one of them.
    fn opaque_ancestor(&self, r: usize) -> Option<usize> {
        let name = self.parts[r].part.as_str();
        self.opaque
            .iter()
            .copied()
            .filter(|&o| {
                let s = scope(&self.parts[o].part);
                o != r && name != s && inside(name, s)
            })
            .min_by_key(|&o| scope(&self.parts[o].part).len())
    }

    fn needed(&self, target: Target) -> Vec<[u8; 32]> {
        let subtree = match target {
            Target::Whole | Target::TopText => "",
            Target::Header(r) | Target::After(r) => {
                if let Some(o) = self.opaque_ancestor(r) {
                    return self.parts[o].bodypart.into_iter().collect();
                }
                if matches!(target, Target::Header(_)) {
                    return Vec::new();
                }
                scope(&self.parts[r].part)
            }
        };
        let mut out: Vec<[u8; 32]> = (0..self.parts.len())
            .filter(|&i| inside(&self.parts[i].part, subtree))
            .filter(|&i| self.opaque_ancestor(i).is_none())
            .filter_map(|i| self.parts[i].bodypart)
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// Turns a section specifier into a row (RFC 9051 §6.4.5). `Ok(None)` when
/// the message has no such part.
fn resolve<'s>(
    tree: &Tree<'_>,
    spec: &SectionSpec<'s>,
) -> Result<Option<(Target, Filter<'s>)>, RenderError> {
    if tree.root == usize::MAX {
        return Err(RenderError::MissingPart(String::new()));
    }
    if spec.part.contains(&0) {
        return Ok(None);
    }
    let filter = match spec.text {
        Some(SectionText::HeaderFields(names)) => Some((names, false)),
        Some(SectionText::HeaderFieldsNot(names)) => Some((names, true)),
        _ => None,
    };
    let name = spec
        .part
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(".");
    if name.is_empty() {
        return Ok(match spec.text {
            None => Some((Target::Whole, None)),
            Some(SectionText::Text) => Some((Target::TopText, None)),
            // MIME must follow a part number (RFC 9051 §6.4.5).
            Some(SectionText::Mime) => None,
            Some(_) => Some((Target::Header(tree.root), filter)),
        });
    }
    let Some(r) = tree.get(&name) else {
        return Ok(None);
    };
    Ok(match spec.text {
        None => Some((Target::After(r), None)),
        Some(SectionText::Mime) => Some((Target::Header(mime_row(tree, r)), None)),
        // HEADER and TEXT with a part number are those of the message
        // enclosed in a message/rfc822 part; other parts have none.
        Some(text) => {
            if !is_message(&tree.parts[r]) {
                return Ok(None);
            }
            let Some(h) = tree.get(&format!("{name}.HEADER")) else {
                return Ok(None);
            };
            match text {
                SectionText::Text => Some((Target::After(h), None)),
                _ => Some((Target::Header(h), filter)),
            }
        }
    })
}

/// The row whose header is part `r`'s MIME header. The body of a
/// single-part message (part `1`, or `n.1` inside message/rfc822 part `n`)
/// has no header of its own: its MIME header fields are the message's
/// (Content-Type and the rest live there), so that header block is served,
/// as Dovecot does, and `[1.MIME]` + `[1]` is still contiguous.
fn mime_row(tree: &Tree<'_>, r: usize) -> usize {
    let row = &tree.parts[r];
    if !row.header.is_empty() {
        return r;
    }
    let message = match row.part.as_str() {
        "1" => Some(tree.root),
        name => name
            .strip_suffix(".1")
            .and_then(|n| tree.get(&format!("{n}.HEADER"))),
    };
    match message {
        Some(m) if !is_multipart(&tree.parts[m]) => m,
        _ => r,
    }
}

fn is_multipart(p: &Part) -> bool {
    p.content_type.starts_with("multipart/")
}

fn is_message(p: &Part) -> bool {
    p.content_type == "message/rfc822" || p.content_type == "message/global"
}

/// The part number a row's descendants are named under: the header row
/// `n.HEADER` of an enclosed message is the parent of `n.1`, `n.2`…
fn scope(name: &str) -> &str {
    name.strip_suffix(".HEADER").unwrap_or(name)
}

/// Whether row `name` is `scope` or lies under it.
fn inside(name: &str, scope: &str) -> bool {
    scope.is_empty()
        || name == scope
        || (name.len() > scope.len()
            && name.starts_with(scope)
            && name.as_bytes().get(scope.len()) == Some(&b'.'))
}

/// An entity's header column and content, borrowed from the rendered
/// message where they are a slice of it.
struct Entity<'w> {
    header: Cow<'w, [u8]>,
    content: Cow<'w, [u8]>,
}

/// Finds rows in the rendered message.
struct Locate<'w> {
    tree: &'w Tree<'w>,
    wire: &'w [u8],
    spans: &'w [Option<(usize, usize)>],
}

impl<'w> Locate<'w> {
    /// Row `r`'s header column and content: where `render` put them, or,
    /// for a row inside a signed part, cut from its parent's content the way
    /// ingest cut it (normalise.rs `view`). `None` when the bytes do not
    /// hold the part.
    fn entity(&self, r: usize, depth: usize) -> Option<Entity<'w>> {
        let parts: &'w [Part] = self.tree.parts;
        let row = parts.get(r)?;
        if let Some(Some((start, end))) = self.spans.get(r) {
            return Some(Entity {
                header: Cow::Borrowed(&row.header),
                content: Cow::Borrowed(self.wire.get(*start..*end)?),
            });
        }
        // Each step goes one row up; rows nest no deeper than this.
        if depth > 2 * MAX_DEPTH + 4 {
            return None;
        }
        let name = row.part.as_str();
        if let Some(number) = name.strip_suffix(".HEADER") {
            // The message inside message/rfc822 part `number`: decoded when
            // the part declares an encoding, as ingest read it.
            let m = self.tree.get(number)?;
            let outer = self.entity(m, depth + 1)?;
            let cte = decoding_of(&parts[m].transfer_encoding);
            let decoded = map_cow(outer.content, |b| encode::decode(b, cte));
            let crlf = map_cow(decoded, encode::to_crlf);
            let message = narrow(crlf, |b| Some(range_in(b, super::strip_from_line(b))))?;
            return split_entity(message);
        }
        let (parent, k) = name.rsplit_once('.').unwrap_or(("", name));
        let k: usize = k.parse().ok()?;
        let container = if parent.is_empty() {
            self.tree.root
        } else {
            self.tree
                .get(&format!("{parent}.HEADER"))
                .or_else(|| self.tree.get(parent))?
        };
        let c = self.entity(container, depth + 1)?;
        if is_multipart(&parts[container]) {
            let boundary = boundary_of(&c.header)?;
            let piece = narrow(c.content, |body| {
                let split = parse::split_multipart(body, &boundary)?;
                let piece = split.parts.get(k.checked_sub(1)?)?;
                Some(range_in(body, piece))
            })?;
            split_entity(piece)
        } else if k == 1 {
            // A single-part message's body has no header of its own.
            Some(Entity {
                header: Cow::Borrowed(&[]),
                content: c.content,
            })
        } else {
            None
        }
    }
}

/// As normalise.rs `decoding_of`: what a declared encoding means for
/// decoding, typos included.
fn decoding_of(declared: &str) -> &'static str {
    let d = declared.to_ascii_lowercase();
    if d.contains("base64") || d.contains("base-64") {
        encode::BASE64
    } else if d.starts_with("quoted") || d.contains("printable") {
        encode::QUOTED_PRINTABLE
    } else {
        encode::SEVEN_BIT
    }
}

/// Splits an entity into header and body with the parser ingest used.
fn split_entity(bytes: Cow<'_, [u8]>) -> Option<Entity<'_>> {
    let (header, body) = {
        let e = parse::split_entity(&bytes);
        (range_in(&bytes, e.header_raw), range_in(&bytes, e.body))
    };
    Some(Entity {
        header: narrow(bytes.clone(), |_| Some(header))?,
        content: narrow(bytes, |_| Some(body))?,
    })
}

/// Where `inner`, a subslice of `outer`, lies in it.
fn range_in(outer: &[u8], inner: &[u8]) -> Range<usize> {
    let start = (inner.as_ptr() as usize)
        .saturating_sub(outer.as_ptr() as usize)
        .min(outer.len());
    start..(start + inner.len()).min(outer.len())
}

/// Part of `c`, still borrowed when `c` is.
fn narrow<'w>(
    c: Cow<'w, [u8]>,
    f: impl FnOnce(&[u8]) -> Option<Range<usize>>,
) -> Option<Cow<'w, [u8]>> {
    match c {
        Cow::Borrowed(b) => {
            let r = f(b)?;
            b.get(r).map(Cow::Borrowed)
        }
        Cow::Owned(v) => {
            let r = f(&v)?;
            v.get(r).map(|s| Cow::Owned(s.to_vec()))
        }
    }
}

/// `f` applied to `c`, still borrowed when both are.
fn map_cow<'w>(c: Cow<'w, [u8]>, f: impl for<'x> Fn(&'x [u8]) -> Cow<'x, [u8]>) -> Cow<'w, [u8]> {
    match c {
        Cow::Borrowed(b) => f(b),
        Cow::Owned(v) => Cow::Owned(f(&v).into_owned()),
    }
}

/// A header block, or with HEADER.FIELDS(.NOT) the fields named (or all
/// others) in message order, continuation lines kept, and then the blank
/// line (RFC 9051 §6.4.5: "the subset … and the delimiting blank line").
fn filtered(block: &[u8], filter: Filter<'_>) -> Vec<u8> {
    let Some((names, not)) = filter else {
        return block.to_vec();
    };
    let mut out = Vec::new();
    // A continuation line with no field before it belongs to no listed field.
    let mut keep = not;
    for line in block.split_inclusive(|&b| b == b'\n') {
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        if !matches!(line.first(), Some(b' ' | b'\t')) {
            let name = match line.iter().position(|&b| b == b':') {
                Some(colon) => line[..colon].trim_ascii_end(),
                None => line,
            };
            let listed = names
                .iter()
                .any(|n| n.as_bytes().eq_ignore_ascii_case(name));
            keep = listed != not;
        }
        if keep {
            out.extend_from_slice(line);
            if !line.ends_with(b"\n") {
                // A header block cut short: the field still ends its line.
                out.extend_from_slice(b"\r\n");
            }
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests;
