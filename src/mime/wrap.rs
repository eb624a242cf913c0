//! Wrapping what cannot be parsed (DESIGN §5: never lose a message): a new
//! multipart/mixed message with an explanation and the original bytes as
//! an attachment, under the original's Date, From, Subject and Message-ID
//! where those can be salvaged.

use super::encode;
use super::header::{self, OutField};
use super::parse;

/// The name the original gets as an attachment.
pub const ORIGINAL_NAME: &str = "original.eml";

/// The header fields worth salvaging from an unparseable message.
fn salvage(raw: &[u8]) -> Vec<OutField> {
    let crlf = encode::to_crlf(raw);
    let buf = super::strip_from_line(&crlf);
    let e = parse::split_entity(buf);
    ["Date", "From", "Subject", "Message-ID"]
        .iter()
        .filter_map(|name| e.field(name))
        .map(|f| header::normalise_field(f, None))
        .collect()
}

/// Builds the wrapper for `raw`. `salvaging` false skips looking at the
/// original's header at all (the fallback if even that fails).
pub(crate) fn wrapper(raw: &[u8], reason: &str, sha: &[u8; 32], salvaging: bool) -> Vec<u8> {
    let hex: String = sha.iter().map(|b| format!("{b:02x}")).collect();
    let boundary = format!("aox-wrapped-{}", &hex[..24]);
    let mut fields = if salvaging { salvage(raw) } else { Vec::new() };
    if !fields.iter().any(|f| f.is("subject")) {
        fields.push(OutField::new("Subject", "Unparsable message"));
    }
    fields.push(OutField::new("MIME-Version", "1.0"));
    fields.push(OutField::new(
        "Content-Type",
        &format!("multipart/mixed; boundary=\"{boundary}\""),
    ));
    let mut out = header::write_header(&fields);
    let explanation = format!(
        "Archiveopteryx could not parse this message ({reason}).\r\n\
         The original is attached, byte for byte, as {ORIGINAL_NAME}\r\n\
         ({} bytes, SHA-256 {hex}).\r\n",
        raw.len()
    );
    out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
    out.extend_from_slice(b"Content-Type: text/plain; charset=us-ascii\r\n\r\n");
    out.extend_from_slice(explanation.as_bytes());
    out.extend_from_slice(format!("\r\n--{boundary}\r\n").as_bytes());
    out.extend_from_slice(
        format!(
            "Content-Type: application/octet-stream; name={ORIGINAL_NAME}\r\n\
             Content-Disposition: attachment; filename={ORIGINAL_NAME}\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n"
        )
        .as_bytes(),
    );
    out.extend_from_slice(&encode::encode_base64(raw));
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}
