//! The kinds of value a variable can hold: how each is read from text, shown as text, and
//! described when a value doesn't fit.
//!
//! Kinds are types rather than an enum so that each getter's return type is checked by the
//! compiler, and a bad default in the table fails to build instead of failing at run time.

use std::marker::PhantomData;

/// How one kind of value is read, stored, handed out and shown.
pub(super) trait Kind {
    /// What the configuration stores once the variable is set.
    type Value: Clone + PartialEq + Eq;
    /// What the getter returns; borrows from the stored value for text.
    type Out<'a>;
    /// Secrets are redacted wherever values are shown.
    const SECRET: bool = false;
    /// `None` when `text` is not a value of this kind.
    fn parse(text: &str) -> Option<Self::Value>;
    fn out(value: &Self::Value) -> Self::Out<'_>;
    /// The value as it would be written in the file.
    fn show(out: Self::Out<'_>) -> String;
    /// The form values take, for error messages ("a port number 1-65535").
    fn expected() -> String;
}

/// Any text, including none.
pub(super) struct Text;

impl Kind for Text {
    type Value = String;
    type Out<'a> = &'a str;
    fn parse(text: &str) -> Option<String> {
        Some(text.to_string())
    }
    fn out(value: &String) -> &str {
        value
    }
    fn show(out: &str) -> String {
        out.to_string()
    }
    fn expected() -> String {
        "text".to_string()
    }
}

/// Text that must not be shown: passwords.
pub(super) struct Secret;

impl Kind for Secret {
    type Value = String;
    type Out<'a> = &'a str;
    const SECRET: bool = true;
    fn parse(text: &str) -> Option<String> {
        Text::parse(text)
    }
    fn out(value: &String) -> &str {
        value
    }
    fn show(out: &str) -> String {
        out.to_string()
    }
    fn expected() -> String {
        Text::expected()
    }
}

/// A TCP port, 1-65535; 0 would mean "any port" to the OS, which is never what's meant.
pub(super) struct Port;

impl Kind for Port {
    type Value = u16;
    type Out<'a> = u16;
    fn parse(text: &str) -> Option<u16> {
        decimal(text)
            .filter(|n| *n >= 1)
            .and_then(|n| u16::try_from(n).ok())
    }
    fn out(value: &u16) -> u16 {
        *value
    }
    fn show(out: u16) -> String {
        out.to_string()
    }
    fn expected() -> String {
        "a port number 1-65535".to_string()
    }
}

/// On or off, in any of the spellings aox has accepted.
pub(super) struct Toggle;

const ON: [&str; 5] = ["1", "on", "yes", "true", "enabled"];
const OFF: [&str; 5] = ["0", "off", "no", "false", "disabled"];

impl Kind for Toggle {
    type Value = bool;
    type Out<'a> = bool;
    fn parse(text: &str) -> Option<bool> {
        let is = |words: [&str; 5]| words.iter().any(|w| w.eq_ignore_ascii_case(text));
        if is(ON) {
            Some(true)
        } else if is(OFF) {
            Some(false)
        } else {
            None
        }
    }
    fn out(value: &bool) -> bool {
        *value
    }
    fn show(out: bool) -> String {
        if out { "on" } else { "off" }.to_string()
    }
    fn expected() -> String {
        "on or off (or yes/no, true/false, 1/0, enabled/disabled)".to_string()
    }
}

/// A plain count in `MIN..=MAX`.
pub(super) struct Count<const MIN: u32, const MAX: u32>;

impl<const MIN: u32, const MAX: u32> Kind for Count<MIN, MAX> {
    type Value = u32;
    type Out<'a> = u32;
    fn parse(text: &str) -> Option<u32> {
        in_range(text, MIN.into(), MAX.into()).and_then(|n| u32::try_from(n).ok())
    }
    fn out(value: &u32) -> u32 {
        *value
    }
    fn show(out: u32) -> String {
        out.to_string()
    }
    fn expected() -> String {
        format!("an integer {MIN}-{MAX}")
    }
}

/// A number of days in `MIN..=MAX`.
pub(super) struct Days<const MIN: u32, const MAX: u32>;

impl<const MIN: u32, const MAX: u32> Kind for Days<MIN, MAX> {
    type Value = u32;
    type Out<'a> = u32;
    fn parse(text: &str) -> Option<u32> {
        Count::<MIN, MAX>::parse(text)
    }
    fn out(value: &u32) -> u32 {
        *value
    }
    fn show(out: u32) -> String {
        out.to_string()
    }
    fn expected() -> String {
        format!("a number of days {MIN}-{MAX}")
    }
}

/// A number of seconds in `MIN..=MAX`.
pub(super) struct Seconds<const MIN: u32, const MAX: u32>;

impl<const MIN: u32, const MAX: u32> Kind for Seconds<MIN, MAX> {
    type Value = u32;
    type Out<'a> = std::time::Duration;
    fn parse(text: &str) -> Option<u32> {
        Count::<MIN, MAX>::parse(text)
    }
    fn out(value: &u32) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(*value))
    }
    fn show(out: std::time::Duration) -> String {
        out.as_secs().to_string()
    }
    fn expected() -> String {
        format!("a number of seconds {MIN}-{MAX}")
    }
}

/// A size in bytes in `MIN..=MAX`.
pub(super) struct Bytes<const MIN: u64, const MAX: u64>;

impl<const MIN: u64, const MAX: u64> Kind for Bytes<MIN, MAX> {
    type Value = u64;
    type Out<'a> = u64;
    fn parse(text: &str) -> Option<u64> {
        in_range(text, MIN, MAX)
    }
    fn out(value: &u64) -> u64 {
        *value
    }
    fn show(out: u64) -> String {
        out.to_string()
    }
    fn expected() -> String {
        format!("a size in bytes {MIN}-{MAX}")
    }
}

/// An enumerated value that a configuration word names.
pub(super) trait Choice: Copy + PartialEq + Eq + 'static {
    /// Every accepted word (lowercase) and what it means; aliases included.
    const WORDS: &'static [(&'static str, Self)];
    /// The word written for this value.
    fn word(self) -> &'static str;
}

/// One of the words of a [`Choice`], case-insensitive.
pub(super) struct OneOf<T>(PhantomData<T>);

impl<T: Choice> Kind for OneOf<T> {
    type Value = T;
    type Out<'a> = T;
    fn parse(text: &str) -> Option<T> {
        T::WORDS
            .iter()
            .find(|(word, _)| word.eq_ignore_ascii_case(text))
            .map(|(_, value)| *value)
    }
    fn out(value: &T) -> T {
        *value
    }
    fn show(out: T) -> String {
        out.word().to_string()
    }
    fn expected() -> String {
        let words: Vec<&str> = T::WORDS.iter().map(|(word, _)| *word).collect();
        format!("one of {}", words.join(", "))
    }
}

/// Plain decimal digits only: `+5`, ` 5` or `0x5` in a config file is more likely a mistake
/// than a number.
fn decimal(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn in_range(text: &str, min: u64, max: u64) -> Option<u64> {
    decimal(text).filter(|n| (min..=max).contains(n))
}
