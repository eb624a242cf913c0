//! The search language as the admin tools take it: IMAP SEARCH keys written
//! as words (`from alice since 1-Jan-2020 body invoice`), one grammar with
//! IMAP's, parsed by the same parser.

use super::SearchKey;
use crate::uidset::UidSet;

/// Why a search given on a command line cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextSearchError {
    /// It does not parse.
    #[error("cannot parse the search: {0}")]
    Syntax(String),
    /// It uses a key that only means something inside an IMAP session.
    #[error("{0} only means something inside an IMAP session; use UID ranges instead")]
    SessionOnly(&'static str),
}

/// Parses command-line words into a search. Each word is one argument as
/// the shell split it, so `subject "two words"` keeps the phrase whole: a
/// word with spaces or quotes is quoted again before parsing.
pub fn from_words(words: &[String]) -> Result<SearchKey, TextSearchError> {
    from_text(&quote_words(words))
}

/// Command-line words as one search text in IMAP syntax, each word that
/// needs it quoted: what holds and policies store, and [`from_text`] reads.
pub fn quote_words(words: &[String]) -> String {
    words
        .iter()
        .map(|w| {
            if w.is_empty() || w.contains([' ', '"', '\\', '(', ')', '{', '%', '*']) && !is_set(w) {
                let escaped = w.replace('\\', "\\\\").replace('"', "\\\"");
                format!("\"{escaped}\"")
            } else {
                w.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Parses a search text in IMAP syntax (as [`quote_words`] writes it).
pub fn from_text(text: &str) -> Result<SearchKey, TextSearchError> {
    let key = crate::imap::proto::parse::parse_search_text(text)
        .map_err(|e| TextSearchError::Syntax(e.text))?;
    outside_session(key)
}

/// A UID set such as `1:*` or `4,7:9` is a key of its own, not a string.
fn is_set(w: &str) -> bool {
    !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit() || b":,*".contains(&b))
}

/// Resolves `UID` sets (`*` meaning the largest UID there could be) and
/// refuses the keys that need a session: message sequence numbers and
/// \Recent.
pub fn outside_session(key: SearchKey) -> Result<SearchKey, TextSearchError> {
    let mut refused = None;
    key.walk(&mut |k| {
        refused = refused.or(match k {
            SearchKey::Seq(_) => Some("a message sequence number set"),
            SearchKey::Recent => Some("RECENT"),
            SearchKey::New => Some("NEW"),
            SearchKey::Old => Some("OLD"),
            _ => None,
        });
    });
    if let Some(what) = refused {
        return Err(TextSearchError::SessionOnly(what));
    }
    Ok(key.map(&mut |k| match k {
        SearchKey::Uid(set) => SearchKey::UidRanges(set.resolve(u32::MAX)),
        other => other,
    }))
}

/// All messages: what an empty search means.
pub fn everything() -> SearchKey {
    SearchKey::UidRanges(UidSet::everything())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::search::Flag;

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_phrase_split_by_the_shell_stays_one_string() {
        let key = from_words(&words(&["subject", "quarterly report", "unseen"])).unwrap();
        let mut subjects = Vec::new();
        key.walk(&mut |k| {
            if let SearchKey::Subject(s) = k {
                subjects.push(s.clone());
            }
        });
        assert_eq!(subjects, vec!["quarterly report".to_owned()]);
        let mut unseen = false;
        key.walk(&mut |k| unseen |= *k == SearchKey::NotFlag(Flag::Seen));
        assert!(unseen);
    }

    #[test]
    fn uid_sets_resolve_and_session_keys_are_refused() {
        let key = from_words(&words(&["uid", "5:*"])).unwrap();
        let mut ranges = Vec::new();
        key.walk(&mut |k| {
            if let SearchKey::UidRanges(r) = k {
                ranges.push(r.clone());
            }
        });
        assert_eq!(ranges, vec![UidSet::from_ranges([(5, u32::MAX)])]);
        assert!(matches!(
            from_words(&words(&["1:3"])),
            Err(TextSearchError::SessionOnly(_))
        ));
        assert!(matches!(
            from_words(&words(&["recent"])),
            Err(TextSearchError::SessionOnly("RECENT"))
        ));
        assert!(matches!(
            from_words(&words(&["frobnicate"])),
            Err(TextSearchError::Syntax(_))
        ));
    }
}
