//! Dates and date-times as IMAP writes them: the `date` of SEARCH
//! (`1-Feb-2024`) and the `date-time` of APPEND and INTERNALDATE
//! (`"17-Jul-1996 02:44:25 -0700"`), RFC 9051 §9. Civil-from-days
//! arithmetic (H. Hinnant's algorithms) instead of a date crate: the
//! proleptic Gregorian calendar is all IMAP needs.

use crate::search::Date;

/// Month names as IMAP spells them (`date-month`).
pub const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The month (1..=12) named by a three-letter `date-month`, any case.
pub fn month_from_name(name: &[u8]) -> Option<u32> {
    MONTHS
        .iter()
        .position(|m| m.as_bytes().eq_ignore_ascii_case(name))
        .and_then(|i| u32::try_from(i + 1).ok())
}

/// True for a Gregorian leap year.
pub fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// The number of days in `month` (1..=12) of `year`; 0 for a bad month.
pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a valid civil date.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let (m, d) = (i64::from(month), i64::from(day));
    let y = if m <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date (year, month, day) of a count of days since 1970-01-01.
/// `days` must be within ±10^15 (far beyond any timestamp in use).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    // doy and mp are small and non-negative, so these narrowings are exact.
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A tiny cursor over the ASCII of one date or date-time.
struct Chars<'a> {
    s: &'a [u8],
    i: usize,
}

impl Chars<'_> {
    fn eat(&mut self, b: u8) -> Option<()> {
        (self.s.get(self.i) == Some(&b)).then(|| self.i += 1)
    }

    /// Between `min` and `max` ASCII digits.
    fn digits(&mut self, min: usize, max: usize) -> Option<u32> {
        let mut n = 0u32;
        let mut count = 0;
        while count < max {
            match self.s.get(self.i) {
                Some(b) if b.is_ascii_digit() => {
                    n = n * 10 + u32::from(b - b'0');
                    self.i += 1;
                    count += 1;
                }
                _ => break,
            }
        }
        (count >= min).then_some(n)
    }

    /// `d-Mon-yyyy`, validated.
    fn date(&mut self) -> Option<Date> {
        let day = self.digits(1, 2)?;
        self.eat(b'-')?;
        let month = month_from_name(self.s.get(self.i..self.i + 3)?)?;
        self.i += 3;
        self.eat(b'-')?;
        let year = self.digits(4, 4)?;
        (day >= 1 && day <= days_in_month(i64::from(year), month)).then_some(Date {
            year: i32::try_from(year).ok()?,
            month,
            day,
        })
    }

    fn done(&self) -> bool {
        self.i == self.s.len()
    }
}

/// Parses a SEARCH `date-text` (`1-Feb-2024` or `01-Feb-2024`), without
/// quotes; None unless it is a real calendar date.
pub fn parse_date(text: &[u8]) -> Option<Date> {
    let mut c = Chars { s: text, i: 0 };
    let date = c.date()?;
    c.done().then_some(date)
}

/// Parses a `date-time` without its quotes (`17-Jul-1996 02:44:25 -0700`;
/// RFC 9051 `date-day-fixed` is a space and one digit or two digits, and a
/// bare single digit is accepted too) into Unix seconds.
pub fn parse_date_time(text: &[u8]) -> Option<i64> {
    let mut c = Chars { s: text, i: 0 };
    let _ = c.eat(b' ');
    let date = c.date()?;
    c.eat(b' ')?;
    let hour = c.digits(2, 2)?;
    c.eat(b':')?;
    let minute = c.digits(2, 2)?;
    c.eat(b':')?;
    // 60 allows a leap second; it lands on the next minute's first second.
    let second = c.digits(2, 2)?;
    c.eat(b' ')?;
    let sign = match c.s.get(c.i) {
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => return None,
    };
    c.i += 1;
    let zone_hours = c.digits(2, 2)?;
    let zone_minutes = c.digits(2, 2)?;
    if !c.done() || hour > 23 || minute > 59 || second > 60 || zone_minutes > 59 {
        return None;
    }
    let days = days_from_civil(i64::from(date.year), date.month, date.day);
    let local = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    Some(local - sign * i64::from(zone_hours * 3600 + zone_minutes * 60))
}

/// The earliest and latest instants a four-digit `date-year` can carry.
fn representable(unix_seconds: i64) -> i64 {
    let first = days_from_civil(0, 1, 1) * 86_400;
    let last = days_from_civil(9999, 12, 31) * 86_400 + 86_399;
    unix_seconds.clamp(first, last)
}

/// Formats Unix seconds as a `date-time` in UTC without quotes:
/// `17-Jul-1996 02:44:25 +0000`, the day as a space and a digit below 10
/// (RFC 9051 `date-day-fixed`). Instants outside years 0000–9999 are clamped.
pub fn format_date_time(unix_seconds: i64) -> String {
    let t = representable(unix_seconds);
    let (year, month, day) = civil_from_days(t.div_euclid(86_400));
    let secs = t.rem_euclid(86_400);
    let name = MONTHS
        .get(month.saturating_sub(1) as usize)
        .copied()
        .unwrap_or("Jan");
    format!(
        "{day:>2}-{name}-{year:04} {:02}:{:02}:{:02} +0000",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Formats a SEARCH `date` (`1-Feb-2024`).
pub fn format_date(date: Date) -> String {
    let name = MONTHS
        .get(date.month.saturating_sub(1) as usize)
        .copied()
        .unwrap_or("Jan");
    format!("{}-{name}-{:04}", date.day, date.year)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc9051_date_time_example_with_zone_is_converted_to_utc() {
        // 17-Jul-1996 02:44:25 -0700 is 09:44:25 UTC, 837_596_665.
        assert_eq!(
            parse_date_time(b"17-Jul-1996 02:44:25 -0700"),
            Some(837_596_665)
        );
        assert_eq!(format_date_time(837_596_665), "17-Jul-1996 09:44:25 +0000");
    }

    #[test]
    fn date_day_fixed_accepts_a_leading_space_for_one_digit_days() {
        assert_eq!(parse_date_time(b" 1-Jan-1970 00:00:00 +0000"), Some(0));
        assert_eq!(parse_date_time(b"01-Jan-1970 00:00:00 +0000"), Some(0));
        assert_eq!(format_date_time(0), " 1-Jan-1970 00:00:00 +0000");
    }

    #[test]
    fn impossible_dates_and_times_are_refused() {
        assert_eq!(parse_date(b"29-Feb-2023"), None);
        assert_eq!(parse_date(b"29-Feb-2024").map(|d| d.day), Some(29));
        assert_eq!(parse_date(b"0-Jan-2024"), None);
        assert_eq!(parse_date(b"1-Foo-2024"), None);
        assert_eq!(parse_date(b"1-Jan-24"), None);
        assert_eq!(parse_date(b"1-Jan-2024x"), None);
        assert_eq!(parse_date_time(b"17-Jul-1996 24:00:00 +0000"), None);
        assert_eq!(parse_date_time(b"17-Jul-1996 02:44:25 0700"), None);
        assert_eq!(parse_date_time(b"17-Jul-1996 02:44:25 +0760"), None);
    }

    #[test]
    fn instants_before_1970_format_correctly() {
        assert_eq!(format_date_time(-1), "31-Dec-1969 23:59:59 +0000");
        assert_eq!(format_date_time(i64::MIN), " 1-Jan-0000 00:00:00 +0000");
        assert_eq!(format_date_time(i64::MAX), "31-Dec-9999 23:59:59 +0000");
    }

    proptest! {
        #[test]
        fn format_then_parse_is_identity_within_four_digit_years(
            t in days_from_civil(0, 1, 1) * 86_400..days_from_civil(10_000, 1, 1) * 86_400
        ) {
            prop_assert_eq!(parse_date_time(format_date_time(t).as_bytes()), Some(t));
        }

        #[test]
        fn civil_and_days_are_inverse(days in -1_000_000i64..3_000_000) {
            let (y, m, d) = civil_from_days(days);
            prop_assert!(d >= 1 && d <= days_in_month(y, m));
            prop_assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
