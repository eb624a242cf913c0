//! The tokens of RFC 9051 §9 over one complete command: atoms, numbers,
//! quoted strings, literals (already inline, as the framer hands them over),
//! sequence sets and flags. Every method either consumes what it names or
//! returns a [`Bad`] saying what was expected; none can panic.

use std::borrow::Cow;

use crate::imap::proto::write::{is_astring_char, is_atom_char};
use crate::search::Flag;
use crate::uidset::{SeqNum, SequenceSet};

/// Why a command could not be parsed: the short text of `tag BAD text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bad(pub(crate) String);

/// A parse result.
pub(crate) type Res<T> = Result<T, Bad>;

/// Fails with `text`.
pub(crate) fn bad<T>(text: impl Into<String>) -> Res<T> {
    Err(Bad(text.into()))
}

/// RFC 9051 `tag`: any ASTRING-CHAR except `+` (a `+` tag would look like a
/// continuation request to the client).
fn is_tag_char(b: u8) -> bool {
    is_astring_char(b) && b != b'+'
}

/// Characters of keywords: command names, fetch attributes, options.
fn is_keyword_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_')
}

/// The largest `number64` / `mod-sequence-value` (RFC 9051, RFC 7162):
/// 63 bits, so it fits PostgreSQL's bigint.
const MAX_NUMBER64: u64 = i64::MAX as u64;

/// A flag as written, before the command decides what `\Recent` means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FlagToken {
    /// A flag the contract knows.
    Flag(Flag),
    /// `\Recent`: server-managed, never set by a client.
    Recent,
}

/// A position in one command's bytes.
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    /// The text form of `aox search`: runs of white space separate tokens,
    /// 8-bit bytes may stand in atoms, and there is no CRLF.
    text_mode: bool,
}

impl<'a> Cursor<'a> {
    /// A cursor over a command as received.
    pub(crate) fn new(buf: &'a [u8]) -> Cursor<'a> {
        Cursor {
            buf,
            pos: 0,
            text_mode: false,
        }
    }

    /// A cursor over human-typed search text.
    pub(crate) fn text(buf: &'a [u8]) -> Cursor<'a> {
        Cursor {
            buf,
            pos: 0,
            text_mode: true,
        }
    }

    /// The next byte.
    pub(crate) fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    /// The byte `n` ahead of the next one.
    pub(crate) fn peek_at(&self, n: usize) -> Option<u8> {
        self.buf.get(self.pos.checked_add(n)?).copied()
    }

    /// True when the next byte is `b`.
    pub(crate) fn peek_is(&self, b: u8) -> bool {
        self.peek() == Some(b)
    }

    /// Consumes `b` if it is next.
    pub(crate) fn eat(&mut self, b: u8) -> bool {
        let yes = self.peek_is(b);
        if yes {
            self.pos += 1;
        }
        yes
    }

    /// Consumes `b` or fails saying `what` was expected.
    pub(crate) fn expect(&mut self, b: u8, what: &str) -> Res<()> {
        if self.eat(b) {
            Ok(())
        } else {
            bad(format!("expected {what}"))
        }
    }

    /// Skips white space in text mode; nothing in protocol mode.
    pub(crate) fn ws(&mut self) {
        if self.text_mode {
            while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
                self.pos += 1;
            }
        }
    }

    /// Exactly one SP (protocol mode) or a run of white space (text mode).
    pub(crate) fn sp(&mut self) -> Res<()> {
        if self.text_mode {
            let start = self.pos;
            self.ws();
            if self.pos > start {
                return Ok(());
            }
        } else if self.eat(b' ') {
            return Ok(());
        }
        if self.at_line_end() {
            bad("expected more arguments")
        } else {
            bad("expected a space")
        }
    }

    /// Consumes one SP (text mode: any white space) and says whether there
    /// was any.
    pub(crate) fn separator(&mut self) -> bool {
        let start = self.pos;
        if self.text_mode {
            self.ws();
        } else {
            let _ = self.eat(b' ');
        }
        self.pos > start
    }

    /// True when another argument follows (consuming the separating space),
    /// false at the end of the line or before a `)`.
    pub(crate) fn more(&mut self) -> bool {
        if self.text_mode {
            self.ws();
            !self.at_line_end() && !self.peek_is(b')')
        } else {
            self.eat(b' ')
        }
    }

    /// True at the end of the input or before the final CRLF.
    pub(crate) fn at_line_end(&self) -> bool {
        match self.buf.get(self.pos..) {
            Some(rest) => rest.is_empty() || rest == b"\r\n" || rest == b"\n",
            None => true,
        }
    }

    /// The end of the command: CRLF and nothing after it (text mode: only
    /// white space).
    pub(crate) fn end(&mut self) -> Res<()> {
        self.ws();
        if self.text_mode && self.pos >= self.buf.len() {
            return Ok(());
        }
        if !self.text_mode {
            let rest = self.buf.get(self.pos..).unwrap_or_default();
            // RFC 9051 §2.2.1 wants CRLF; a bare LF is tolerated as many
            // servers do, since nothing else could be meant.
            if rest == b"\r\n" || rest == b"\n" {
                self.pos = self.buf.len();
                return Ok(());
            }
            if rest.is_empty() {
                return bad("expected CRLF at the end of the command");
            }
            if rest == b" \r\n" || rest == b" \n" {
                return bad("unexpected space at the end of the command");
            }
            // Name the unexpected word, not the space before it.
            let _ = self.eat(b' ');
        }
        bad(format!(
            "unexpected {} after the command",
            self.describe_next()
        ))
    }

    /// A few bytes of what comes next, for an error text.
    fn describe_next(&self) -> String {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        let word: Vec<u8> = rest
            .iter()
            .take(16)
            .take_while(|&&b| b != b'\r' && b != b'\n')
            .copied()
            .collect();
        if word.is_empty() {
            "end of line".to_owned()
        } else {
            format!("\"{}\"", String::from_utf8_lossy(&word).escape_default())
        }
    }

    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
        self.buf.get(start..self.pos).unwrap_or_default()
    }

    /// The command tag.
    pub(crate) fn tag(&mut self) -> Res<String> {
        let tag = self.take_while(is_tag_char);
        if tag.is_empty() {
            return bad("expected a tag");
        }
        Ok(tag.iter().map(|&b| char::from(b)).collect())
    }

    fn atom_char(&self, b: u8) -> bool {
        is_atom_char(b) || (self.text_mode && b >= 0x80)
    }

    /// An `atom`.
    pub(crate) fn atom(&mut self) -> Res<&'a [u8]> {
        let text_mode = self.text_mode;
        let atom = self.take_while(|b| is_atom_char(b) || (text_mode && b >= 0x80));
        if atom.is_empty() {
            return bad(format!("expected an atom, not {}", self.describe_next()));
        }
        Ok(atom)
    }

    /// A keyword (letters, digits, `.`, `-`, `_`), upper-cased.
    pub(crate) fn keyword(&mut self) -> Res<String> {
        let word = self.take_while(is_keyword_char);
        if word.is_empty() {
            return bad(format!("expected a keyword, not {}", self.describe_next()));
        }
        Ok(word
            .iter()
            .map(|b| char::from(b.to_ascii_uppercase()))
            .collect())
    }

    /// Consumes `kw` (any case) when it is the whole next keyword.
    pub(crate) fn try_keyword(&mut self, kw: &str) -> bool {
        let end = self.pos.saturating_add(kw.len());
        let matches = self
            .buf
            .get(self.pos..end)
            .is_some_and(|w| w.eq_ignore_ascii_case(kw.as_bytes()))
            && !self.buf.get(end).is_some_and(|&b| is_keyword_char(b));
        if matches {
            self.pos = end;
        }
        matches
    }

    fn digits(&mut self) -> Res<&'a [u8]> {
        let digits = self.take_while(|b| b.is_ascii_digit());
        if digits.is_empty() {
            return bad(format!("expected a number, not {}", self.describe_next()));
        }
        Ok(digits)
    }

    fn value(digits: &[u8], max: u64) -> Res<u64> {
        let mut n: u64 = 0;
        for &d in digits {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(d - b'0')))
                .filter(|&n| n <= max)
                .ok_or_else(|| Bad("number too large".to_owned()))?;
        }
        Ok(n)
    }

    /// A `number` (32 bits).
    pub(crate) fn number(&mut self) -> Res<u32> {
        let digits = self.digits()?;
        let n = Self::value(digits, u64::from(u32::MAX))?;
        u32::try_from(n).map_err(|_| Bad("number too large".to_owned()))
    }

    /// An `nz-number`.
    pub(crate) fn nz_number(&mut self) -> Res<u32> {
        match self.number()? {
            0 => bad("0 is not a valid message number"),
            n => Ok(n),
        }
    }

    /// A `number64` / `mod-sequence-valzer` (63 bits).
    pub(crate) fn number64(&mut self) -> Res<u64> {
        let digits = self.digits()?;
        Self::value(digits, MAX_NUMBER64)
    }

    /// A `quoted` string, unescaped. 8-bit bytes are kept (UTF8=ACCEPT
    /// clients send UTF-8 in quotes, RFC 6855 §3); CR, LF and NUL are not
    /// allowed, and `\` escapes only `"` and `\`.
    pub(crate) fn quoted(&mut self) -> Res<Cow<'a, [u8]>> {
        self.expect(b'"', "a quoted string")?;
        let start = self.pos;
        let mut owned: Option<Vec<u8>> = None;
        loop {
            let Some(b) = self.peek() else {
                return bad("quoted string is not terminated");
            };
            self.pos += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    let Some(e @ (b'"' | b'\\')) = self.peek() else {
                        return bad("only \\\" and \\\\ may be escaped in a quoted string");
                    };
                    self.pos += 1;
                    let so_far = owned.get_or_insert_with(|| {
                        self.buf
                            .get(start..self.pos - 2)
                            .unwrap_or_default()
                            .to_vec()
                    });
                    so_far.push(e);
                }
                b'\r' | b'\n' | 0 => {
                    return bad("CR, LF and NUL are not allowed in a quoted string");
                }
                _ => {
                    if let Some(o) = owned.as_mut() {
                        o.push(b);
                    }
                }
            }
        }
        Ok(match owned {
            Some(o) => Cow::Owned(o),
            None => Cow::Borrowed(self.buf.get(start..self.pos - 1).unwrap_or_default()),
        })
    }

    /// A `literal`: `{n}` or `{n+}` (RFC 7888), CRLF, and n bytes inline.
    pub(crate) fn literal(&mut self) -> Res<&'a [u8]> {
        self.expect(b'{', "a literal")?;
        let n = self.number()?;
        let _ = self.eat(b'+');
        self.expect(b'}', "'}' after the literal length")?;
        if !self.eat(b'\r') || !self.eat(b'\n') {
            return bad("expected CRLF after the literal length");
        }
        let end = usize::try_from(n)
            .ok()
            .and_then(|n| self.pos.checked_add(n))
            .filter(|&end| end <= self.buf.len());
        let Some(end) = end else {
            return bad("the literal is shorter than its announced length");
        };
        let data = self.buf.get(self.pos..end).unwrap_or_default();
        self.pos = end;
        Ok(data)
    }

    /// A `literal8`: `~{n}` (RFC 3516), as APPEND's UTF8 form uses.
    pub(crate) fn literal8(&mut self) -> Res<&'a [u8]> {
        self.expect(b'~', "a literal8")?;
        self.literal()
    }

    /// A `string`: quoted or literal.
    pub(crate) fn string(&mut self) -> Res<Cow<'a, [u8]>> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') => self.literal().map(Cow::Borrowed),
            _ => bad(format!("expected a string, not {}", self.describe_next())),
        }
    }

    /// An `astring`: atom (with `]`) or string.
    pub(crate) fn astring(&mut self) -> Res<Cow<'a, [u8]>> {
        match self.peek() {
            Some(b'"' | b'{') => self.string(),
            _ => {
                let text_mode = self.text_mode;
                let atom = self.take_while(|b| is_astring_char(b) || (text_mode && b >= 0x80));
                if atom.is_empty() {
                    return bad(format!(
                        "expected an atom or a string, not {}",
                        self.describe_next()
                    ));
                }
                Ok(Cow::Borrowed(atom))
            }
        }
    }

    /// An `nstring`: NIL or a string.
    pub(crate) fn nstring(&mut self) -> Res<Option<Cow<'a, [u8]>>> {
        if self.try_keyword("NIL") {
            Ok(None)
        } else {
            self.string().map(Some)
        }
    }

    /// A `list-mailbox`: wildcards allowed in the atom form.
    pub(crate) fn list_mailbox(&mut self) -> Res<Cow<'a, [u8]>> {
        match self.peek() {
            Some(b'"' | b'{') => self.string(),
            _ => {
                let text_mode = self.text_mode;
                let word = self.take_while(|b| {
                    is_astring_char(b) || b == b'%' || b == b'*' || (text_mode && b >= 0x80)
                });
                if word.is_empty() {
                    return bad("expected a mailbox pattern");
                }
                Ok(Cow::Borrowed(word))
            }
        }
    }

    /// A mailbox name (an astring), which must be UTF-8: modified UTF-7 is
    /// ASCII, and UTF8=ACCEPT clients send UTF-8 (RFC 6855 §3).
    pub(crate) fn mailbox(&mut self) -> Res<String> {
        let name = self.astring()?;
        utf8(name, "mailbox name")
    }

    /// A `seq-number`: `nz-number` or `*`.
    fn seq_number(&mut self) -> Res<SeqNum> {
        if self.eat(b'*') {
            Ok(SeqNum::Star)
        } else if self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.nz_number().map(SeqNum::Value)
        } else {
            bad(format!(
                "expected a sequence set, not {}",
                self.describe_next()
            ))
        }
    }

    /// A `sequence-set`, ranges kept as written.
    pub(crate) fn sequence_set(&mut self) -> Res<SequenceSet> {
        if self.peek_is(b'$') {
            return bad("$ (SEARCHRES) is not supported");
        }
        let mut ranges = Vec::new();
        loop {
            let a = self.seq_number()?;
            let b = if self.eat(b':') {
                self.seq_number()?
            } else {
                a
            };
            ranges.push((a, b));
            if !self.eat(b',') {
                break;
            }
        }
        Ok(SequenceSet(ranges))
    }

    /// A `flag`: a system flag (any case), `\Recent`, or a keyword atom. An
    /// unknown `\Flag` is an error: it could only be a typo or an
    /// extension this server does not implement.
    pub(crate) fn flag(&mut self) -> Res<FlagToken> {
        if self.eat(b'\\') {
            let name = self
                .atom()
                .map_err(|_| Bad("expected a flag name after \\".into()))?;
            let flag = match name.to_ascii_uppercase().as_slice() {
                b"SEEN" => Flag::Seen,
                b"ANSWERED" => Flag::Answered,
                b"FLAGGED" => Flag::Flagged,
                b"DELETED" => Flag::Deleted,
                b"DRAFT" => Flag::Draft,
                b"RECENT" => return Ok(FlagToken::Recent),
                _ => {
                    return bad(format!(
                        "unknown system flag \\{}",
                        String::from_utf8_lossy(name)
                    ));
                }
            };
            return Ok(FlagToken::Flag(flag));
        }
        let name = self.atom()?;
        Ok(FlagToken::Flag(Flag::Keyword(utf8(
            Cow::Borrowed(name),
            "keyword",
        )?)))
    }

    /// A `flag-list`, `\Recent` dropped (RFC 3501 §2.3.2: clients cannot set
    /// it).
    pub(crate) fn flag_list(&mut self) -> Res<Vec<Flag>> {
        self.expect(b'(', "a flag list")?;
        let mut flags = Vec::new();
        if self.eat(b')') {
            return Ok(flags);
        }
        loop {
            if let FlagToken::Flag(f) = self.flag()? {
                flags.push(f);
            }
            if self.eat(b')') {
                return Ok(flags);
            }
            if !self.eat(b' ') {
                return bad("expected ) or a space in the flag list");
            }
        }
    }

    /// Is the next byte one an atom may contain (mode-aware)?
    pub(crate) fn at_atom_char(&self) -> bool {
        self.peek().is_some_and(|b| self.atom_char(b))
    }
}

/// Bytes as a String, or an error naming `what`.
pub(crate) fn utf8(bytes: Cow<'_, [u8]>, what: &str) -> Res<String> {
    match bytes {
        Cow::Borrowed(b) => std::str::from_utf8(b).map(str::to_owned).ok(),
        Cow::Owned(v) => String::from_utf8(v).ok(),
    }
    .ok_or_else(|| Bad(format!("{what} is not UTF-8")))
}
