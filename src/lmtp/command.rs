//! The LMTP command parser (RFC 2033 §4, RFC 5321 §4.1): one line in, one
//! command or the reply its fault deserves out. No I/O.

/// A parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// LHLO with the client's name (RFC 2033 §4.1).
    Lhlo(String),
    /// HELO or EHLO, which an LMTP server refuses (RFC 2033 §4.1).
    HeloOrEhlo,
    /// MAIL FROM (RFC 5321 §4.1.1.2): the reverse path (empty for `<>`).
    Mail {
        /// The reverse path without its angle brackets.
        from: String,
        /// The parameters given.
        params: MailParams,
    },
    /// RCPT TO (RFC 5321 §4.1.1.3): the forward path.
    Rcpt(String),
    /// DATA.
    Data,
    /// RSET.
    Rset,
    /// NOOP.
    Noop,
    /// QUIT.
    Quit,
    /// VRFY, answered 252 without looking (RFC 5321 §3.5.3).
    Vrfy,
    /// A command of SMTP this server does not offer (RFC 5321 §4.2.4: 502).
    NotImplemented,
}

/// MAIL FROM parameters this server understands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MailParams {
    /// SIZE=n (RFC 1870).
    pub size: Option<u64>,
    /// BODY=8BITMIME (RFC 6152); BODY=7BIT is the default.
    pub eight_bit: bool,
    /// SMTPUTF8 (RFC 6531 §3.4).
    pub smtputf8: bool,
}

/// Why a line is not a command: the reply it gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The reply code (500, 501, 553, 555).
    pub code: u16,
    /// The enhanced status code (RFC 3463).
    pub enhanced: &'static str,
    /// Human-readable text.
    pub text: String,
}

fn refuse(code: u16, enhanced: &'static str, text: impl Into<String>) -> Refusal {
    Refusal {
        code,
        enhanced,
        text: text.into(),
    }
}

/// Parses one command line (without its CRLF).
pub fn parse(line: &[u8]) -> Result<Command, Refusal> {
    let Ok(line) = std::str::from_utf8(line) else {
        return Err(refuse(500, "5.5.2", "commands must be UTF-8"));
    };
    let (verb, rest) = match line.split_once(' ') {
        Some((v, r)) => (v, r),
        None => (line, ""),
    };
    let args = rest.trim();
    let no_args = |c: Command| {
        if args.is_empty() {
            Ok(c)
        } else {
            Err(refuse(501, "5.5.4", "this command takes no arguments"))
        }
    };
    match verb.to_ascii_uppercase().as_str() {
        "LHLO" if args.is_empty() => Err(refuse(501, "5.5.4", "syntax: LHLO hostname")),
        "LHLO" => Ok(Command::Lhlo(args.to_string())),
        "HELO" | "EHLO" => Ok(Command::HeloOrEhlo),
        "MAIL" => mail(rest),
        "RCPT" => rcpt(rest),
        "DATA" => no_args(Command::Data),
        "RSET" => no_args(Command::Rset),
        "QUIT" => no_args(Command::Quit),
        // RFC 5321 §4.1.1.9: NOOP may have an argument, to be ignored.
        "NOOP" => Ok(Command::Noop),
        "VRFY" if args.is_empty() => Err(refuse(501, "5.5.4", "syntax: VRFY address")),
        "VRFY" => Ok(Command::Vrfy),
        "EXPN" | "HELP" | "TURN" | "ETRN" | "BDAT" | "STARTTLS" | "AUTH" | "SEND" | "SOML"
        | "SAML" => Ok(Command::NotImplemented),
        _ => Err(refuse(500, "5.5.2", "command not recognized")),
    }
}

/// Strips a case-insensitive `keyword` (such as `FROM:`) from the start.
fn keyword<'a>(rest: &'a str, keyword: &str) -> Option<&'a str> {
    let head = rest.get(..keyword.len())?;
    head.eq_ignore_ascii_case(keyword)
        .then(|| &rest[keyword.len()..])
}

/// Splits `<path> params` into the path (brackets removed, any source route
/// dropped as RFC 5321 §4.1.1.3 allows) and what follows. A `>` inside a
/// quoted local part does not end the path.
fn path(text: &str) -> Option<(String, &str)> {
    // Some clients put a space after the colon; RFC 5321 does not, but
    // Postfix and Exim accept it, and so does this server.
    let text = text.trim_start().strip_prefix('<')?;
    let mut quoted = false;
    let mut escaped = false;
    let mut end = None;
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '>' if !quoted => {
                end = Some(i);
                break;
            }
            _ => {}
        }
    }
    let end = end?;
    let mut address = &text[..end];
    if address.starts_with('@')
        && let Some((_, mailbox)) = address.split_once(':')
    {
        address = mailbox;
    }
    if address.chars().any(|c| c.is_control() || c == ' ') && !address.starts_with('"') {
        return None;
    }
    Some((address.to_string(), &text[end + 1..]))
}

fn mail(rest: &str) -> Result<Command, Refusal> {
    let syntax = || refuse(501, "5.5.4", "syntax: MAIL FROM:<address> [parameters]");
    let (from, params_text) = keyword(rest, "FROM:").and_then(path).ok_or_else(syntax)?;
    if !params_text.is_empty() && !params_text.starts_with(' ') {
        return Err(syntax());
    }
    let mut params = MailParams::default();
    for p in params_text.split_whitespace() {
        let (name, value) = match p.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (p, None),
        };
        match (name.to_ascii_uppercase().as_str(), value) {
            ("SIZE", Some(v)) => {
                let n = v
                    .parse::<u64>()
                    .map_err(|_| refuse(501, "5.5.4", "SIZE takes a number of bytes"))?;
                params.size = Some(n);
            }
            ("BODY", Some(v)) if v.eq_ignore_ascii_case("8BITMIME") => params.eight_bit = true,
            ("BODY", Some(v)) if v.eq_ignore_ascii_case("7BIT") => params.eight_bit = false,
            ("BODY", _) => return Err(refuse(501, "5.5.4", "BODY is 7BIT or 8BITMIME")),
            ("SMTPUTF8", None) => params.smtputf8 = true,
            _ => {
                return Err(refuse(
                    555,
                    "5.5.4",
                    format!("unsupported parameter {name}"),
                ));
            }
        }
    }
    if !params.smtputf8 && !from.is_ascii() {
        // RFC 6531 §3.5: a non-ASCII path needs the SMTPUTF8 parameter.
        return Err(refuse(553, "5.6.7", "a non-ASCII address needs SMTPUTF8"));
    }
    Ok(Command::Mail { from, params })
}

fn rcpt(rest: &str) -> Result<Command, Refusal> {
    let syntax = || refuse(501, "5.5.4", "syntax: RCPT TO:<address>");
    let (to, params_text) = keyword(rest, "TO:").and_then(path).ok_or_else(syntax)?;
    if !params_text.trim().is_empty() {
        // No DSN (RFC 3461) is offered, so RCPT takes no parameters.
        return Err(refuse(555, "5.5.4", "RCPT TO takes no parameters here"));
    }
    let postmaster = to.eq_ignore_ascii_case("postmaster");
    let well_formed = to
        .rsplit_once('@')
        .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty());
    if !postmaster && !well_formed {
        return Err(refuse(501, "5.1.3", "the recipient must be local@domain"));
    }
    Ok(Command::Rcpt(to))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn code(line: &str) -> (u16, &'static str) {
        let r = parse(line.as_bytes()).unwrap_err();
        (r.code, r.enhanced)
    }

    #[test]
    fn rfc2033_4_1_lhlo_needs_a_name_and_helo_ehlo_are_recognised() {
        assert_eq!(
            parse(b"lhlo mx.example.org").unwrap(),
            Command::Lhlo("mx.example.org".into())
        );
        assert_eq!(code("LHLO"), (501, "5.5.4"));
        assert_eq!(parse(b"EHLO x").unwrap(), Command::HeloOrEhlo);
        assert_eq!(parse(b"HELO x").unwrap(), Command::HeloOrEhlo);
    }

    #[test]
    fn rfc5321_4_1_1_2_mail_from_with_size_body_and_smtputf8() {
        assert_eq!(
            parse(b"MAIL FROM:<a@b.example> SIZE=1234 BODY=8BITMIME SMTPUTF8").unwrap(),
            Command::Mail {
                from: "a@b.example".into(),
                params: MailParams {
                    size: Some(1234),
                    eight_bit: true,
                    smtputf8: true
                }
            }
        );
        assert_eq!(
            parse(b"mail from: <>").unwrap(),
            Command::Mail {
                from: String::new(),
                params: MailParams::default()
            }
        );
        assert_eq!(
            parse(b"MAIL FROM:<@relay.example:a@b.example>").unwrap(),
            Command::Mail {
                from: "a@b.example".into(),
                params: MailParams::default()
            }
        );
        assert_eq!(
            parse(br#"MAIL FROM:<"odd>name"@b.example>"#).unwrap(),
            Command::Mail {
                from: r#""odd>name"@b.example"#.into(),
                params: MailParams::default()
            }
        );
    }

    #[test]
    fn malformed_mail_and_rcpt_get_501_and_unknown_parameters_555() {
        assert_eq!(code("MAIL"), (501, "5.5.4"));
        assert_eq!(code("MAIL FROM:a@b"), (501, "5.5.4"));
        assert_eq!(code("MAIL FROM:<a@b"), (501, "5.5.4"));
        assert_eq!(code("MAIL FROM:<a@b>SIZE=1"), (501, "5.5.4"));
        assert_eq!(code("MAIL FROM:<a@b> SIZE=x"), (501, "5.5.4"));
        assert_eq!(code("MAIL FROM:<a@b> BODY=BINARYMIME"), (501, "5.5.4"));
        assert_eq!(code("MAIL FROM:<a@b> RET=FULL"), (555, "5.5.4"));
        assert_eq!(code("RCPT TO:<a@b> NOTIFY=NEVER"), (555, "5.5.4"));
        assert_eq!(code("RCPT TO:<>"), (501, "5.1.3"));
        assert_eq!(code("RCPT TO:<nodomain>"), (501, "5.1.3"));
        assert_eq!(code("RCPT FROM:<a@b>"), (501, "5.5.4"));
        assert_eq!(
            parse(b"RCPT TO:<Postmaster>").unwrap(),
            Command::Rcpt("Postmaster".into())
        );
    }

    #[test]
    fn rfc6531_3_5_non_ascii_reverse_path_needs_smtputf8() {
        assert_eq!(code("MAIL FROM:<jörg@example.org>"), (553, "5.6.7"));
        assert!(parse("MAIL FROM:<jörg@example.org> SMTPUTF8".as_bytes()).is_ok());
    }

    #[test]
    fn unknown_verbs_get_500_and_unoffered_ones_502() {
        assert_eq!(code("FROB"), (500, "5.5.2"));
        assert_eq!(code(""), (500, "5.5.2"));
        assert_eq!(code("DATA now"), (501, "5.5.4"));
        assert_eq!(parse(b"EXPN list").unwrap(), Command::NotImplemented);
        assert_eq!(parse(b"noop whatever").unwrap(), Command::Noop);
        assert_eq!(parse(b"VRFY alice").unwrap(), Command::Vrfy);
        assert_eq!(parse(b"\xff").unwrap_err().code, 500);
    }

    proptest::proptest! {
        /// Any line gets a command or a refusal with a 5xx code, never a panic.
        #[test]
        fn any_line_parses_or_is_refused_with_a_5xx(line in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80),
                                                     verb in proptest::sample::select(vec!["MAIL FROM:", "RCPT TO:", "LHLO ", ""])) {
            let mut bytes = verb.as_bytes().to_vec();
            bytes.extend_from_slice(&line);
            if let Err(r) = parse(&bytes) {
                proptest::prop_assert!((500..600).contains(&r.code));
            }
        }
    }
}
