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

use super::encode::count_lines;

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
    let old = &base[head..base.len() - tail];
    let new = &original[head..original.len() - tail];
    let mut out = vec![kind];
    copy_lines(&mut out, &base[..head]);
    if !diff(old, new, &mut out, limit) {
        return None;
    }
    copy_lines(&mut out, &base[base.len() - tail..]);
    if out.len() > limit {
        return None;
    }
    // Never trust a delta that does not reproduce the original.
    (apply_to_base(&base, &out[1..]).ok()? == original).then_some(out)
}

/// Lines a local edit may span and still be found without a full diff.
const WINDOW: usize = 32;

/// Appends to `out` the commands that turn `old` into `new` (both start at
/// a line start); false when they grew beyond `limit` or took longer than
/// [`DEADLINE`].
///
/// Normalisation's edits are local and few (a blank line added before a
/// delimiter, a header refolded), so equal stretches are skipped at memcmp
/// speed and each edit is found by looking a few lines ahead on both sides
/// for the next line they share. Only when that fails does the rest go to a
/// full line diff, whose cost grows with the lines it is given.
fn diff(old: &[u8], new: &[u8], out: &mut Vec<u8>, limit: usize) -> bool {
    let deadline = Instant::now() + DEADLINE;
    let (mut a, mut b) = (0usize, 0usize);
    loop {
        let (ra, rb) = (&old[a..], &new[b..]);
        let same = common_prefix(ra, rb);
        if same == ra.len() && same == rb.len() {
            copy_lines(out, ra);
            return out.len() <= limit;
        }
        let whole = memchr::memrchr(b'\n', &ra[..same]).map_or(0, |i| i + 1);
        copy_lines(out, &ra[..whole]);
        a += whole;
        b += whole;
        let (ra, rb) = (&old[a..], &new[b..]);
        let Some((skip, take)) = resync(ra, rb) else {
            return myers(ra, rb, out, limit, deadline);
        };
        if skip > 0 {
            out.push(b's');
            put_number(out, count_lines(&ra[..skip]));
        }
        if take > 0 {
            out.push(b'i');
            put_number(out, take as u64);
            out.extend_from_slice(&rb[..take]);
        }
        a += skip;
        b += take;
        if out.len() > limit || Instant::now() > deadline {
            return false;
        }
    }
}

/// Appends a copy of `lines` (whole lines, or the last one unterminated).
fn copy_lines(out: &mut Vec<u8>, lines: &[u8]) {
    if !lines.is_empty() {
        out.push(b'c');
        put_number(out, count_lines(lines));
    }
}

/// The byte offsets at which the first `WINDOW` lines of `s` start, then
/// the offset after the last of them (or `s.len()`).
fn line_starts(s: &[u8]) -> Vec<usize> {
    let mut starts = vec![0];
    let mut at = 0;
    while starts.len() <= WINDOW && at < s.len() {
        at = memchr::memchr(b'\n', &s[at..]).map_or(s.len(), |i| at + i + 1);
        starts.push(at);
    }
    starts
}

/// Where `old` and `new`, which differ in their first line, agree again:
/// the bytes of `old` to skip and of `new` to insert before a line that is
/// the same on both sides (and not blank: blank lines agree by accident),
/// or both ends. Fewest lines changed first; None beyond [`WINDOW`].
fn resync(old: &[u8], new: &[u8]) -> Option<(usize, usize)> {
    let (so, sn) = (line_starts(old), line_starts(new));
    // Line k runs from one start to the next.
    let line = |starts: &[usize], k: usize| Some((*starts.get(k)?, *starts.get(k + 1)?));
    for changed in 1..=2 * WINDOW {
        for x in changed.saturating_sub(WINDOW)..=changed.min(WINDOW) {
            let y = changed - x;
            let (Some(&ox), Some(&ny)) = (so.get(x), sn.get(y)) else {
                continue;
            };
            if ox == old.len() && ny == new.len() {
                return Some((ox, ny));
            }
            if let (Some((o0, o1)), Some((n0, n1))) = (line(&so, x), line(&sn, y))
                && old[o0..o1] == new[n0..n1]
                && old[o0..o1].iter().any(|c| !c.is_ascii_whitespace())
            {
                return Some((ox, ny));
            }
        }
    }
    None
}

/// The full line diff of `old` into `new`, appended to `out`.
fn myers(old: &[u8], new: &[u8], out: &mut Vec<u8>, limit: usize, deadline: Instant) -> bool {
    let old = lines(old);
    let new = lines(new);
    let ops = capture_diff_slices_deadline(Algorithm::Myers, &old, &new, Some(deadline));
    for op in ops {
        match op {
            DiffOp::Equal { len, .. } => {
                out.push(b'c');
                put_number(out, len as u64);
            }
            DiffOp::Delete { old_len, .. } => {
                out.push(b's');
                put_number(out, old_len as u64);
            }
            DiffOp::Insert {
                new_index, new_len, ..
            } => insert(out, &new[new_index..new_index + new_len]),
            DiffOp::Replace {
                old_len,
                new_index,
                new_len,
                ..
            } => {
                out.push(b's');
                put_number(out, old_len as u64);
                insert(out, &new[new_index..new_index + new_len]);
            }
        }
        if out.len() > limit {
            return false;
        }
    }
    true
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
fn after_lines(base: &[u8], mut at: usize, mut n: u64) -> Result<usize, DeltaError> {
    // Whole blocks that end before the n-th line does are passed by
    // counting their line ends (a vectorised count), not line by line.
    const SKIP: usize = 4096;
    while n > 0 && at + SKIP < base.len() {
        let ends = memchr::memchr_iter(b'\n', &base[at..at + SKIP]).count() as u64;
        if ends >= n {
            break;
        }
        n -= ends;
        at += SKIP;
    }
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

    /// A message of `n` distinct numbered lines, with CRLF or LF ends.
    fn numbered(n: usize, end: &str) -> Vec<u8> {
        (0..n)
            .flat_map(|i| format!("line {i} of the body{end}").into_bytes())
            .collect()
    }

    #[test]
    fn edits_scattered_through_a_long_message_stay_small() {
        // A blank line added at a few places, one line refolded: what
        // normalisation does to an attachment-laden message.
        // (Small enough to diff well inside DEADLINE in an unoptimised build.)
        let wire = numbered(5_000, "\r\n");
        let mut original = numbered(5_000, "\n");
        for at in [100_000, 60_000, 20_000] {
            let line = original[at..].iter().position(|&c| c == b'\n').unwrap() + at + 1;
            original.splice(line..line, b"\n".iter().copied());
        }
        let start = original.windows(6).position(|w| w == b"line 7").unwrap();
        original.splice(start..start, b"  ".iter().copied());
        let d = delta(&original, &wire, 1000).unwrap();
        assert!(d.len() < 64, "{d:?}");
        assert_eq!(apply(&wire, &d).unwrap(), original);
    }

    #[test]
    fn copies_across_whole_blocks_count_lines_exactly() {
        // Lines of every length around the block size, the last one
        // unterminated or not, copied and skipped in runs.
        for len in [1usize, 7, 4095, 4096, 4097] {
            for tail in [&b""[..], b"end"] {
                let mut base: Vec<u8> = (0..3000)
                    .flat_map(|i| {
                        let mut l = vec![b'a' + (i % 26) as u8; len % (i + 1) + 1];
                        l.push(b'\n');
                        l
                    })
                    .collect();
                base.extend_from_slice(tail);
                let lines = count_lines(&base);
                let mut all = Vec::new();
                put_number(&mut all, lines);
                let copy_all = [&b"c"[..], &all].concat();
                assert_eq!(apply_to_base(&base, &copy_all).unwrap(), base);
                let mut over = Vec::new();
                put_number(&mut over, lines + 1);
                assert_eq!(
                    apply_to_base(&base, &[&b"c"[..], &over].concat()),
                    Err(DeltaError)
                );
                let mut most = Vec::new();
                put_number(&mut most, lines - 1);
                let last = memchr::memrchr(b'\n', &base[..base.len() - 1]).map_or(0, |i| i + 1);
                let skip_most = [&b"s"[..], &most, b"c\x01"].concat();
                assert_eq!(
                    apply_to_base(&base, &skip_most).unwrap(),
                    base[last..].to_vec()
                );
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn any_edit_of_any_lines_round_trips(
            lines in proptest::collection::vec("[ab ]{0,3}", 0..40),
            edits in proptest::collection::vec((0usize..40, 0usize..3, "[abc]{0,3}"), 0..6),
            crlf in proptest::bool::ANY,
        ) {
            let end = if crlf { "\r\n" } else { "\n" };
            let wire: Vec<u8> = lines.iter().flat_map(|l| format!("{l}\r\n").into_bytes()).collect();
            let mut original: Vec<String> = lines.clone();
            for (at, remove, insert) in edits {
                let at = at.min(original.len());
                let remove = remove.min(original.len() - at);
                original.splice(at..at + remove, [insert]);
            }
            let original: Vec<u8> =
                original.iter().flat_map(|l| format!("{l}{end}").into_bytes()).collect();
            if let Some(d) = delta(&original, &wire, usize::MAX) {
                proptest::prop_assert_eq!(apply(&wire, &d).unwrap(), original);
            } else {
                proptest::prop_assert!(false, "no delta within an unbounded limit");
            }
        }
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
