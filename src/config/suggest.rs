//! "Did you mean …?" for misspelt variable names.

/// Edits beyond this are more likely a different word than a typo.
const MAX_EDITS: usize = 2;

/// The candidate nearest to `name` by edit distance, if it is within [`MAX_EDITS`].
/// Ties go to the earlier candidate, so the answer doesn't depend on hashing.
pub(super) fn nearest<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|candidate| (edit_distance(name, candidate), candidate))
        .filter(|(distance, _)| *distance <= MAX_EDITS)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = Vec::with_capacity(b.len() + 1);
        current.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            let delete = previous[j + 1] + 1;
            let insert = current[j] + 1;
            current.push(substitute.min(delete).min(insert));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_insertions_deletions_and_substitutions() {
        assert_eq!(edit_distance("db-adress", "db-address"), 1);
        assert_eq!(edit_distance("db-port", "db-prot"), 2);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }

    #[test]
    fn nearest_ignores_candidates_too_far_away() {
        assert_eq!(
            nearest("db-adress", ["db-name", "db-address"]),
            Some("db-address")
        );
        assert_eq!(nearest("frobnicate", ["db-name", "db-address"]), None);
    }
}
