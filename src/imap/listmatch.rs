//! LIST/LSUB name matching (RFC 9051 §6.3.9): the reference and the
//! pattern joined, `*` matching anything, `%` anything but the hierarchy
//! delimiter `/`. Pure: the session asks the store for the user's mailboxes
//! and filters them here.

/// The hierarchy delimiter.
pub const DELIMITER: char = '/';

/// True when mailbox `name` (as stored: INBOX spelled `INBOX`) is matched by
/// `pattern` interpreted relative to `reference` (RFC 9051 §6.3.9).
///
/// The reference is prepended as is (`~/Mail/` + `%`; a reference not
/// ending in `/` is joined without one, as the RFC's examples do). INBOX is
/// case-insensitive (RFC 9051 §5.1), so the characters of a leading `INBOX`
/// component of `name` match any case: `inbox`, `inb%` and `inbox/%` find
/// `INBOX` and its children; every other character matches exactly.
pub fn matches(reference: &str, pattern: &str, name: &str) -> bool {
    let full: Vec<char> = reference.chars().chain(pattern.chars()).collect();
    let name: Vec<char> = name.chars().collect();
    wildcard_match(&full, &name, inbox_prefix_len(&name))
}

/// True when `name` is not matched itself but is a parent level the client
/// must be told about: RFC 9051 §6.3.9 says that when `%` ends the pattern,
/// "matching levels of hierarchy are also returned", so `LIST "" "%"` shows
/// `a` (as `\NonExistent` or `\Noselect` when it is no mailbox) if only
/// `a/b` exists. Here: some hierarchy prefix of `name` (`a` for `a/b/c`)
/// matches, and the pattern ends with `%`. Returns the longest such prefix.
pub fn matching_parent<'a>(reference: &str, pattern: &str, name: &'a str) -> Option<&'a str> {
    if !pattern.ends_with('%') {
        return None;
    }
    name.rmatch_indices(DELIMITER)
        .map(|(i, _)| &name[..i])
        .find(|parent| matches(reference, pattern, parent))
}

/// How many leading characters of `name` form a leading `INBOX` component.
fn inbox_prefix_len(name: &[char]) -> usize {
    let inbox = ['I', 'N', 'B', 'O', 'X'];
    let whole = name.len() == 5 || name.get(5) == Some(&DELIMITER);
    if whole && name.get(..5) == Some(&inbox[..]) {
        5
    } else {
        0
    }
}

/// Glob matching by dynamic programming over (pattern, name) positions:
/// O(|pattern|·|name|) time however many wildcards a client sends, where
/// naive backtracking is exponential.
fn wildcard_match(pattern: &[char], name: &[char], fold_below: usize) -> bool {
    let same = |p: char, i: usize, n: char| {
        if i < fold_below {
            p.eq_ignore_ascii_case(&n)
        } else {
            p == n
        }
    };
    // row[j]: the pattern read so far matches name[..j].
    let mut row = vec![false; name.len() + 1];
    row[0] = true;
    for &p in pattern {
        let mut next = vec![false; name.len() + 1];
        match p {
            '*' => {
                // Zero or more of any character.
                let mut any = false;
                for j in 0..=name.len() {
                    any |= row[j];
                    next[j] = any;
                }
            }
            '%' => {
                // Zero or more characters, none of them the delimiter.
                next[0] = row[0];
                for j in 1..=name.len() {
                    next[j] = row[j] || (next[j - 1] && name[j - 1] != DELIMITER);
                }
            }
            _ => {
                for j in 1..=name.len() {
                    next[j] = row[j - 1] && same(p, j - 1, name[j - 1]);
                }
            }
        }
        row = next;
    }
    row[name.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9051_6_3_9_star_crosses_levels_and_percent_does_not() {
        // "foo*" matches foo, foobar and foo/bar; "foo%" not foo/bar.
        assert!(matches("", "foo*", "foo"));
        assert!(matches("", "foo*", "foobar"));
        assert!(matches("", "foo*", "foo/bar"));
        assert!(matches("", "foo%", "foobar"));
        assert!(!matches("", "foo%", "foo/bar"));
        assert!(matches("", "*", "a/b/c"));
        assert!(matches("", "%", "Drafts"));
        assert!(!matches("", "%", "Foo/Bar"));
        assert!(matches("", "%/%", "Foo/Bar"));
        assert!(!matches("", "%/%", "Foo/Bar/Baz"));
        assert!(matches("", "%/*", "Foo/Bar/Baz"));
        assert!(matches("", "a%c", "abbc"));
        assert!(!matches("", "a%c", "ab/c"));
    }

    #[test]
    fn rfc9051_6_3_9_reference_is_prepended() {
        // The RFC's `LIST "~/Mail/" "%"` example, with our delimiter.
        assert!(matches("~/Mail/", "%", "~/Mail/foo"));
        assert!(matches("~/Mail/", "%", "~/Mail/meetings"));
        assert!(!matches("~/Mail/", "%", "~/Mail/foo/bar"));
        assert!(!matches("~/Mail/", "%", "Drafts"));
        // A reference without a trailing delimiter is joined as is.
        assert!(matches("Lists", "/%", "Lists/rust"));
        assert!(matches("Lists", "%", "Listserv"));
        assert!(!matches("Lists", "%", "Lists/rust"));
    }

    #[test]
    fn rfc9051_6_3_9_empty_pattern_matches_no_mailbox() {
        // `LIST "" ""` asks for the delimiter, which the session answers.
        assert!(!matches("", "", "INBOX"));
        assert!(!matches("", "", "a"));
        assert!(matches("", "", ""));
    }

    #[test]
    fn rfc9051_5_1_inbox_matches_in_any_case() {
        assert!(matches("", "inbox", "INBOX"));
        assert!(matches("", "InBoX", "INBOX"));
        assert!(matches("", "inb%", "INBOX"));
        assert!(matches("", "inbox/%", "INBOX/Lists"));
        assert!(matches("inbox/", "%", "INBOX/Lists"));
        // Only INBOX folds: other names and the rest of INBOX's children are exact.
        assert!(!matches("", "inbox/lists", "INBOX/Lists"));
        assert!(!matches("", "drafts", "Drafts"));
        assert!(!matches("", "inbox", "INBOXES"));
        assert!(matches("", "inbox*", "inboxes"));
        assert!(!matches("", "INBOX", "inboxes"));
    }

    #[test]
    fn literal_characters_are_not_wildcards() {
        assert!(!matches("", "a?c", "abc"));
        assert!(matches("", "a.c", "a.c"));
        assert!(!matches("", "a.c", "abc"));
        assert!(matches("", "Grüße/%", "Grüße/x"));
    }

    #[test]
    fn many_wildcards_stay_fast() {
        let pattern = "*%".repeat(500) + "x";
        let name = "a/".repeat(500);
        assert!(!matches("", &pattern, &name));
    }

    #[test]
    fn rfc9051_6_3_9_percent_returns_matching_parent_levels() {
        assert_eq!(matching_parent("", "%", "a/b/c"), Some("a"));
        assert_eq!(matching_parent("", "a/%", "a/b/c"), Some("a/b"));
        assert_eq!(matching_parent("", "*", "a/b"), None);
        assert_eq!(matching_parent("", "x%", "a/b"), None);
        assert_eq!(matching_parent("", "%", "a"), None);
    }
}
