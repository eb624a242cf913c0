//! From parsed entities to the normalised tree: header repair, boundary and
//! transfer-encoding repair, charset labels, the Date and Message-ID rules,
//! and byte-exact handling of signed parts.

use std::borrow::Cow;

use super::charset;
use super::encode::{self, BASE64, EIGHT_BIT, QUOTED_PRINTABLE, SEVEN_BIT};
use super::fields::{self, ContentType};
use super::header::{self, OutField};
use super::parse::{self, Entity};
use super::tree::{Body, Node};
use super::{MAX_DEPTH, MAX_PARTS};

/// Domain of synthesised Message-IDs: `.invalid` (RFC 2606) can never
/// collide with a real sender's.
pub const SYNTHETIC_ID_DOMAIN: &str = "archiveopteryx.invalid";

/// Running totals while walking one message.
#[derive(Debug, Default)]
pub(crate) struct Walk {
    parts: usize,
}

/// Why a message cannot be normalised and must be wrapped instead.
pub(crate) type WrapReason = String;

impl Walk {
    fn enter(&mut self, depth: usize) -> Result<(), WrapReason> {
        if depth > MAX_DEPTH {
            return Err(format!("MIME nesting deeper than {MAX_DEPTH} levels"));
        }
        self.parts += 1;
        if self.parts > MAX_PARTS {
            return Err(format!("more than {MAX_PARTS} MIME parts"));
        }
        Ok(())
    }
}

/// Normalises the top-level message `e`. `id_seed` (the SHA-256 of the raw
/// input) names a synthesised Message-ID.
pub(crate) fn top(e: &Entity<'_>, id_seed: &[u8; 32], walk: &mut Walk) -> Result<Node, WrapReason> {
    entity(e, false, 0, walk, Some(id_seed), true)
}

/// `data` ending with CRLF: unchanged when it is empty or already does.
fn with_final_crlf(mut data: Vec<u8>) -> Vec<u8> {
    if !data.is_empty() && !data.ends_with(b"\r\n") {
        data.extend_from_slice(b"\r\n");
    }
    data
}

/// The transfer encoding a part declares: `None` when it has no
/// Content-Transfer-Encoding field, else the trimmed lower-case value.
fn declared_cte(e: &Entity<'_>) -> Option<String> {
    e.field("content-transfer-encoding").map(|f| {
        String::from_utf8_lossy(&parse::unfold(f.value))
            .trim()
            .to_ascii_lowercase()
    })
}

/// What a declared encoding means for decoding, repairing obvious typos
/// ("base-64", "quoted-printible"): the intent is clear.
fn decoding_of(declared: Option<&str>) -> &'static str {
    match declared {
        Some(d) if d.contains("base64") || d.contains("base-64") => BASE64,
        Some(d) if d.starts_with("quoted") || d.contains("printable") => QUOTED_PRINTABLE,
        _ => SEVEN_BIT,
    }
}

/// The encoding to serve a leaf in: base64 and quoted-printable stay what
/// they were (re-encoded canonically); anything else is served as it is when
/// RFC 2045 allows that (7bit, or 8bit), and otherwise quoted-printable for
/// text and base64 for the rest.
fn served_cte(decoded: &[u8], declared: Option<&str>, texty: bool) -> &'static str {
    match decoding_of(declared) {
        BASE64 => BASE64,
        QUOTED_PRINTABLE => QUOTED_PRINTABLE,
        _ => {
            let (clean, ascii) = encode::line_clean(decoded);
            if clean {
                if ascii && declared != Some(EIGHT_BIT) {
                    SEVEN_BIT
                } else {
                    EIGHT_BIT
                }
            } else if texty {
                QUOTED_PRINTABLE
            } else {
                BASE64
            }
        }
    }
}

/// Replaces the first field called `name`, or appends one.
fn set_field(fields: &mut Vec<OutField>, name: &str, value: &str) {
    match fields.iter_mut().find(|f| f.is(name)) {
        Some(f) => *f = OutField::new(&f.name.clone(), value),
        None => fields.push(OutField::new(name, value)),
    }
}

/// Sets the Content-Transfer-Encoding field when what is served differs from
/// what is declared (no field means 7bit, RFC 2045 §6.1).
fn label_cte(fields: &mut Vec<OutField>, declared: Option<&str>, served: &str) {
    if declared.unwrap_or(SEVEN_BIT) != served {
        set_field(fields, "Content-Transfer-Encoding", served);
    }
}

/// RFC 5322 §3.6.1 requires a Date. When it is missing, the date of the
/// bottom-most Received field (the first hop, nearest to when the message
/// was written) is used; with no datable Received field there is no Date.
/// RFC 5322 §3.6.4 asks for a Message-ID; a missing one is synthesised from
/// the raw message's SHA-256, so that the same message always gets the
/// same one.
fn supply_date_and_id(e: &Entity<'_>, fields: &mut Vec<OutField>, id_seed: &[u8; 32]) {
    if e.field("date").is_none() {
        let received = e.fields.iter().rev().filter(|f| f.is("received"));
        for f in received {
            let value = parse::unfold(f.value);
            let after = match value.iter().rposition(|&b| b == b';') {
                Some(i) => &value[i + 1..],
                None => continue,
            };
            if let Some(d) = fields::date(after) {
                fields.push(OutField::new("Date", &d.to_rfc822()));
                break;
            }
        }
    }
    if e.field("message-id").is_none() {
        let hex: String = id_seed[..16].iter().map(|b| format!("{b:02x}")).collect();
        fields.push(OutField::new(
            "Message-ID",
            &format!("<{hex}@{SYNTHETIC_ID_DOMAIN}>"),
        ));
    }
}

/// Normalises one entity. `digest` says the parent is multipart/digest
/// (whose parts default to message/rfc822). `at_end` says its content ends
/// the top-level message, which must end with CRLF: a last line without
/// one gets it (in a base64 leaf, `render` supplies it instead).
fn entity(
    e: &Entity<'_>,
    digest: bool,
    depth: usize,
    walk: &mut Walk,
    id_seed: Option<&[u8; 32]>,
    at_end: bool,
) -> Result<Node, WrapReason> {
    walk.enter(depth)?;
    // 8-bit header bytes are tried in the part's own charset first.
    let hint = e
        .field("content-type")
        .and_then(|f| fields::content_type(f.value, false))
        .and_then(|c| c.param("charset").map(str::to_owned));
    let mut out: Vec<OutField> = e
        .fields
        .iter()
        .map(|f| header::normalise_field(f, hint.as_deref()))
        .collect();
    // The type is read from the repaired field: what the next reader of the
    // served bytes will see.
    let parsed = out
        .iter()
        .find(|f| f.is("content-type"))
        .and_then(|f| fields::content_type(&f.unfolded(), false));
    let mut ctype_defaulted = parsed.is_none();
    let mut ctype = parsed.unwrap_or_else(|| {
        if digest {
            ContentType::message_rfc822()
        } else {
            ContentType::text_plain_default()
        }
    });
    if let Some(seed) = id_seed {
        supply_date_and_id(e, &mut out, seed);
    }
    let declared = declared_cte(e);

    if ctype.is_multipart() {
        let boundary = ctype.param("boundary").map(|b| b.as_bytes().to_vec());
        // A signed body is served as it came, except that at the end of the
        // message it ends with CRLF: only the epilogue (or an unclosed last
        // part) can lack it, and no signature covers that.
        let body: Cow<'_, [u8]> = if ctype.sub == "signed" && at_end {
            Cow::Owned(with_final_crlf(e.body.to_vec()))
        } else {
            Cow::Borrowed(e.body)
        };
        let declared_split = boundary
            .as_deref()
            .and_then(|b| parse::split_multipart(&body, b));
        if ctype.sub == "signed"
            && let Some(split) = &declared_split
        {
            // RFC 1847 §2.1 / RFC 3156 §5 / RFC 8551 §3.5: the signature
            // covers the first part's exact bytes, so the body is served as
            // it came; the children only describe it.
            let mut children = Vec::with_capacity(split.parts.len());
            for p in &split.parts {
                children.push(view(&parse::split_entity(p), false, depth + 1, walk)?);
            }
            let header = header::write_header(&out);
            let eight_bit = !body.is_ascii();
            let raw = body.to_vec();
            return Ok(Node {
                eight_bit,
                header,
                fields: out,
                ctype,
                ctype_defaulted,
                cte: if eight_bit { EIGHT_BIT } else { SEVEN_BIT }.into(),
                body: Body::Opaque { raw, children },
                view: None,
                row: 0,
            });
        }
        let split = match declared_split {
            Some(s) => Some(s),
            None => parse::guess_boundary(e.body).and_then(|b| {
                // Repair: the parts are there, the declared boundary is not.
                ctype.set_param("boundary", &String::from_utf8_lossy(&b));
                set_field(
                    &mut out,
                    "Content-Type",
                    &header::write_content_type(&ctype, false),
                );
                parse::split_multipart(e.body, &b)
            }),
        };
        if let Some(split) = split {
            let mut children = Vec::with_capacity(split.parts.len());
            for p in &split.parts {
                children.push(entity(
                    &parse::split_entity(p),
                    ctype.sub == "digest",
                    depth + 1,
                    walk,
                    None,
                    false,
                )?);
            }
            let mut header = header::write_header(&out);
            header.extend_from_slice(split.preamble);
            let eight_bit = !header.is_ascii() || children.iter().any(|c| c.eight_bit);
            return Ok(Node {
                eight_bit,
                header,
                fields: out,
                ctype,
                ctype_defaulted,
                cte: if eight_bit { EIGHT_BIT } else { SEVEN_BIT }.into(),
                body: Body::Multipart(children),
                view: None,
                row: 0,
            });
        }
        // No delimiter at all: there are no parts to show, so the body is
        // served as the text it is.
        ctype = ContentType {
            ty: "text".into(),
            sub: "plain".into(),
            params: Vec::new(),
        };
        set_field(&mut out, "Content-Type", "text/plain");
        ctype_defaulted = false;
    }

    let decoding = decoding_of(declared.as_deref());
    if ctype.is_message() {
        let inner_bytes = encode::decode(e.body, decoding);
        let mut inner_bytes = encode::to_crlf(&inner_bytes);
        if at_end && !inner_bytes.is_empty() && !inner_bytes.ends_with(b"\r\n") {
            inner_bytes = Cow::Owned(with_final_crlf(inner_bytes.into_owned()));
        }
        // An enclosed message sometimes keeps its mbox `From ` line.
        let inner_entity = parse::split_entity(super::strip_from_line(&inner_bytes));
        let inner = entity(&inner_entity, false, depth + 1, walk, None, at_end)?;
        // RFC 2046 §5.2.1: only 7bit, 8bit or binary are allowed here, so an
        // encoded message is served decoded.
        let served = if inner.eight_bit || declared.as_deref() == Some(EIGHT_BIT) {
            EIGHT_BIT
        } else {
            SEVEN_BIT
        };
        label_cte(&mut out, declared.as_deref(), served);
        let header = header::write_header(&out);
        return Ok(Node {
            eight_bit: inner.eight_bit || !header.is_ascii(),
            header,
            fields: out,
            ctype,
            ctype_defaulted,
            cte: served.into(),
            body: Body::Message(Box::new(inner)),
            view: None,
            row: 0,
        });
    }

    let mut decoded = encode::decode(e.body, decoding).into_owned();
    let texty = ctype.is_text() || ctype.ty == "message";
    let mut served = served_cte(&decoded, declared.as_deref(), texty);
    if at_end && served != BASE64 && !decoded.ends_with(b"\r\n") && !decoded.is_empty() {
        // The message's last line gets its line break. (Content that is
        // line-clean stays so, and what was not stays quoted-printable.)
        decoded = with_final_crlf(decoded);
        served = served_cte(&decoded, declared.as_deref(), texty);
    }
    label_cte(&mut out, declared.as_deref(), served);
    if let Some(label) = repaired_charset(&ctype, &decoded) {
        ctype.set_param("charset", label);
        set_field(
            &mut out,
            "Content-Type",
            &header::write_content_type(&ctype, false),
        );
        ctype_defaulted = false;
    }
    let text = leaf_text(&ctype, &decoded);
    let header = header::write_header(&out);
    Ok(Node {
        eight_bit: served == EIGHT_BIT || !header.is_ascii(),
        header,
        fields: out,
        ctype,
        ctype_defaulted,
        cte: served.into(),
        body: Body::Leaf { decoded, text },
        view: None,
        row: 0,
    })
}

/// A text part's charset label, where the content contradicts it clearly:
/// 8-bit text labelled ASCII (or not labelled) is UTF-8 when it is valid
/// UTF-8 and windows-1252 otherwise; text labelled Latin-1 that is valid
/// multi-byte UTF-8 is UTF-8.
fn repaired_charset(ctype: &ContentType, decoded: &[u8]) -> Option<&'static str> {
    if !ctype.is_text() || decoded.is_ascii() {
        return None;
    }
    let utf8 = std::str::from_utf8(decoded).is_ok();
    match ctype.param("charset") {
        None => Some(if utf8 { "utf-8" } else { "windows-1252" }),
        Some(label) if charset::is_weak_label(label) => {
            let ascii_label = !label.to_ascii_lowercase().contains("8859")
                && !label.eq_ignore_ascii_case("latin1");
            if charset::is_utf8_beyond_ascii(decoded) {
                Some("utf-8")
            } else if ascii_label {
                Some("windows-1252")
            } else {
                None
            }
        }
        Some(_) => None,
    }
}

/// Searchable text: text/* parts (HTML reduced to its text) and the
/// textual message/* reports (delivery-status and the like).
fn leaf_text(ctype: &ContentType, decoded: &[u8]) -> Option<String> {
    if !(ctype.is_text() || ctype.ty == "message") {
        return None;
    }
    let text = charset::decode_text(decoded, ctype.param("charset"));
    Some(if ctype.sub == "html" {
        charset::strip_nul(mail_parser::decoders::html::html_to_text(&text))
    } else {
        text
    })
}

/// An entity inside a signed part: parsed for description only, never
/// repaired, since its bytes are served as they came.
fn view(e: &Entity<'_>, digest: bool, depth: usize, walk: &mut Walk) -> Result<Node, WrapReason> {
    walk.enter(depth)?;
    let parsed = e
        .field("content-type")
        .and_then(|f| fields::content_type(f.value, false));
    let ctype_defaulted = parsed.is_none();
    let ctype = parsed.unwrap_or_else(|| {
        if digest {
            ContentType::message_rfc822()
        } else {
            ContentType::text_plain_default()
        }
    });
    let out: Vec<OutField> = e
        .fields
        .iter()
        .map(|f| OutField {
            name: String::from_utf8_lossy(f.name).into_owned(),
            value: f.value.to_vec(),
        })
        .collect();
    let declared = declared_cte(e);
    let size = (e.body.len() as u64, encode::count_lines(e.body));
    let eight_bit = !e.header_raw.is_ascii() || !e.body.is_ascii();
    let cte = declared.clone().unwrap_or_else(|| SEVEN_BIT.into());
    let body = if let Some(split) = ctype
        .param("boundary")
        .filter(|_| ctype.is_multipart())
        .and_then(|b| parse::split_multipart(e.body, b.as_bytes()))
    {
        let mut children = Vec::with_capacity(split.parts.len());
        for p in &split.parts {
            children.push(view(
                &parse::split_entity(p),
                ctype.sub == "digest",
                depth + 1,
                walk,
            )?);
        }
        Body::Multipart(children)
    } else if ctype.is_message() {
        let inner_bytes = encode::decode(e.body, decoding_of(declared.as_deref()));
        let inner_bytes = encode::to_crlf(&inner_bytes);
        let inner_entity = parse::split_entity(super::strip_from_line(&inner_bytes));
        let inner = view(&inner_entity, false, depth + 1, walk)?;
        Body::Message(Box::new(inner))
    } else {
        let decoded = encode::decode(e.body, decoding_of(declared.as_deref())).into_owned();
        let text = leaf_text(&ctype, &decoded);
        Body::Leaf { decoded, text }
    };
    Ok(Node {
        header: e.header_raw.to_vec(),
        fields: out,
        ctype,
        ctype_defaulted,
        cte,
        body,
        view: Some(size),
        eight_bit,
        row: 0,
    })
}
