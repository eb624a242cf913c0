//! The minimal command-line grammar this front end needs: a tag, a command
//! name and atoms or quoted strings (RFC 3501 §9 `astring`, without literals).

/// A parsed command line.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Command<'a> {
    pub(super) tag: &'a str,
    pub(super) name: String,
    pub(super) args: Vec<String>,
}

/// Parses `tag NAME arg…`; None when the line is not even that.
pub(super) fn parse(line: &str) -> Option<Command<'_>> {
    let (tag, rest) = line.split_once(' ')?;
    if tag.is_empty()
        || tag
            .bytes()
            .any(|b| b.is_ascii_control() || b"(){ %*\"\\+".contains(&b))
    {
        return None;
    }
    let (name, mut rest) = rest.split_once(' ').unwrap_or((rest, ""));
    if name.is_empty() {
        return None;
    }
    let mut args = Vec::new();
    while !rest.is_empty() {
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => value.push(chars.next()?.1),
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => value.push(c),
                }
            }
            args.push(value);
            rest = quoted.get(end?..)?;
        } else {
            let (atom, tail) = rest.split_once(' ').map_or((rest, ""), |(a, t)| (a, t));
            args.push(atom.to_string());
            rest = tail;
            continue;
        }
        rest = match rest.strip_prefix(' ') {
            Some(r) => r,
            None if rest.is_empty() => rest,
            None => return None,
        };
    }
    Some(Command {
        tag,
        name: name.to_ascii_uppercase(),
        args,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn login_with_atoms_and_quoted_strings() {
        let c = parse(r#"a1 login alice "pass \"word\" here""#).unwrap();
        assert_eq!(c.tag, "a1");
        assert_eq!(c.name, "LOGIN");
        assert_eq!(
            c.args,
            vec!["alice".to_string(), "pass \"word\" here".to_string()]
        );
        assert_eq!(parse("t NOOP").unwrap().args, Vec::<String>::new());
    }

    #[test]
    fn malformed_lines_are_refused() {
        assert!(parse("").is_none());
        assert!(parse("a1").is_none());
        assert!(parse("a1 LOGIN \"unterminated").is_none());
        assert!(parse("a1 LOGIN \"x\"y").is_none());
        assert!(parse("a{1 NOOP").is_none());
    }
}
