//! The line grammar of `archiveopteryx.conf`: `name = value`, comments, quoting.
//!
//! This knows nothing of which variables exist; it only splits lines, so that the caller can
//! report an unknown name before complaining about that name's value.

/// A line that is not `name = value`.
pub(super) struct LineSyntax {
    pub(super) expected: String,
    /// `None` means the line ended where something else was expected.
    pub(super) found: Option<String>,
}

/// A value whose quoting is wrong.
pub(super) struct ValueSyntax {
    pub(super) expected: String,
    /// `None` means the line ended where something else was expected.
    pub(super) found: Option<String>,
}

/// One `name = value` line, split but not yet checked against the table of variables.
pub(super) struct Assignment {
    /// Lowercase, since names are case-insensitive.
    pub(super) name: String,
    pub(super) value: Result<String, ValueSyntax>,
}

/// Splits one line. `Ok(None)` for blank lines and comment lines.
pub(super) fn split_line(line: &str) -> Result<Option<Assignment>, LineSyntax> {
    let line = line.trim_start();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let name_end = line.find(|c| !is_name_char(c)).unwrap_or(line.len());
    let (name, rest) = line.split_at(name_end);
    if name.is_empty() {
        return Err(LineSyntax {
            expected: "a variable name".to_string(),
            found: Some(first_word(line).to_string()),
        });
    }
    let Some(value) = rest.trim_start().strip_prefix('=') else {
        return Err(missing_equals(line, name, rest));
    };
    Ok(Some(Assignment {
        name: name.to_ascii_lowercase(),
        value: lex_value(value),
    }))
}

fn missing_equals(line: &str, name: &str, rest: &str) -> LineSyntax {
    // `db_port = 1` stops the name at '_': the name is what's wrong, not a missing '='.
    if rest.starts_with(|c: char| !c.is_whitespace() && c != '#') {
        return LineSyntax {
            expected: "a variable name (letters, digits and '-')".to_string(),
            found: Some(first_word(line).to_string()),
        };
    }
    // Only the next character is shown: the rest may be a password typed after a typo.
    LineSyntax {
        expected: format!("\"=\" after {}", name.to_ascii_lowercase()),
        found: rest.trim_start().chars().next().map(String::from),
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-'
}

fn first_word(text: &str) -> &str {
    let end = text
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(text.len());
    // A line starting with '=' would otherwise show nothing at all.
    let end = if end == 0 {
        text.chars().next().map_or(0, char::len_utf8)
    } else {
        end
    };
    &text[..end]
}

/// Reads the value after the `=`: a quoted string, or a bare word up to a comment.
fn lex_value(raw: &str) -> Result<String, ValueSyntax> {
    let raw = raw.trim_start();
    let Some(quote) = raw.chars().next().filter(|c| is_quote(*c)) else {
        let end = raw.find('#').unwrap_or(raw.len());
        return Ok(raw[..end].trim().to_string());
    };
    let body = &raw[quote.len_utf8()..];
    let Some(close) = body.find(quote) else {
        return Err(ValueSyntax {
            expected: format!("a closing {quote} quote"),
            found: None,
        });
    };
    let after = body[close + quote.len_utf8()..].trim();
    if !after.is_empty() && !after.starts_with('#') {
        let junk = after.split('#').next().unwrap_or(after).trim_end();
        return Err(ValueSyntax {
            expected: "only a comment after the closing quote".to_string(),
            found: Some(junk.to_string()),
        });
    }
    Ok(body[..close].to_string())
}

fn is_quote(c: char) -> bool {
    c == '"' || c == '\''
}

/// Whether [`render_line`] can write `value` so that parsing gives it back unchanged.
///
/// Lines cannot hold line breaks, and there are no escapes: a value that needs quoting
/// (empty, surrounding whitespace, a `#`, or a leading quote) can't contain both kinds of
/// quote.
pub fn is_renderable(value: &str) -> bool {
    !value.contains(['\n', '\r']) && (is_bare_safe(value) || quote_for(value).is_some())
}

/// One configuration line, `name = value\n`, quoting the value when it has whitespace, `#`,
/// quotes, or is empty, so that parsing the line gives back `value`.
///
/// For a value that [`is_renderable`] says can't be written, the line is the best attempt and
/// won't parse back to the same value.
pub fn render_line(name: &str, value: &str) -> String {
    let wants_quotes =
        value.is_empty() || value.contains(|c: char| c.is_whitespace() || c == '#' || is_quote(c));
    let rendered = match quote_for(value) {
        _ if !wants_quotes => value.to_string(),
        Some(quote) => format!("{quote}{value}{quote}"),
        // Both kinds of quote inside: bare is the only form left that can work.
        None if is_bare_safe(value) => value.to_string(),
        None => format!("\"{value}\""),
    };
    format!("{name} = {rendered}\n")
}

/// A quote character that doesn't occur in `value`, preferring `"`.
fn quote_for(value: &str) -> Option<char> {
    ['"', '\''].into_iter().find(|q| !value.contains(*q))
}

/// Whether `value` reads back unchanged without quotes.
fn is_bare_safe(value: &str) -> bool {
    !value.is_empty()
        && value.trim() == value
        && !value.contains(['#', '\n', '\r'])
        && !value.starts_with(is_quote)
}
