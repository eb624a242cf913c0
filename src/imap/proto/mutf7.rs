//! Modified UTF-7 for mailbox names (RFC 3501 §5.1.3): printable US-ASCII
//! stands for itself except `&`, which is `&-`; anything else is UTF-16
//! in base64 with `,` for `/` between `&` and `-`. Clients that did not
//! ENABLE UTF8=ACCEPT (RFC 6855 §3) send and expect names in this form.

/// The modified base64 alphabet: RFC 2045's with `,` in place of `/`.
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/// Why a name is not canonical modified UTF-7.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Mutf7Error {
    /// A byte outside printable US-ASCII appeared unencoded.
    #[error("byte 0x{0:02x} must be encoded in modified UTF-7")]
    Unencoded(u8),
    /// An `&` without its closing `-`.
    #[error("an encoded run is missing its closing '-'")]
    Unterminated,
    /// A character outside the modified base64 alphabet.
    #[error("'{0}' is not modified base64")]
    BadBase64(char),
    /// The base64 does not decode to whole UTF-16 code units with zero
    /// padding bits, or to well-formed UTF-16.
    #[error("an encoded run is not valid UTF-16")]
    BadUtf16,
    /// Valid but not how RFC 3501 §5.1.3 says to write it: printable ASCII
    /// encoded, or two encoded runs back to back.
    #[error("the name is not in canonical modified UTF-7")]
    NonCanonical,
}

fn is_direct(c: u32) -> bool {
    (0x20..=0x7e).contains(&c)
}

/// Encodes a mailbox name into modified UTF-7.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut run: Vec<u16> = Vec::new();
    for ch in name.chars() {
        if is_direct(u32::from(ch)) {
            flush(&mut out, &mut run);
            if ch == '&' {
                out.push_str("&-");
            } else {
                out.push(ch);
            }
        } else {
            let mut units = [0u16; 2];
            run.extend_from_slice(ch.encode_utf16(&mut units));
        }
    }
    flush(&mut out, &mut run);
    out
}

/// Writes one encoded run `&…-` and empties it.
fn flush(out: &mut String, run: &mut Vec<u16>) {
    if run.is_empty() {
        return;
    }
    out.push('&');
    let (mut bits, mut nbits) = (0u32, 0u32);
    for byte in run.iter().flat_map(|u| u.to_be_bytes()) {
        bits = (bits << 8) | u32::from(byte);
        nbits += 8;
        while nbits >= 6 {
            nbits -= 6;
            out.push(char::from(ALPHABET[((bits >> nbits) & 63) as usize]));
        }
        bits &= (1 << nbits) - 1;
    }
    if nbits > 0 {
        out.push(char::from(ALPHABET[((bits << (6 - nbits)) & 63) as usize]));
    }
    out.push('-');
    run.clear();
}

fn sextet(b: u8) -> Result<u32, Mutf7Error> {
    ALPHABET
        .iter()
        .position(|&a| a == b)
        .map(|p| p as u32)
        .ok_or(Mutf7Error::BadBase64(char::from(b)))
}

/// Decodes a modified UTF-7 mailbox name, refusing any spelling that
/// [`encode`] would not produce, so that one mailbox has one name.
pub fn decode(name: &str) -> Result<String, Mutf7Error> {
    let bytes = name.as_bytes();
    let mut out = String::with_capacity(name.len());
    let mut i = 0;
    // Where the last encoded run ended: another starting right there should
    // have been one run.
    let mut last_run_end = None;
    while let Some(&b) = bytes.get(i) {
        if b != b'&' {
            if !is_direct(u32::from(b)) {
                return Err(Mutf7Error::Unencoded(b));
            }
            out.push(char::from(b));
            i += 1;
            continue;
        }
        let rest = bytes.get(i + 1..).unwrap_or_default();
        let len = rest
            .iter()
            .position(|&c| c == b'-')
            .ok_or(Mutf7Error::Unterminated)?;
        let run = rest.get(..len).unwrap_or_default();
        if run.is_empty() {
            out.push('&');
        } else {
            if last_run_end == Some(i) {
                return Err(Mutf7Error::NonCanonical);
            }
            decode_run(run, &mut out)?;
            last_run_end = Some(i + len + 2);
        }
        i += len + 2;
    }
    Ok(out)
}

/// Decodes the base64 between `&` and `-` and appends its characters.
fn decode_run(run: &[u8], out: &mut String) -> Result<(), Mutf7Error> {
    let mut units = Vec::with_capacity(run.len() * 6 / 16);
    let (mut bits, mut nbits) = (0u32, 0u32);
    let mut pending: Option<u8> = None;
    for &c in run {
        bits = (bits << 6) | sextet(c)?;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            let byte = ((bits >> nbits) & 0xff) as u8;
            bits &= (1 << nbits) - 1;
            match pending.take() {
                None => pending = Some(byte),
                Some(high) => units.push(u16::from_be_bytes([high, byte])),
            }
        }
    }
    // Canonical base64 ends on a code unit boundary with fewer than six
    // padding bits, all zero.
    if pending.is_some() || nbits >= 6 || bits != 0 {
        return Err(Mutf7Error::BadUtf16);
    }
    for ch in char::decode_utf16(units) {
        let ch = ch.map_err(|_| Mutf7Error::BadUtf16)?;
        if is_direct(u32::from(ch)) {
            return Err(Mutf7Error::NonCanonical);
        }
        out.push(ch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc3501_5_1_3_example_round_trips() {
        let name = "~peter/mail/台北/日本語";
        assert_eq!(encode(name), "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
        assert_eq!(
            decode("~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
            Ok(name.to_owned())
        );
    }

    #[test]
    fn rfc3501_5_1_3_ampersand_is_amp_dash() {
        assert_eq!(encode("Tom & Jerry"), "Tom &- Jerry");
        assert_eq!(decode("Tom &- Jerry"), Ok("Tom & Jerry".to_owned()));
    }

    #[test]
    fn rfc3501_5_1_3_non_canonical_spellings_are_refused() {
        // "&Jjo!" from the RFC is not valid: no `-`, and `!` is not base64.
        assert_eq!(decode("&Jjo!"), Err(Mutf7Error::Unterminated));
        assert_eq!(decode("&Jjo!-"), Err(Mutf7Error::BadBase64('!')));
        assert_eq!(decode("&U,BTFw"), Err(Mutf7Error::Unterminated));
        // Two runs back to back must be one: "&U,A-&U,A-" is "&U,BTAA-"-ish.
        let one = encode("台台");
        assert_eq!(decode(&one), Ok("台台".to_owned()));
        assert_eq!(decode("&U,A-&U,A-"), Err(Mutf7Error::NonCanonical));
        // "A" (U+0041) encoded instead of written directly.
        assert_eq!(decode("&AEE-"), Err(Mutf7Error::NonCanonical));
        // Non-zero padding bits.
        assert_eq!(decode("&U,BTFx-"), Err(Mutf7Error::BadUtf16));
        // A lone high surrogate.
        assert_eq!(decode("&2D0-"), Err(Mutf7Error::BadUtf16));
        assert_eq!(decode("caf\u{e9}"), Err(Mutf7Error::Unencoded(0xc3)));
    }

    #[test]
    fn control_characters_and_astral_planes_are_encoded() {
        assert_eq!(encode("a\tb"), "a&AAk-b");
        assert_eq!(decode(&encode("😀")), Ok("😀".to_owned()));
    }

    proptest! {
        #[test]
        fn encode_then_decode_is_identity(name in any::<String>()) {
            let encoded = encode(&name);
            prop_assert!(encoded.bytes().all(|b| (0x20..=0x7e).contains(&b)));
            prop_assert_eq!(decode(&encoded), Ok(name));
        }

        #[test]
        fn decode_never_panics_and_accepted_names_are_canonical(name in "[ -~]{0,24}") {
            if let Ok(decoded) = decode(&name) {
                prop_assert_eq!(encode(&decoded), name);
            }
        }
    }
}
