//! Pure tests of the compiler: what SQL and which parameters a tree becomes.
//! What the SQL finds is tested against PostgreSQL in
//! tests/integration/store_search.rs.

#![allow(clippy::unwrap_used)]

use super::*;
use crate::uidset::{SeqNum, SequenceSet};

fn sql(key: &SearchKey) -> (String, Vec<String>) {
    explain(key).unwrap()
}

#[test]
fn rfc9051_6_4_4_client_text_is_bound_never_interpolated() {
    let evil = "x'; DROP TABLE messages; --";
    let (text, params) = sql(&SearchKey::Subject(evil.into()));
    assert!(!text.contains("DROP"), "{text}");
    assert_eq!(
        params,
        vec!["<user>", "<mailbox>", "%x'; DROP TABLE messages; --%"]
    );
    assert!(text.contains("s.subject ILIKE $3::text"), "{text}");
}

#[test]
fn rfc9051_6_4_4_like_metacharacters_are_escaped() {
    assert_eq!(contains_pattern(r"50%_a\b"), r"%50\%\_a\\b%");
    assert_eq!(contains_pattern(""), "%%");
}

#[test]
fn the_statement_is_bounded_by_user_and_mailbox_and_ordered_by_uid() {
    let (text, params) = sql(&SearchKey::All);
    assert_eq!(
        text,
        "SELECT e.uid FROM mailbox_entries e WHERE e.user_id = $1 AND e.mailbox_id = $2 AND true ORDER BY e.uid"
    );
    assert_eq!(params.len(), 2);
}

#[test]
fn uid_ranges_everything_adds_no_predicate_and_one_range_is_a_between() {
    let (all, _) = sql(&SearchKey::UidRanges(UidSet::everything()));
    assert!(all.contains("AND true ORDER"), "{all}");
    let (one, p) = sql(&SearchKey::UidRanges(UidSet::from_ranges([(3, 7)])));
    assert!(
        one.contains("e.uid BETWEEN $3::bigint AND $4::bigint"),
        "{one}"
    );
    assert_eq!(&p[2..], ["3", "7"]);
    let (many, p) = sql(&SearchKey::UidRanges(UidSet::from_ranges([(1, 2), (9, 9)])));
    assert!(
        many.contains("unnest($3::bigint[], $4::bigint[])"),
        "{many}"
    );
    assert_eq!(&p[2..], ["{1,9}", "{2,9}"]);
    let (none, _) = sql(&SearchKey::UidRanges(UidSet::new()));
    assert!(none.contains("AND false ORDER"), "{none}");
}

#[test]
fn unresolved_sequence_keys_are_refused() {
    let set = SequenceSet(vec![(SeqNum::Value(1), SeqNum::Star)]);
    for key in [
        SearchKey::Recent,
        SearchKey::New,
        SearchKey::Old,
        SearchKey::Uid(set.clone()),
        SearchKey::Seq(set),
    ] {
        let nested = SearchKey::Or(Box::new(SearchKey::All), Box::new(key.clone()));
        assert!(
            matches!(explain(&key), Err(StoreError::Invalid(_))),
            "{key:?}"
        );
        assert!(
            matches!(explain(&nested), Err(StoreError::Invalid(_))),
            "{nested:?}"
        );
    }
}

#[test]
fn rfc8474_object_ids_of_another_form_match_nothing() {
    assert_eq!(object_id("M42", 'M'), Some(42));
    assert_eq!(object_id("T7", 'T'), Some(7));
    for bad in [
        "42",
        "m42",
        "M",
        "M042",
        "M-1",
        "M+1",
        "M4x",
        "T42",
        "M99999999999999999999",
    ] {
        assert_eq!(object_id(bad, 'M'), None, "{bad}");
    }
    let (text, params) = sql(&SearchKey::EmailId("Mx".into()));
    assert!(text.contains("AND false ORDER"), "{text}");
    assert_eq!(params.len(), 2);
}

#[test]
fn invalid_dates_are_refused_not_sent_to_the_database() {
    for (year, month, day) in [
        (2023, 2, 29),
        (2024, 13, 1),
        (2024, 4, 31),
        (0, 1, 1),
        (2024, 1, 0),
    ] {
        let key = SearchKey::On(Date { year, month, day });
        assert!(
            matches!(explain(&key), Err(StoreError::Invalid(_))),
            "{key:?}"
        );
    }
    let (_, p) = sql(&SearchKey::Since(Date {
        year: 2024,
        month: 2,
        day: 29,
    }));
    assert_eq!(p[2], "2024-02-29");
}

#[test]
fn body_prefilter_uses_only_words_whole_inside_the_string() {
    // RFC 9051 §6.4.4 substring semantics: the end words may be parts of longer words.
    assert_eq!(body_words("nvoic"), None);
    assert_eq!(body_words("nvoic for march"), Some("for".into()));
    assert_eq!(
        body_words(" invoice  for march 2024 "),
        Some("invoice for march 2024".into())
    );
    assert_eq!(body_words("a e-mail b"), None);
    assert_eq!(body_words("a café b"), None);
    assert_eq!(body_words("%%% ___"), None);
    assert_eq!(body_words(""), None);
    let (text, _) = sql(&SearchKey::Body("nvoic".into()));
    assert!(!text.contains("tsquery"), "{text}");
    let (text, p) = sql(&SearchKey::Body("the invoice for".into()));
    assert!(
        text.contains("plainto_tsquery('simple', $4::text)"),
        "{text}"
    );
    assert!(text.contains("octet_length(b.text) > 200000"), "{text}");
    assert_eq!(&p[2..], ["%the invoice for%", "invoice"]);
}

#[test]
fn nesting_beyond_the_limit_is_refused_and_within_it_compiles() {
    let mut key = SearchKey::All;
    for _ in 0..=MAX_DEPTH {
        key = SearchKey::Not(Box::new(key));
    }
    assert!(matches!(explain(&key), Err(StoreError::Invalid(_))));
    let mut key = SearchKey::All;
    for _ in 0..MAX_DEPTH {
        key = SearchKey::Not(Box::new(key));
    }
    assert!(explain(&key).is_ok());
}

#[test]
fn huge_sizes_and_modseqs_clamp_instead_of_overflowing() {
    let (_, p) = sql(&SearchKey::Larger(u64::MAX));
    assert_eq!(p[2], i64::MAX.to_string());
    let (_, p) = sql(&SearchKey::ModSeq(u64::MAX));
    assert_eq!(p[2], i64::MAX.to_string());
}

#[test]
fn an_embedded_condition_numbers_its_parameters_from_the_first_given() {
    let key = SearchKey::And(vec![
        SearchKey::Subject("a".into()),
        SearchKey::From("b".into()),
    ]);
    let c = condition_of(&key, 7).unwrap();
    assert_eq!(c.len(), 2);
    assert!(c.sql.contains("s.subject ILIKE $7::text"), "{}", c.sql);
    assert!(c.sql.contains("s.from_text ILIKE $8::text"), "{}", c.sql);
    assert!(!c.sql.contains("$3"), "{}", c.sql);
}
