//! Dates on mbox `From ` lines: parse the forms found in the wild, write the asctime form.
//!
//! The classic form is C's `asctime()`: `From sender Mon Jan  2 15:04:05 2006`. Writers
//! have varied it for decades, so the parser looks for the pieces rather than a layout:
//!
//! - asctime, with or without the weekday, a one- or two-space day, seconds, and a zone
//!   before or after the year (`Wed Mar 13 11:24:37 +0000 2019` from Google Takeout,
//!   `Mon Jan  2 15:04:05 PST 2006`, `Mon Jan  2 15:04:05 2006 -0800`), and the year
//!   before the time (`Mon Jan 2 2006 15:04:05`);
//! - RFC 5322 style, day before month (`Mon, 2 Jan 2006 15:04:05 +0000`);
//! - ISO 8601 year-first (`2006-01-02 15:04:05`, `2006-01-02T15:04:05Z`).
//!
//! Without a zone the time is taken as UTC: qmail, Dovecot, Python's mailbox and
//! Google write UTC, and a local-time writer leaves no trace of its zone anyway.
//! Anything that does not yield a valid date and time gives `None`: a garbled date must
//! not stop an import, and the importer falls back to the message's own dates.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const MONTH_NAMES: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const WEEKDAY_NAMES: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/// Parses the date on a `From ` line. `line` is the whole line, with or without its line
/// end; the first word after `From ` is the envelope sender and is skipped.
pub(crate) fn parse_from_line(line: &[u8]) -> Option<i64> {
    let rest = line.strip_prefix(b"From ")?;
    let text = String::from_utf8_lossy(rest);
    let words: Vec<&str> = text.split_ascii_whitespace().collect();
    // The sender is normally the first word, but some writers leave it out
    // ("From  Mon Jan…"); a weekday or month there is then taken as part of the date.
    parse_words(words.get(1..).unwrap_or(&[])).or_else(|| parse_words(&words))
}

/// The pieces of a date as found, before validation.
#[derive(Default)]
struct Pieces {
    year: Option<i64>,
    month: Option<u32>,
    day: Option<u32>,
    time: Option<(u32, u32, u32)>,
    offset: Option<i64>,
}

fn parse_words(words: &[&str]) -> Option<i64> {
    let mut p = Pieces::default();
    let mut i = 0;
    // Find where the date starts: a month name (asctime or RFC 5322) or a year-first
    // ISO date. Everything before it (a sender with spaces, a weekday) is ignored.
    while i < words.len() {
        let w = words[i];
        if let Some((y, m, d, rest)) = iso_date(w) {
            p.year = Some(y);
            p.month = Some(m);
            p.day = Some(d);
            if let Some(t) = rest {
                take_time_and_zone(t, &mut p);
            }
            i += 1;
            break;
        }
        if let Some(m) = month(w) {
            p.month = Some(m);
            // RFC 5322 puts the day before the month; asctime after it.
            if let Some(d) = i.checked_sub(1).and_then(|j| day(words[j])) {
                p.day = Some(d);
                i += 1;
            } else {
                p.day = words.get(i + 1).and_then(|w| day(w));
                i += 2;
            }
            break;
        }
        i += 1;
    }
    for w in words.iter().skip(i) {
        let w = w.trim_matches(|c| c == '(' || c == ')' || c == ',');
        if p.time.is_none()
            && let Some(t) = time(w)
        {
            p.time = Some(t);
        } else if p.year.is_none()
            && let Some(y) = year(w)
        {
            p.year = Some(y);
        } else if p.offset.is_none()
            && let Some(o) = zone(w)
        {
            p.offset = Some(o);
        }
        // Anything else (UUCP's "remote from host", a parenthesised zone comment after a
        // numeric one) is trailing noise.
    }
    to_unix(&p)
}

fn to_unix(p: &Pieces) -> Option<i64> {
    let (year, month, day) = (p.year?, p.month?, p.day?);
    let (h, m, s) = p.time?;
    if day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(
        days * 86_400 + i64::from(h) * 3600 + i64::from(m) * 60 + i64::from(s)
            - p.offset.unwrap_or(0),
    )
}

/// `YYYY-MM-DD`, optionally followed by `T` and a time (with its zone) in the same word.
fn iso_date(w: &str) -> Option<(i64, u32, u32, Option<&str>)> {
    let (date, rest) = match w.find(['T', 't']) {
        Some(at) => (&w[..at], Some(&w[at + 1..])),
        None => (w, None),
    };
    let mut parts = date.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 {
        return None;
    }
    let m = number(m)?;
    if !(1..=12).contains(&m) {
        return None;
    }
    Some((year(y)?, m, number(d)?, rest))
}

/// The time and zone glued together in an ISO word: `15:04:05Z`, `15:04:05+01:00`.
fn take_time_and_zone(t: &str, p: &mut Pieces) {
    let split = t.find(['Z', 'z', '+', '-']).unwrap_or(t.len());
    p.time = time(&t[..split]);
    if split < t.len() {
        p.offset = zone(&t[split..]);
    }
}

fn month(w: &str) -> Option<u32> {
    let w = w.trim_end_matches([',', '.']);
    if w.len() < 3 || !w.is_ascii() {
        return None;
    }
    let prefix = w[..3].to_ascii_lowercase();
    let index = MONTHS.iter().position(|m| *m == prefix)?;
    // Accept "Jan" and "January", not "Janitor".
    let full = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    if w.len() > 3 && !full[index].eq_ignore_ascii_case(w) {
        return None;
    }
    u32::try_from(index + 1).ok()
}

fn day(w: &str) -> Option<u32> {
    let w = w.trim_end_matches(',');
    if w.is_empty() || w.len() > 2 {
        return None;
    }
    number(w).filter(|d| (1..=31).contains(d))
}

fn year(w: &str) -> Option<i64> {
    match w.len() {
        4 => number(w).map(i64::from).filter(|y| *y >= 1000),
        // Two-digit years as RFC 5322 §4.3 reads them.
        2 => number(w).map(|y| i64::from(if y < 50 { 2000 + y } else { 1900 + y })),
        _ => None,
    }
}

/// `HH:MM` or `HH:MM:SS`.
fn time(w: &str) -> Option<(u32, u32, u32)> {
    let mut parts = w.split(':');
    let h = number(parts.next()?)?;
    let m = number(parts.next()?)?;
    let s = match parts.next() {
        Some(s) => number(s)?,
        None => 0,
    };
    if parts.next().is_some() || h > 23 || m > 59 || s > 60 {
        return None;
    }
    Some((h, m, s))
}

/// A zone as seconds east of UTC: `+0100`, `-08:00`, `Z`, or one of the names RFC 5322
/// §4.3 lists plus a few European ones common in old mboxes. Unknown names are not zones.
fn zone(w: &str) -> Option<i64> {
    let numeric = match w.as_bytes().first() {
        Some(b'+') => Some((1, &w[1..])),
        Some(b'-') => Some((-1, &w[1..])),
        _ => None,
    };
    if let Some((sign, digits)) = numeric {
        let digits = digits.replace(':', "");
        if digits.len() != 4 || !digits.is_ascii() {
            return None;
        }
        let hh = i64::from(number(&digits[..2])?);
        let mm = i64::from(number(&digits[2..])?);
        if hh > 23 || mm > 59 {
            return None;
        }
        return Some(sign * (hh * 3600 + mm * 60));
    }
    let hours = match w.to_ascii_uppercase().as_str() {
        "Z" | "UT" | "UTC" | "GMT" => 0,
        "EST" => -5,
        "EDT" => -4,
        "CST" => -6,
        "CDT" => -5,
        "MST" => -7,
        "MDT" => -6,
        "PST" => -8,
        "PDT" => -7,
        "BST" | "CET" | "MET" => 1,
        "CEST" | "MEST" | "EET" => 2,
        "EEST" => 3,
        "JST" => 9,
        _ => return None,
    };
    Some(hours * 3600)
}

fn number(w: &str) -> Option<u32> {
    if w.is_empty() || !w.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    w.parse().ok()
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`]: (year, month index 0–11, day 1–31).
fn civil_from_days(z: i64) -> (i64, usize, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    // m is 1..=12 by construction, so the index is 0..=11.
    (y, usize::try_from(m - 1).unwrap_or(0), d)
}

/// Formats unix seconds as asctime in UTC, `Mon Jan  2 15:04:05 2006`, the form every
/// mbox reader accepts.
pub(crate) fn asctime(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    // 1970-01-01 was a Thursday.
    let wd = usize::try_from((days + 4).rem_euclid(7)).unwrap_or(0);
    format!(
        "{} {} {:2} {:02}:{:02}:{:02} {}",
        WEEKDAY_NAMES[wd],
        MONTH_NAMES[m],
        d,
        secs / 3600,
        secs % 3600 / 60,
        secs % 60,
        y
    )
}

/// Formats unix seconds as RFC 3339 in UTC, `2006-01-02T15:04:05Z` (bundle manifests).
pub(crate) fn rfc3339(t: i64) -> String {
    let secs = t.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(t.div_euclid(86_400));
    format!(
        "{y:04}-{:02}-{d:02}T{:02}:{:02}:{:02}Z",
        m + 1,
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Unix seconds of a file time; times before 1970 round towards the past, like `time_t`.
pub(crate) fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => {
            let d = e.duration();
            let whole = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            -whole - i64::from(d.subsec_nanos() > 0)
        }
    }
}

/// The current time in unix seconds.
pub(crate) fn now() -> i64 {
    unix_seconds(SystemTime::now())
}

/// Unix seconds as a file time, for setting mtimes.
pub(crate) fn system_time(t: i64) -> SystemTime {
    let d = Duration::from_secs(t.unsigned_abs());
    if t >= 0 {
        UNIX_EPOCH + d
    } else {
        UNIX_EPOCH - d
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const T: i64 = 1_136_214_245; // 2006-01-02 15:04:05 UTC

    #[test]
    fn asctime_two_space_day() {
        assert_eq!(
            parse_from_line(b"From a@b Mon Jan  2 15:04:05 2006\n"),
            Some(T)
        );
    }

    #[test]
    fn asctime_one_space_day_crlf() {
        assert_eq!(
            parse_from_line(b"From a@b Mon Jan 2 15:04:05 2006\r\n"),
            Some(T)
        );
    }

    #[test]
    fn asctime_without_weekday_or_seconds() {
        assert_eq!(parse_from_line(b"From a@b Jan 2 15:04 2006"), Some(T - 5));
    }

    #[test]
    fn zone_before_year_google_takeout() {
        assert_eq!(
            parse_from_line(b"From 123@xxx Mon Jan 02 16:04:05 +0100 2006"),
            Some(T)
        );
    }

    #[test]
    fn zone_after_year() {
        assert_eq!(
            parse_from_line(b"From a@b Mon Jan  2 07:04:05 2006 -0800"),
            Some(T)
        );
    }

    #[test]
    fn zone_name_before_year() {
        assert_eq!(
            parse_from_line(b"From a@b Mon Jan  2 07:04:05 PST 2006"),
            Some(T)
        );
    }

    #[test]
    fn year_before_time() {
        assert_eq!(
            parse_from_line(b"From a@b Mon Jan 2 2006 15:04:05"),
            Some(T)
        );
    }

    #[test]
    fn rfc5322_style() {
        assert_eq!(
            parse_from_line(b"From a@b Mon, 2 Jan 2006 16:04:05 +0100"),
            Some(T)
        );
    }

    #[test]
    fn iso_year_first() {
        assert_eq!(parse_from_line(b"From a@b 2006-01-02 15:04:05"), Some(T));
        assert_eq!(
            parse_from_line(b"From a@b 2006-01-02T17:04:05+02:00"),
            Some(T)
        );
        assert_eq!(parse_from_line(b"From a@b 2006-01-02T15:04:05Z"), Some(T));
    }

    #[test]
    fn missing_sender() {
        assert_eq!(parse_from_line(b"From  Mon Jan  2 15:04:05 2006"), Some(T));
    }

    #[test]
    fn uucp_remote_from_suffix() {
        assert_eq!(
            parse_from_line(b"From a Mon Jan  2 15:04:05 2006 remote from uunet"),
            Some(T)
        );
    }

    #[test]
    fn garbled_dates_give_none() {
        for line in [
            &b"From a@b"[..],
            b"From a@b garbage here",
            b"From a@b Mon Jan 32 15:04:05 2006",
            b"From a@b Mon Feb 29 15:04:05 2006",
            b"From a@b Mon Jan  2 25:04:05 2006",
            b"From a@b Mon Jan  2 15:04:05",
            b"From a@b Mon Janitor 2 15:04:05 2006",
            b"From a@b Mon Jan  2 2006",
            b"From ",
        ] {
            assert_eq!(
                parse_from_line(line),
                None,
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn leap_day_and_pre_1970() {
        assert_eq!(
            parse_from_line(b"From a Thu Feb 29 00:00:00 2024"),
            Some(1_709_164_800)
        );
        assert_eq!(
            parse_from_line(b"From a Wed Dec 31 23:59:59 1969"),
            Some(-1)
        );
    }

    #[test]
    fn asctime_formats_and_parses_back() {
        assert_eq!(asctime(T), "Mon Jan  2 15:04:05 2006");
        assert_eq!(asctime(0), "Thu Jan  1 00:00:00 1970");
        assert_eq!(asctime(-1), "Wed Dec 31 23:59:59 1969");
        for t in [
            -2_208_988_800,
            -1,
            0,
            T,
            1_709_164_800,
            4_102_444_799,
            253_402_300_799,
        ] {
            let line = format!("From x {}", asctime(t));
            assert_eq!(parse_from_line(line.as_bytes()), Some(t), "{line}");
        }
    }
}
