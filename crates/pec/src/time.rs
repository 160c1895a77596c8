//! The one time stamp of a PEC transaction (RFC 6109 §4.1: "all events of a transaction MUST
//! use a single time value"), rendered in Italian legal time (Europe/Rome).

use chrono::{
    DateTime, Datelike, FixedOffset, NaiveDate, NaiveTime, Offset, TimeZone, Timelike, Utc,
};
use chrono_tz::Europe::Rome;

/// An instant, to the second, as PEC prints it: `giorno` dd/mm/yyyy, `ora` hh:mm:ss and
/// `zona` +0100 or +0200 as daylight saving requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PecTime(DateTime<Utc>);

impl PecTime {
    /// Truncates to whole seconds: daticert.xml and `Date:` have no fractions, and the same
    /// value must read back identically from either.
    pub fn new(t: DateTime<Utc>) -> Self {
        PecTime(t.with_nanosecond(0).unwrap_or(t))
    }

    pub fn from_unix(secs: i64) -> Option<Self> {
        Utc.timestamp_opt(secs, 0).single().map(PecTime)
    }

    /// Like [`PecTime::from_unix`], with the epoch for a value out of range.
    pub fn from_unix_or_epoch(secs: i64) -> Self {
        PecTime(
            Utc.timestamp_opt(secs, 0)
                .single()
                .unwrap_or(DateTime::UNIX_EPOCH),
        )
    }

    pub fn utc(&self) -> DateTime<Utc> {
        self.0
    }

    fn local(&self) -> DateTime<FixedOffset> {
        let rome = self.0.with_timezone(&Rome);
        rome.with_timezone(&rome.offset().fix())
    }

    /// `gg/mm/aaaa` (daticert `giorno`).
    pub fn giorno(&self) -> String {
        self.local().format("%d/%m/%Y").to_string()
    }

    /// `hh:mm:ss` local time (daticert `ora`).
    pub fn ora(&self) -> String {
        self.local().format("%H:%M:%S").to_string()
    }

    /// `+0100` or `+0200` (daticert `zona`, and the text bodies' `(+0100)`).
    pub fn zona(&self) -> String {
        self.local().format("%z").to_string()
    }

    /// RFC 5322 `Date:` value in Italian local time.
    pub fn rfc5322(&self) -> String {
        self.local().format("%a, %d %b %Y %H:%M:%S %z").to_string()
    }

    /// Compact form used inside PEC identifiers: `yyyymmddhhmmss` (local time).
    pub fn compact(&self) -> String {
        self.local().format("%Y%m%d%H%M%S").to_string()
    }

    /// Reads daticert `giorno`, `ora`, `zona` back into an instant.
    pub fn from_daticert(giorno: &str, ora: &str, zona: &str) -> Option<Self> {
        let date = NaiveDate::parse_from_str(giorno.trim(), "%d/%m/%Y").ok()?;
        // PEC exists since 2005; before 1970 Europe/Rome had offsets `zona` cannot express.
        if date.year() < 1970 {
            return None;
        }
        let time = NaiveTime::parse_from_str(ora.trim(), "%H:%M:%S").ok()?;
        let offset = parse_zona(zona.trim())?;
        let local = offset.from_local_datetime(&date.and_time(time)).single()?;
        Some(PecTime(local.with_timezone(&Utc)))
    }

    /// Parses an RFC 5322 date (as in `Date:`), tolerant of the usual variants.
    pub fn from_rfc5322(s: &str) -> Option<Self> {
        let s = s.trim();
        let s = s.split(" (").next().unwrap_or(s);
        DateTime::parse_from_rfc2822(s)
            .ok()
            .map(|d| PecTime(d.with_timezone(&Utc)))
    }
}

fn parse_zona(z: &str) -> Option<FixedOffset> {
    let (sign, digits) = match z.as_bytes().first()? {
        b'+' => (1, &z[1..]),
        b'-' => (-1, &z[1..]),
        _ => return None,
    };
    let digits = digits.replace(':', "");
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let h: i32 = digits[..2].parse().ok()?;
    let m: i32 = digits[2..].parse().ok()?;
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn winter_and_summer_offsets() {
        let winter = PecTime::new(Utc.with_ymd_and_hms(2018, 11, 13, 15, 39, 26).unwrap());
        assert_eq!(winter.giorno(), "13/11/2018");
        assert_eq!(winter.ora(), "16:39:26");
        assert_eq!(winter.zona(), "+0100");
        assert_eq!(winter.rfc5322(), "Tue, 13 Nov 2018 16:39:26 +0100");
        let summer = PecTime::new(Utc.with_ymd_and_hms(2024, 7, 1, 10, 0, 0).unwrap());
        assert_eq!(summer.ora(), "12:00:00");
        assert_eq!(summer.zona(), "+0200");
    }

    #[test]
    fn daylight_saving_switch_night() {
        // 2025-03-30 01:00 UTC is 03:00 CEST (the clocks jumped from 02:00 to 03:00).
        let t = PecTime::new(Utc.with_ymd_and_hms(2025, 3, 30, 1, 0, 0).unwrap());
        assert_eq!((t.ora().as_str(), t.zona().as_str()), ("03:00:00", "+0200"));
        let before = PecTime::new(Utc.with_ymd_and_hms(2025, 3, 30, 0, 59, 59).unwrap());
        assert_eq!(
            (before.ora().as_str(), before.zona().as_str()),
            ("01:59:59", "+0100")
        );
    }

    #[test]
    fn daticert_round_trip() {
        let t = PecTime::new(Utc.with_ymd_and_hms(2025, 10, 26, 0, 30, 0).unwrap());
        let back = PecTime::from_daticert(&t.giorno(), &t.ora(), &t.zona()).unwrap();
        assert_eq!(back, t);
        assert_eq!(PecTime::from_rfc5322(&t.rfc5322()), Some(t));
        assert!(PecTime::from_daticert("32/13/2020", "10:00:00", "+0100").is_none());
        assert!(PecTime::from_daticert("01/01/2020", "10:00:00", "CET").is_none());
    }
}
