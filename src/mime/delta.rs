//! The original bytes of a message as a small edit of its served form.
//!
//! Normalisation usually changes a message only a little: line ends, a
//! Message-ID added, a header refolded, a blank line before a delimiter. For
//! evidence the store must still give back exactly what arrived, but keeping
//! a second full copy of every such message doubles an archive. A line diff
//! between the served form (with LF line ends when the original had no CR)
//! and the original is usually a few dozen bytes; when it is not small, the
//! caller keeps the original bytes instead.
//!
//! Format: one byte naming the base (`L`: the served form with CRLF as LF;
//! `C`: the served form as is), then commands over the base's lines: `c n`
//! copy n lines, `s n` skip n lines, `i n bytes` insert n bytes; numbers are
//! LEB128.

use std::time::{Duration, Instant};

use similar::{Algorithm, DiffOp, capture_diff_slices_deadline};

/// How long one diff may take before the caller falls back to a full copy.
const DEADLINE: Duration = Duration::from_millis(50);

/// Why a delta cannot be applied.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the stored original delta is damaged")]
pub struct DeltaError;

fn lines(bytes: &[u8]) -> Vec<&[u8]> {
    bytes.split_inclusive(|&b| b == b'\n').collect()
}

fn put_number(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let low = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(low);
            return;
        }
        out.push(low | 0x80);
    }
}

fn take_number(input: &mut &[u8]) -> Result<u64, DeltaError> {
    let mut n = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = input.split_first().ok_or(DeltaError)?;
        *input = rest;
        n |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(n);
        }
    }
    Err(DeltaError)
}

fn base(kind: u8, wire: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, DeltaError> {
    match kind {
        b'L' => Ok(std::borrow::Cow::Owned(super::lf_form(wire))),
        b'C' => Ok(std::borrow::Cow::Borrowed(wire)),
        _ => Err(DeltaError),
    }
}

/// A delta that turns `wire` back into `original`, if one no larger than
/// `limit` bytes is found in time.
pub fn delta(original: &[u8], wire: &[u8], limit: usize) -> Option<Vec<u8>> {
    let kind = if memchr::memchr(b'\r', original).is_some() {
        b'C'
    } else {
        b'L'
    };
    let base = base(kind, wire).ok()?;
    // Most of a message is usually unchanged at both ends: compare those
    // stretches as bytes (memcmp speed) and diff only the lines between.
    let (head, tail) = common_ends(&base, original);
    let head_lines = memchr::memchr_iter(b'\n', &base[..head]).count();
    let tail_lines = memchr::memchr_iter(b'\n', &base[base.len() - tail..]).count();
    let old = lines(&base[head..base.len() - tail]);
    let new = lines(&original[head..original.len() - tail]);
    let mut out = vec![kind];
    if head_lines > 0 {
        out.push(b'c');
        put_number(&mut out, head_lines as u64);
    }
    if !old.is_empty() || !new.is_empty() {
        let ops = capture_diff_slices_deadline(
            Algorithm::Myers,
            &old,
            &new,
            Some(Instant::now() + DEADLINE),
        );
        for op in ops {
            match op {
                DiffOp::Equal { len, .. } => {
                    out.push(b'c');
                    put_number(&mut out, len as u64);
                }
                DiffOp::Delete { old_len, .. } => {
                    out.push(b's');
                    put_number(&mut out, old_len as u64);
                }
                DiffOp::Insert {
                    new_index, new_len, ..
                } => insert(&mut out, &new[new_index..new_index + new_len]),
                DiffOp::Replace {
                    old_len,
                    new_index,
                    new_len,
                    ..
                } => {
                    out.push(b's');
                    put_number(&mut out, old_len as u64);
                    insert(&mut out, &new[new_index..new_index + new_len]);
                }
            }
            if out.len() > limit {
                return None;
            }
        }
    }
    if tail_lines > 0 {
        out.push(b'c');
        put_number(&mut out, tail_lines as u64);
    }
    if out.len() > limit {
        return None;
    }
    // Never trust a delta that does not reproduce the original.
    (apply_to_base(&base, &out[1..]).ok()? == original).then_some(out)
}

/// The lengths of the longest common prefix and suffix of `a` and `b` that
/// end (prefix) or start (suffix) at a line boundary, not overlapping.
fn common_ends(a: &[u8], b: &[u8]) -> (usize, usize) {
    let prefix = common_prefix(a, b);
    let head = a[..prefix]
        .iter()
        .rposition(|&c| c == b'\n')
        .map_or(0, |i| i + 1);
    let (ra, rb) = (&a[head..], &b[head..]);
    let suffix = common_suffix(ra, rb);
    // A suffix must start just after a line end, so it is whole lines.
    let start = ra.len() - suffix;
    let tail = match ra[start..].iter().position(|&c| c == b'\n') {
        _ if start == 0 || ra[start - 1] == b'\n' => suffix,
        Some(i) => suffix - (i + 1),
        None => 0,
    };
    (head, tail)
}

/// Blocks compared with slice equality (memcmp) before single bytes.
const BLOCK: usize = 64;

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + BLOCK <= n && a[i..i + BLOCK] == b[i..i + BLOCK] {
        i += BLOCK;
    }
    while i < n && a[i] == b[i] {
        i += 1;
    }
    i
}

fn common_suffix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + BLOCK <= n
        && a[a.len() - i - BLOCK..a.len() - i] == b[b.len() - i - BLOCK..b.len() - i]
    {
        i += BLOCK;
    }
    while i < n && a[a.len() - i - 1] == b[b.len() - i - 1] {
        i += 1;
    }
    i
}

fn insert(out: &mut Vec<u8>, lines: &[&[u8]]) {
    let bytes: usize = lines.iter().map(|l| l.len()).sum();
    out.push(b'i');
    put_number(out, bytes as u64);
    for l in lines {
        out.extend_from_slice(l);
    }
}

/// The original bytes from the served form and a delta made by [`delta`].
pub fn apply(wire: &[u8], delta: &[u8]) -> Result<Vec<u8>, DeltaError> {
    let (&kind, commands) = delta.split_first().ok_or(DeltaError)?;
    apply_to_base(&base(kind, wire)?, commands)
}

/// Runs a delta's commands over its base's lines. Lines are found as they
/// are needed and copied in whole runs, since a delta mostly copies.
fn apply_to_base(base: &[u8], mut rest: &[u8]) -> Result<Vec<u8>, DeltaError> {
    let mut at = 0usize;
    let mut out = Vec::with_capacity(base.len() + 64);
    while let Some((&command, tail)) = rest.split_first() {
        rest = tail;
        let n = take_number(&mut rest)?;
        match command {
            b'c' => {
                let end = after_lines(base, at, n)?;
                out.extend_from_slice(&base[at..end]);
                at = end;
            }
            b's' => at = after_lines(base, at, n)?,
            b'i' => {
                let n = usize::try_from(n).map_err(|_| DeltaError)?;
                let bytes = rest.get(..n).ok_or(DeltaError)?;
                out.extend_from_slice(bytes);
                rest = &rest[n..];
            }
            _ => return Err(DeltaError),
        }
    }
    Ok(out)
}

/// Where the `n` lines starting at byte `at` of `base` end (a last line
/// may lack its LF); an error if `base` has fewer.
fn after_lines(base: &[u8], mut at: usize, n: u64) -> Result<usize, DeltaError> {
    for _ in 0..n {
        if at >= base.len() {
            return Err(DeltaError);
        }
        at = memchr::memchr(b'\n', &base[at..]).map_or(base.len(), |i| at + i + 1);
    }
    Ok(at)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_blank_line_and_lf_line_ends_cost_a_few_bytes() {
        let original = b"Subject: x\n\n--b\nContent-Transfer-Encoding: base64\n\nAAAA\n\n--b--\n";
        let wire =
            b"Subject: x\r\n\r\n--b\r\nContent-Transfer-Encoding: base64\r\n\r\nAAAA\r\n--b--\r\n";
        let d = delta(original, wire, 1000).unwrap();
        assert!(d.len() < 16, "{d:?}");
        assert_eq!(apply(wire, &d).unwrap(), original.to_vec());
    }

    #[test]
    fn crlf_originals_diff_against_the_served_form_itself() {
        let original = b"A: 1\r\nB:  2\r\n\r\nbody";
        let wire = b"A: 1\r\nB: 2\r\nMessage-ID: <x@y>\r\n\r\nbody\r\n";
        let d = delta(original, wire, 1000).unwrap();
        assert_eq!(d[0], b'C');
        assert_eq!(apply(wire, &d).unwrap(), original.to_vec());
    }

    #[test]
    fn changes_at_the_very_start_end_and_middle_round_trip() {
        let wire = b"a\r\nb\r\nc\r\nd\r\ne\r\n";
        for original in [
            &b"x\na\nb\nc\nd\ne\n"[..],
            b"a\nb\nc\nd\ne\nx\n",
            b"a\nb\nX\nd\ne\n",
            b"a\nb\nc\nd\ne",
            b"",
            b"a\nb\nc\nd\ne\n",
            b"b\nc\nd\n",
        ] {
            let d = delta(original, wire, 1000).unwrap();
            assert_eq!(apply(wire, &d).unwrap(), original.to_vec(), "{original:?}");
        }
    }

    #[test]
    fn a_delta_larger_than_the_limit_is_refused() {
        let original: Vec<u8> = (0..200)
            .flat_map(|i| format!("line {i}\n").into_bytes())
            .collect();
        let wire = b"something else entirely\r\n";
        assert!(delta(&original, wire, 64).is_none());
    }

    #[test]
    fn damaged_deltas_are_errors_not_panics() {
        let wire = b"a\r\nb\r\n";
        for bad in [
            &b""[..],
            b"X",
            b"Lc\x05",
            b"Li\x09ab",
            b"Lc\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
            b"Lz\x01",
        ] {
            assert_eq!(apply(wire, bad), Err(DeltaError), "{bad:?}");
        }
    }
}
