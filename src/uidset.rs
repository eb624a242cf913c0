//! Sets of UIDs (or message sequence numbers) as sorted, disjoint, inclusive
//! ranges. This is the one representation sets travel in: the protocol
//! resolves a client's sequence set into a [`UidSet`], the session keeps a
//! selected mailbox's UIDs as one, and the store sends one to PostgreSQL as two
//! arrays of bounds (DESIGN.md §4.4), never as an enumerated list.

/// One end of a range as the client wrote it: a number or `*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeqNum {
    /// A literal number, at least 1.
    Value(u32),
    /// `*`: the largest number in use (the last message's MSN or UID).
    Star,
}

/// A sequence set as the client wrote it (RFC 9051 `sequence-set`), before
/// `*` is known. Each range is kept as written: `5:2` means `2:5`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SequenceSet(pub Vec<(SeqNum, SeqNum)>);

impl SequenceSet {
    /// Resolves `*` to `largest` (the highest MSN or UID in use, 0 when the
    /// mailbox is empty) and returns the numbers it names.
    ///
    /// RFC 9051 §6.4.9: `n:*` names the largest number even when `n` is
    /// larger than it, so `5:*` in a mailbox whose last UID is 3 is `3:5`.
    /// Ranges are clipped to nothing beyond `u32::MAX`; `*` in an empty
    /// mailbox resolves to nothing.
    pub fn resolve(&self, largest: u32) -> UidSet {
        let mut ranges = Vec::with_capacity(self.0.len());
        for &(a, b) in &self.0 {
            let value = |n: SeqNum| match n {
                SeqNum::Value(v) => Some(v),
                SeqNum::Star if largest == 0 => None,
                SeqNum::Star => Some(largest),
            };
            match (value(a), value(b)) {
                (Some(a), Some(b)) => ranges.push((a.min(b), a.max(b))),
                // `n:*` in an empty mailbox still names `n` on its own.
                (Some(v), None) | (None, Some(v)) => ranges.push((v, v)),
                (None, None) => {}
            }
        }
        UidSet::from_ranges(ranges)
    }

    /// True when the set is exactly `1:*` (or `*:1`): every message, which the
    /// store treats as no predicate at all.
    pub fn is_everything(&self) -> bool {
        self.0.iter().any(|&(a, b)| {
            matches!(
                (a, b),
                (SeqNum::Value(1), SeqNum::Star) | (SeqNum::Star, SeqNum::Value(1))
            )
        })
    }
}

/// A set of numbers in 1..=u32::MAX as sorted, disjoint, non-adjacent
/// inclusive ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct UidSet {
    ranges: Vec<(u32, u32)>,
}

impl UidSet {
    /// The empty set.
    pub fn new() -> UidSet {
        UidSet::default()
    }

    /// Every number from 1 to `u32::MAX`.
    pub fn everything() -> UidSet {
        UidSet {
            ranges: vec![(1, u32::MAX)],
        }
    }

    /// The set of the given inclusive ranges, in any order, overlapping or
    /// not; `(a, b)` with `a > b` means `(b, a)`; 0 is dropped.
    pub fn from_ranges(ranges: impl IntoIterator<Item = (u32, u32)>) -> UidSet {
        let mut v: Vec<(u32, u32)> = ranges
            .into_iter()
            .map(|(a, b)| (a.min(b).max(1), a.max(b)))
            .filter(|&(a, b)| b >= 1 && a <= b)
            .collect();
        v.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(v.len());
        for (a, b) in v {
            match merged.last_mut() {
                Some(last) if u64::from(a) <= u64::from(last.1) + 1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        UidSet { ranges: merged }
    }

    /// The set of the given numbers.
    pub fn from_values(values: impl IntoIterator<Item = u32>) -> UidSet {
        UidSet::from_ranges(values.into_iter().map(|v| (v, v)))
    }

    /// The ranges, sorted and disjoint.
    pub fn ranges(&self) -> &[(u32, u32)] {
        &self.ranges
    }

    /// Lower and upper bounds as two arrays, the shape the store binds as
    /// `unnest($lows::bigint[], $highs::bigint[])`.
    pub fn bounds(&self) -> (Vec<i64>, Vec<i64>) {
        self.ranges
            .iter()
            .map(|&(a, b)| (i64::from(a), i64::from(b)))
            .unzip()
    }

    /// True when the set holds no number.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// How many numbers the set holds.
    pub fn len(&self) -> u64 {
        self.ranges
            .iter()
            .map(|&(a, b)| u64::from(b) - u64::from(a) + 1)
            .sum()
    }

    /// The smallest number, if any.
    pub fn first(&self) -> Option<u32> {
        self.ranges.first().map(|r| r.0)
    }

    /// The largest number, if any.
    pub fn last(&self) -> Option<u32> {
        self.ranges.last().map(|r| r.1)
    }

    /// True when `v` is in the set.
    pub fn contains(&self, v: u32) -> bool {
        let i = self.ranges.partition_point(|&(_, b)| b < v);
        self.ranges.get(i).is_some_and(|&(a, _)| a <= v)
    }

    /// Every number, in order.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.ranges.iter().flat_map(|&(a, b)| a..=b)
    }

    /// Numbers in either set.
    pub fn union(&self, other: &UidSet) -> UidSet {
        UidSet::from_ranges(self.ranges.iter().chain(other.ranges.iter()).copied())
    }

    /// Numbers in both sets.
    pub fn intersection(&self, other: &UidSet) -> UidSet {
        let (mut i, mut j) = (0, 0);
        let mut out = Vec::new();
        while let (Some(&(a1, b1)), Some(&(a2, b2))) = (self.ranges.get(i), other.ranges.get(j)) {
            let (lo, hi) = (a1.max(a2), b1.min(b2));
            if lo <= hi {
                out.push((lo, hi));
            }
            if b1 < b2 {
                i += 1;
            } else {
                j += 1;
            }
        }
        UidSet { ranges: out }
    }

    /// Numbers in `self` but not in `other`.
    pub fn difference(&self, other: &UidSet) -> UidSet {
        let mut out = Vec::new();
        let mut j = 0;
        for &(a, b) in &self.ranges {
            let mut lo = u64::from(a);
            let hi = u64::from(b);
            while j < other.ranges.len() && u64::from(other.ranges[j].1) < lo {
                j += 1;
            }
            let mut k = j;
            while lo <= hi {
                match other.ranges.get(k) {
                    Some(&(c, d)) if u64::from(c) <= hi => {
                        if u64::from(c) > lo {
                            out.push((lo as u32, (u64::from(c) - 1) as u32));
                        }
                        lo = u64::from(d) + 1;
                        k += 1;
                    }
                    _ => {
                        out.push((lo as u32, hi as u32));
                        break;
                    }
                }
            }
        }
        UidSet { ranges: out }
    }

    /// Adds `v`.
    pub fn insert(&mut self, v: u32) {
        if !self.contains(v) {
            *self = self.union(&UidSet::from_values([v]));
        }
    }

    /// Adds every number from `a` to `b`; cheap when they are above the
    /// current last number (the common case: new messages arriving).
    pub fn insert_range(&mut self, a: u32, b: u32) {
        let (a, b) = (a.min(b).max(1), a.max(b));
        match self.ranges.last_mut() {
            Some(last) if a > last.1 => {
                if u64::from(a) == u64::from(last.1) + 1 {
                    last.1 = b;
                } else {
                    self.ranges.push((a, b));
                }
            }
            None if b >= 1 => self.ranges.push((a, b)),
            _ => *self = self.union(&UidSet::from_ranges([(a, b)])),
        }
    }

    /// Writes the set in IMAP syntax (`1:3,7,9:12`); empty for the empty set.
    pub fn to_imap(&self) -> String {
        let mut s = String::new();
        for (i, &(a, b)) in self.ranges.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            if a == b {
                s.push_str(&a.to_string());
            } else {
                s.push_str(&format!("{a}:{b}"));
            }
        }
        s
    }
}

/// The UIDs of a selected mailbox in MSN order, with the two lookups a
/// session needs: MSN → UID and UID → MSN. A million contiguous UIDs are one
/// range; each lookup is a binary search over the ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MsnMap {
    set: UidSet,
    /// `before[i]`: how many UIDs lie in ranges before range `i`.
    before: Vec<u64>,
}

impl MsnMap {
    /// The map for these UIDs.
    pub fn new(uids: UidSet) -> MsnMap {
        let mut m = MsnMap {
            set: uids,
            before: Vec::new(),
        };
        m.reindex();
        m
    }

    fn reindex(&mut self) {
        let mut n = 0u64;
        self.before = self
            .set
            .ranges
            .iter()
            .map(|&(a, b)| {
                let here = n;
                n += u64::from(b) - u64::from(a) + 1;
                here
            })
            .collect();
    }

    /// The UIDs.
    pub fn uids(&self) -> &UidSet {
        &self.set
    }

    /// How many messages (the EXISTS count).
    pub fn len(&self) -> u32 {
        u32::try_from(self.set.len()).unwrap_or(u32::MAX)
    }

    /// True when the mailbox is empty.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// The UID of message `msn` (1-based).
    pub fn uid(&self, msn: u32) -> Option<u32> {
        let idx = u64::from(msn).checked_sub(1)?;
        let i = self.before.partition_point(|&b| b <= idx).checked_sub(1)?;
        let (a, b) = self.set.ranges[i];
        let uid = u64::from(a) + (idx - self.before[i]);
        (uid <= u64::from(b)).then_some(uid as u32)
    }

    /// The MSN of `uid`, if it is in the mailbox.
    pub fn msn(&self, uid: u32) -> Option<u32> {
        let i = self.set.ranges.partition_point(|&(_, b)| b < uid);
        let &(a, _) = self.set.ranges.get(i)?;
        if a > uid {
            return None;
        }
        u32::try_from(self.before[i] + u64::from(uid - a) + 1).ok()
    }

    /// The UIDs of the messages whose MSNs are in `msns`.
    pub fn uids_of(&self, msns: &UidSet) -> UidSet {
        let mut out = Vec::new();
        for &(a, b) in msns.ranges() {
            // Walk the UID ranges that MSNs a..=b fall in.
            let (a, b) = (u64::from(a) - 1, u64::from(b).min(self.set.len()));
            if a >= b {
                continue;
            }
            let mut i = self.before.partition_point(|&x| x <= a).saturating_sub(1);
            while i < self.set.ranges.len() && self.before[i] < b {
                let (ra, rb) = self.set.ranges[i];
                let start = self.before[i];
                let lo = a.max(start) - start + u64::from(ra);
                let hi = (b - 1).min(start + u64::from(rb - ra)) - start + u64::from(ra);
                if lo <= hi {
                    out.push((lo as u32, hi as u32));
                }
                i += 1;
            }
        }
        UidSet::from_ranges(out)
    }

    /// Adds new UIDs (all above the current last one, as new messages are).
    pub fn append(&mut self, uids: &UidSet) {
        for &(a, b) in uids.ranges() {
            self.set.insert_range(a, b);
        }
        self.reindex();
    }

    /// Removes expunged UIDs.
    pub fn remove(&mut self, uids: &UidSet) {
        self.set = self.set.difference(uids);
        self.reindex();
    }
}

#[cfg(test)]
mod tests;
