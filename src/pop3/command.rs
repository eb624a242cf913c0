//! POP3 commands from a line (RFC 1939 §3, RFC 2449 CAPA, RFC 2595 STLS,
//! RFC 5034 AUTH). Pure: bytes in, a command or the reason it is malformed
//! out. Which state allows which command is the session's business.

/// One command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// RFC 2449 §5 CAPA.
    Capa,
    /// RFC 1939 §7 USER name.
    User(String),
    /// RFC 1939 §7 PASS string: everything after the space, spaces included.
    Pass(String),
    /// RFC 5034 §4 AUTH mechanism [initial-response]; no mechanism asks for
    /// the list, as clients older than CAPA do.
    Auth {
        /// The SASL mechanism, as written.
        mechanism: Option<String>,
        /// The base64 initial response (`=` for an empty one).
        initial: Option<String>,
    },
    /// RFC 1939 §7 APOP (not offered: it needs a cleartext password store).
    Apop,
    /// RFC 2595 §4 STLS.
    Stls,
    /// RFC 1939 §6 QUIT.
    Quit,
    /// RFC 1939 §5 STAT.
    Stat,
    /// RFC 1939 §5 LIST [msg].
    List(Option<u32>),
    /// RFC 1939 §5 RETR msg.
    Retr(u32),
    /// RFC 1939 §5 DELE msg.
    Dele(u32),
    /// RFC 1939 §5 NOOP.
    Noop,
    /// RFC 1939 §5 RSET.
    Rset,
    /// RFC 1939 §7 TOP msg n.
    Top(u32, u64),
    /// RFC 1939 §7 UIDL [msg].
    Uidl(Option<u32>),
}

/// Why a line is not a command; the text goes into `-ERR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

fn err<T>(text: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError(text.into()))
}

/// A message number (RFC 1939 §3: decimal, at least 1 when it names a
/// message; 0 is left for the session to refuse as no such message).
fn number(arg: &str) -> Result<u32, ParseError> {
    if arg.is_empty() || arg.len() > 10 || !arg.bytes().all(|b| b.is_ascii_digit()) {
        return err(format!("{arg:?} is not a message number"));
    }
    arg.parse()
        .or_else(|_| err(format!("{arg:?} is not a message number")))
}

/// Parses one line (without its line ending).
pub fn parse(line: &[u8]) -> Result<Command, ParseError> {
    let Ok(line) = std::str::from_utf8(line) else {
        return err("the command is not UTF-8");
    };
    let (keyword, rest) = match line.split_once(' ') {
        Some((k, r)) => (k, Some(r)),
        None => (line, None),
    };
    let keyword = keyword.to_ascii_uppercase();
    // PASS takes the rest of the line as it is (RFC 1939 §7: a password
    // may contain spaces); the others take space-separated arguments.
    if keyword == "PASS" {
        return match rest {
            Some(p) if !p.is_empty() => Ok(Command::Pass(p.to_owned())),
            _ => err("PASS needs a password"),
        };
    }
    let args: Vec<&str> = match rest {
        Some(r) => r.split(' ').collect(),
        None => Vec::new(),
    };
    if args.iter().any(|a| a.is_empty()) {
        return err("arguments are separated by single spaces");
    }
    let none = |c: Command| {
        if args.is_empty() {
            Ok(c)
        } else {
            err(format!("{keyword} takes no arguments"))
        }
    };
    let optional_number = |c: fn(Option<u32>) -> Command| match args.as_slice() {
        [] => Ok(c(None)),
        [n] => Ok(c(Some(number(n)?))),
        _ => err(format!("{keyword} takes at most one message number")),
    };
    let one_number = |c: fn(u32) -> Command| match args.as_slice() {
        [n] => Ok(c(number(n)?)),
        _ => err(format!("{keyword} takes one message number")),
    };
    match keyword.as_str() {
        "CAPA" => none(Command::Capa),
        "STLS" => none(Command::Stls),
        "QUIT" => none(Command::Quit),
        "STAT" => none(Command::Stat),
        "NOOP" => none(Command::Noop),
        "RSET" => none(Command::Rset),
        "LIST" => optional_number(Command::List),
        "UIDL" => optional_number(Command::Uidl),
        "RETR" => one_number(Command::Retr),
        "DELE" => one_number(Command::Dele),
        "TOP" => match args.as_slice() {
            [n, lines] => {
                let n = number(n)?;
                if lines.is_empty() || !lines.bytes().all(|b| b.is_ascii_digit()) {
                    return err(format!("{lines:?} is not a number of lines"));
                }
                // A larger count than any message has lines means all of them.
                Ok(Command::Top(n, lines.parse().unwrap_or(u64::MAX)))
            }
            _ => err("TOP takes a message number and a number of lines"),
        },
        "USER" => match args.as_slice() {
            [name] => Ok(Command::User((*name).to_owned())),
            _ => err("USER takes one name"),
        },
        "AUTH" => match args.as_slice() {
            [] => Ok(Command::Auth {
                mechanism: None,
                initial: None,
            }),
            [m] => Ok(Command::Auth {
                mechanism: Some((*m).to_owned()),
                initial: None,
            }),
            [m, ir] => Ok(Command::Auth {
                mechanism: Some((*m).to_owned()),
                initial: Some((*ir).to_owned()),
            }),
            _ => err("AUTH takes a mechanism and at most an initial response"),
        },
        "APOP" => Ok(Command::Apop),
        "" => err("empty command"),
        _ => err(format!("unknown command {keyword:?}")),
    }
}

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use super::*;

    fn ok(line: &str) -> Command {
        parse(line.as_bytes()).unwrap_or_else(|e| panic!("{line:?}: {e:?}"))
    }

    fn bad(line: &[u8]) -> String {
        match parse(line) {
            Ok(c) => panic!("{line:?} parsed as {c:?}"),
            Err(ParseError(text)) => text,
        }
    }

    #[test]
    fn rfc1939_3_keywords_are_case_insensitive() {
        assert_eq!(ok("stat"), Command::Stat);
        assert_eq!(ok("LiSt 3"), Command::List(Some(3)));
        assert_eq!(ok("uidl"), Command::Uidl(None));
        assert_eq!(ok("capa"), Command::Capa);
        assert_eq!(ok("stls"), Command::Stls);
        assert_eq!(ok("Quit"), Command::Quit);
        assert_eq!(ok("RSET"), Command::Rset);
        assert_eq!(ok("noop"), Command::Noop);
        assert_eq!(ok("retr 1"), Command::Retr(1));
        assert_eq!(ok("dele 42"), Command::Dele(42));
        assert_eq!(ok("top 2 0"), Command::Top(2, 0));
        assert_eq!(
            ok("TOP 2 99999999999999999999999"),
            Command::Top(2, u64::MAX)
        );
    }

    #[test]
    fn rfc1939_7_pass_keeps_spaces_and_user_takes_one_name() {
        assert_eq!(ok("USER alice"), Command::User("alice".into()));
        assert_eq!(ok("PASS a b  c"), Command::Pass("a b  c".into()));
        assert!(bad(b"PASS").contains("password"));
        assert!(bad(b"USER").contains("one name"));
        assert!(bad(b"USER a b").contains("one name"));
    }

    #[test]
    fn rfc5034_4_auth_with_and_without_initial_response() {
        assert_eq!(
            ok("AUTH PLAIN AGFsaWNlAHNlY3JldA=="),
            Command::Auth {
                mechanism: Some("PLAIN".into()),
                initial: Some("AGFsaWNlAHNlY3JldA==".into())
            }
        );
        assert_eq!(
            ok("auth plain"),
            Command::Auth {
                mechanism: Some("plain".into()),
                initial: None
            }
        );
        assert_eq!(
            ok("AUTH"),
            Command::Auth {
                mechanism: None,
                initial: None
            }
        );
        assert!(bad(b"AUTH PLAIN a b").contains("AUTH"));
    }

    #[test]
    fn malformed_commands_say_what_is_wrong() {
        assert!(bad(b"").contains("empty"));
        assert!(bad(b"FROB").contains("unknown command"));
        assert!(bad(b"RETR").contains("one message number"));
        assert!(bad(b"RETR x").contains("not a message number"));
        assert!(bad(b"RETR -1").contains("not a message number"));
        assert!(bad(b"RETR 99999999999").contains("not a message number"));
        assert!(bad(b"RETR 1 2").contains("one message number"));
        assert!(bad(b"LIST 1 2").contains("at most one"));
        assert!(bad(b"STAT 1").contains("no arguments"));
        assert!(bad(b"TOP 1").contains("TOP takes"));
        assert!(bad(b"TOP 1 x").contains("number of lines"));
        assert!(bad(b"DELE  1").contains("single spaces"));
        assert!(bad(b"STAT\xff").contains("UTF-8"));
    }

    proptest::proptest! {
        #[test]
        fn no_line_makes_the_parser_panic(line in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let _ = parse(&line);
        }

        #[test]
        fn every_message_number_round_trips(n in 0u32..) {
            proptest::prop_assert_eq!(parse(format!("RETR {n}").as_bytes()), Ok(Command::Retr(n)));
        }
    }
}
