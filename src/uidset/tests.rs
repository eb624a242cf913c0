use super::*;

#[test]
fn ranges_merge_and_sort() {
    let s = UidSet::from_ranges([(5, 7), (1, 2), (3, 3), (9, 9), (8, 8)]);
    assert_eq!(s.ranges(), &[(1, 3), (5, 9)]);
    assert_eq!(s.len(), 8);
    assert_eq!(s.to_imap(), "1:3,5:9");
}

#[test]
fn rfc9051_star_names_the_largest_even_below_n() {
    let set = SequenceSet(vec![(SeqNum::Value(5), SeqNum::Star)]);
    assert_eq!(set.resolve(3).ranges(), &[(3, 5)]);
    assert_eq!(set.resolve(0).ranges(), &[(5, 5)]);
}

#[test]
fn msn_map_round_trips() {
    let m = MsnMap::new(UidSet::from_ranges([(2, 4), (10, 10), (20, 22)]));
    assert_eq!(m.len(), 7);
    let uids: Vec<u32> = (1..=7).filter_map(|n| m.uid(n)).collect();
    assert_eq!(uids, vec![2, 3, 4, 10, 20, 21, 22]);
    assert_eq!(m.uid(8), None);
    assert_eq!(m.uid(0), None);
    for (i, u) in uids.iter().enumerate() {
        assert_eq!(m.msn(*u), Some(i as u32 + 1));
    }
    assert_eq!(m.msn(5), None);
    assert_eq!(
        m.uids_of(&UidSet::from_ranges([(3, 5), (7, 9)])).ranges(),
        &[(4, 4), (10, 10), (20, 20), (22, 22)]
    );
}

#[test]
fn difference_and_intersection() {
    let a = UidSet::from_ranges([(1, 10), (20, 30)]);
    let b = UidSet::from_ranges([(5, 6), (9, 21), (30, 40)]);
    assert_eq!(a.difference(&b).ranges(), &[(1, 4), (7, 8), (22, 29)]);
    assert_eq!(
        a.intersection(&b).ranges(),
        &[(5, 6), (9, 10), (20, 21), (30, 30)]
    );
}
