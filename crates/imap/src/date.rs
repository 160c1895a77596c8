//! IMAP dates (RFC 9051 §9 `date`, `date-time`), shown in Europe/Rome. Search compares
//! calendar days, disregarding time and zone (RFC 9051 §6.4.4): a day is a number of days
//! since 1970-01-01.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use chrono_tz::Europe::Rome;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn day_number(d: NaiveDate) -> i64 {
    d.num_days_from_ce() as i64 - 719_163
}

/// `1-Feb-2024` → its day number.
pub fn parse_search_date(s: &str) -> Option<i64> {
    let mut it = s.trim().split('-');
    let day: u32 = it.next()?.parse().ok()?;
    let month = it.next()?;
    let year: i32 = it.next()?.parse().ok()?;
    let m = MONTHS.iter().position(|x| x.eq_ignore_ascii_case(month))? as u32 + 1;
    NaiveDate::from_ymd_opt(year, m, day).map(day_number)
}

/// The Rome calendar day of a time.
pub fn day_of(unix: i64) -> i64 {
    Utc.timestamp_opt(unix, 0)
        .single()
        .map(|t| day_number(t.with_timezone(&Rome).date_naive()))
        .unwrap_or(0)
}

/// The day a `Date:` header names, in its own zone.
pub fn header_day(value: &str) -> Option<i64> {
    DateTime::parse_from_rfc2822(value.trim())
        .ok()
        .map(|d| day_number(d.date_naive()))
}

/// The `Date:` header as seconds, for SORT DATE.
pub fn header_time(value: &str) -> Option<i64> {
    DateTime::parse_from_rfc2822(value.trim())
        .ok()
        .map(|d| d.timestamp())
}

/// INTERNALDATE: `"23-Nov-2026 10:15:00 +0100"`.
pub fn internal_date(unix: i64) -> String {
    match Utc.timestamp_opt(unix, 0).single() {
        Some(t) => {
            let t = t.with_timezone(&Rome);
            format!(
                "{:2}-{}-{} {}",
                t.day(),
                MONTHS[t.month0() as usize],
                t.year(),
                t.format("%H:%M:%S %z")
            )
        }
        None => "01-Jan-1970 00:00:00 +0000".into(),
    }
}

/// An APPEND date-time (`" 1-Feb-2024 10:00:00 +0100"`) as seconds.
pub fn parse_date_time(s: &str) -> Option<i64> {
    DateTime::parse_from_str(s.trim(), "%d-%b-%Y %H:%M:%S %z")
        .ok()
        .map(|d| d.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(parse_search_date("1-Jan-1970"), Some(0));
        assert_eq!(parse_search_date("2-jan-1970"), Some(1));
        assert_eq!(parse_search_date("30-Feb-2024"), None);
        let t = parse_date_time(" 1-Feb-2024 10:00:00 +0100").unwrap();
        assert_eq!(internal_date(t), " 1-Feb-2024 10:00:00 +0100");
        assert_eq!(day_of(t), parse_search_date("1-Feb-2024").unwrap());
    }
}
