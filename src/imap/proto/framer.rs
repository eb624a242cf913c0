//! Cuts the client's byte stream into whole commands: a command is a line,
//! and for each literal (`{n}`, `{n+}`, `~{n}`) at a line's end, the n bytes
//! that follow and the rest of the command after them (RFC 9051 §4.3, RFC
//! 7888 LITERAL+). Sans I/O: the connection feeds bytes in and acts on what
//! comes out, including the continuation request a synchronising literal
//! needs.
//!
//! Limits: a line longer than `max_line` and a literal larger than
//! `max_literal` are refused with a tagged reply, and the framer skips what
//! the client still sends of that command, so the connection stays usable.

/// The limits a framer enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest line (without literals), bytes.
    pub max_line: usize,
    /// Largest literal, bytes (APPENDLIMIT).
    pub max_literal: u64,
    /// Largest whole command, literals included, bytes.
    pub max_command: u64,
}

/// What the framer has for the connection.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A whole command, exactly as received (final CRLF included).
    Command(Vec<u8>),
    /// The client announced a synchronising literal and waits for `+`.
    NeedContinuation,
    /// A command was refused; answer `tag BAD|NO [code] text` (untagged when
    /// no tag could be read). The framer skips the rest of the command.
    Rejected {
        /// The command's tag, if it had one.
        tag: Option<String>,
        /// The response code, e.g. `TOOBIG`.
        code: Option<&'static str>,
        /// Human-readable text.
        text: String,
        /// True for NO (a limit), false for BAD (a syntax problem).
        no: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Reading a line of the current command.
    Line,
    /// Reading `remaining` bytes of a literal into the command.
    Literal { remaining: u64 },
    /// Skipping the rest of an overlong line.
    SkipLine,
    /// Skipping `remaining` literal bytes of a refused command, then its
    /// following lines.
    SkipLiteral { remaining: u64 },
}

/// The framer.
#[derive(Debug)]
pub struct Framer {
    limits: Limits,
    input: Vec<u8>,
    /// Where unconsumed input starts.
    pos: usize,
    command: Vec<u8>,
    mode: Mode,
    /// Where the current line of `command` starts.
    line_start: usize,
}

impl Framer {
    /// A framer with these limits.
    pub fn new(limits: Limits) -> Framer {
        Framer {
            limits,
            input: Vec::new(),
            pos: 0,
            command: Vec::new(),
            mode: Mode::Line,
            line_start: 0,
        }
    }

    /// Changes the limits (e.g. after login).
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Adds bytes read from the connection.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.pos > 0 && self.pos == self.input.len() {
            self.input.clear();
            self.pos = 0;
        } else if self.pos > 64 * 1024 {
            self.input.drain(..self.pos);
            self.pos = 0;
        }
        self.input.extend_from_slice(bytes);
    }

    /// True when no partial command is buffered (used to check that STARTTLS
    /// was the last thing the client sent in plaintext: RFC 9051 §11.1).
    pub fn is_idle(&self) -> bool {
        self.pos == self.input.len() && self.command.is_empty() && self.mode == Mode::Line
    }

    /// The next thing the connection must act on, or None until more input.
    pub fn next_frame(&mut self) -> Option<Frame> {
        loop {
            let available = &self.input[self.pos..];
            match self.mode {
                Mode::Literal { remaining } => {
                    let take = available
                        .len()
                        .min(usize::try_from(remaining).unwrap_or(usize::MAX));
                    if take == 0 {
                        return None;
                    }
                    self.command.extend_from_slice(&available[..take]);
                    self.pos += take;
                    let left = remaining - take as u64;
                    if left > 0 {
                        self.mode = Mode::Literal { remaining: left };
                        return None;
                    }
                    self.mode = Mode::Line;
                    self.line_start = self.command.len();
                }
                Mode::SkipLiteral { remaining } => {
                    let take = available
                        .len()
                        .min(usize::try_from(remaining).unwrap_or(usize::MAX));
                    if take == 0 {
                        return None;
                    }
                    self.pos += take;
                    let left = remaining - take as u64;
                    self.mode = if left > 0 {
                        Mode::SkipLiteral { remaining: left }
                    } else {
                        Mode::SkipLine
                    };
                }
                Mode::SkipLine => {
                    let Some(nl) = memchr::memchr(b'\n', available) else {
                        self.pos = self.input.len();
                        return None;
                    };
                    let line = &available[..=nl];
                    let literal = literal_at_end(line);
                    self.pos += nl + 1;
                    match literal {
                        Some(Literal { size, .. }) => {
                            // A refused command's later literals: the client
                            // only sends them unasked when they are LITERAL+.
                            self.mode = Mode::SkipLiteral { remaining: size };
                        }
                        None => {
                            self.mode = Mode::Line;
                            self.command.clear();
                            self.line_start = 0;
                        }
                    }
                }
                Mode::Line => {
                    let Some(nl) = memchr::memchr(b'\n', available) else {
                        let line_len = self.command.len() - self.line_start + available.len();
                        if line_len > self.limits.max_line {
                            let tag = self.tag_of(available);
                            self.pos = self.input.len();
                            self.command.clear();
                            self.line_start = 0;
                            self.mode = Mode::SkipLine;
                            return Some(Frame::Rejected {
                                tag,
                                code: None,
                                text: format!(
                                    "line too long: the limit is {} bytes",
                                    self.limits.max_line
                                ),
                                no: false,
                            });
                        }
                        return None;
                    };
                    let line = &available[..=nl];
                    if self.command.len() - self.line_start + line.len() > self.limits.max_line + 2
                    {
                        let tag = self.tag_of(line);
                        self.pos += nl + 1;
                        self.command.clear();
                        self.line_start = 0;
                        if let Some(l) = literal_at_end(line).filter(|l| l.non_sync) {
                            self.mode = Mode::SkipLiteral { remaining: l.size };
                        }
                        return Some(Frame::Rejected {
                            tag,
                            code: None,
                            text: format!(
                                "line too long: the limit is {} bytes",
                                self.limits.max_line
                            ),
                            no: false,
                        });
                    }
                    let literal = literal_at_end(line);
                    self.command.extend_from_slice(line);
                    self.pos += nl + 1;
                    let Some(literal) = literal else {
                        self.line_start = 0;
                        return Some(Frame::Command(std::mem::take(&mut self.command)));
                    };
                    let total = self.command.len() as u64 + literal.size;
                    if literal.size > self.limits.max_literal || total > self.limits.max_command {
                        let tag = self.tag_of(&[]);
                        self.command.clear();
                        self.line_start = 0;
                        // A synchronising literal is never sent without our
                        // `+`, so the command simply ends here.
                        if literal.non_sync {
                            self.mode = Mode::SkipLiteral {
                                remaining: literal.size,
                            };
                        }
                        return Some(Frame::Rejected {
                            tag,
                            code: Some("TOOBIG"),
                            text: format!(
                                "literal of {} bytes is larger than the limit of {} bytes",
                                literal.size,
                                self.limits.max_literal.min(self.limits.max_command)
                            ),
                            no: true,
                        });
                    }
                    self.mode = Mode::Literal {
                        remaining: literal.size,
                    };
                    if literal.size == 0 {
                        self.mode = Mode::Line;
                        self.line_start = self.command.len();
                    }
                    if !literal.non_sync {
                        return Some(Frame::NeedContinuation);
                    }
                }
            }
        }
    }

    /// The tag of the command being read (from the command so far, else from
    /// `fresh`, the line just seen).
    fn tag_of(&self, fresh: &[u8]) -> Option<String> {
        let src = if self.command.is_empty() {
            fresh
        } else {
            &self.command
        };
        let end = src
            .iter()
            .position(|&b| b == b' ' || b == b'\r' || b == b'\n')
            .unwrap_or(src.len());
        let tag = &src[..end];
        (!tag.is_empty()
            && tag.len() <= 64
            && tag
                .iter()
                .all(|&b| b.is_ascii_graphic() && !b"(){%*\"\\+".contains(&b)))
        .then(|| String::from_utf8_lossy(tag).into_owned())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Literal {
    size: u64,
    non_sync: bool,
}

/// A literal header at the end of `line` (which ends with LF or CRLF).
fn literal_at_end(line: &[u8]) -> Option<Literal> {
    let line = line.strip_suffix(b"\n")?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let body = line.strip_suffix(b"}")?;
    let open = body.iter().rposition(|&b| b == b'{')?;
    let mut digits = &body[open + 1..];
    let non_sync = match digits.strip_suffix(b"+") {
        Some(d) => {
            digits = d;
            true
        }
        None => false,
    };
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let size = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(Literal { size, non_sync })
}

#[cfg(test)]
mod tests;
