//! INTERNALDATE (RFC 3501 §9 `date-time`, RFC 9051 §9): `"17-Jul-1996 02:44:25 -0700"`, to
//! the instant it names in Unix seconds. The zone is applied, then forgotten.

const MONTHS: [&[u8; 3]; 12] = [
    b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec",
];

/// Parses `dd-Mon-yyyy hh:mm:ss +zzzz` (the day may be space-padded, `" 7-Jul-…"`, or a single
/// digit; the month is case-insensitive) to Unix seconds; `None` for anything else, including
/// a day the month does not have.
pub fn parse_internal_date(text: &[u8]) -> Option<i64> {
    let mut cursor = Cursor { rest: text };
    // RFC 3501 §9: date-day-fixed = (SP DIGIT) / 2DIGIT.
    if cursor.rest.first() == Some(&b' ') {
        cursor.rest = cursor.rest.get(1..)?;
    }
    let day = cursor.number(1, 2)?;
    cursor.expect(b'-')?;
    let month_name = cursor.take(3)?;
    let month = MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(month_name))?;
    let month = u32::try_from(month).ok()? + 1;
    cursor.expect(b'-')?;
    let year = cursor.number(4, 4)?;
    cursor.expect(b' ')?;
    let hour = cursor.number(2, 2)?;
    cursor.expect(b':')?;
    let minute = cursor.number(2, 2)?;
    cursor.expect(b':')?;
    let second = cursor.number(2, 2)?;
    cursor.expect(b' ')?;
    let sign: i64 = match cursor.take(1)? {
        b"+" => 1,
        b"-" => -1,
        _ => return None,
    };
    let zone_hours = cursor.number(2, 2)?;
    let zone_minutes = cursor.number(2, 2)?;
    if !cursor.rest.is_empty()
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60 // a leap second
        || zone_hours > 23
        || zone_minutes > 59
    {
        return None;
    }
    let days = days_from_civil(i64::from(year), month, day);
    let local = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    let offset = sign * i64::from(zone_hours * 3600 + zone_minutes * 60);
    Some(local - offset)
}

struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.rest.len() < n {
            return None;
        }
        let (taken, rest) = self.rest.split_at(n);
        self.rest = rest;
        Some(taken)
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.take(1)? == [byte]).then_some(())
    }

    /// `min..=max` decimal digits (at most 4: no overflow).
    fn number(&mut self, min: usize, max: usize) -> Option<u32> {
        let digits = self
            .rest
            .iter()
            .take(max)
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits < min {
            return None;
        }
        let taken = self.take(digits)?;
        Some(taken.iter().fold(0, |n, &d| n * 10 + u32::from(d - b'0')))
    }
}

/// Gregorian: every 4th year, but not every 100th, but every 400th.
fn is_leap(year: u32) -> bool {
    matches!((year % 4, year % 100, year % 400), (_, _, 0) | (0, 1.., _))
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`): eras of 400 years, years starting in March so the leap day is last.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400; // 0..=399
    let month_from_march = i64::from((month + 9) % 12); // March = 0
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1; // 0..=365
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_example_and_zones_give_the_instant() {
        // date -u -d "1996-07-17 02:44:25 -0700" +%s
        assert_eq!(
            parse_internal_date(b"17-Jul-1996 02:44:25 -0700"),
            Some(837_596_665)
        );
        assert_eq!(
            parse_internal_date(b"17-Jul-1996 09:44:25 +0000"),
            Some(837_596_665)
        );
        assert_eq!(
            parse_internal_date(b"17-Jul-1996 11:44:25 +0200"),
            Some(837_596_665)
        );
        // Half-hour and 45-minute zones.
        assert_eq!(
            parse_internal_date(b"17-Jul-1996 15:14:25 +0530"),
            Some(837_596_665)
        );
        assert_eq!(
            parse_internal_date(b"17-Jul-1996 22:29:25 +1245"),
            Some(837_596_665)
        );
        assert_eq!(parse_internal_date(b"01-Jan-1970 00:00:00 +0000"), Some(0));
        assert_eq!(
            parse_internal_date(b"01-Jan-1970 00:00:00 +0100"),
            Some(-3600)
        );
        assert_eq!(parse_internal_date(b"31-Dec-1969 23:59:59 +0000"), Some(-1));
    }

    #[test]
    fn padded_days_months_in_any_case_and_leap_years() {
        // date -u -d "2014-03-07 08:05:03 +0100" +%s
        assert_eq!(
            parse_internal_date(b" 7-Mar-2014 08:05:03 +0100"),
            Some(1_394_175_903)
        );
        assert_eq!(
            parse_internal_date(b"07-mar-2014 08:05:03 +0100"),
            Some(1_394_175_903)
        );
        assert_eq!(
            parse_internal_date(b"7-MAR-2014 08:05:03 +0100"),
            Some(1_394_175_903)
        );
        // date -u -d "2020-02-29 23:59:59 +0000" +%s
        assert_eq!(
            parse_internal_date(b"29-Feb-2020 23:59:59 +0000"),
            Some(1_583_020_799)
        );
        // date -u -d "2000-02-29 12:00:00 +0000" +%s: 2000 is a leap year (÷400).
        assert_eq!(
            parse_internal_date(b"29-Feb-2000 12:00:00 +0000"),
            Some(951_825_600)
        );
        // date -u -d "2038-01-19 03:14:08 +0000" +%s: past 32 bits.
        assert_eq!(
            parse_internal_date(b"19-Jan-2038 03:14:08 +0000"),
            Some(2_147_483_648)
        );
    }

    #[test]
    fn invalid_dates_are_refused() {
        for bad in [
            &b""[..],
            b"17-Jul-1996 02:44:25",        // no zone
            b"17-Jul-1996 02:44:25 0700",   // zone without sign
            b"17-Jul-1996 02:44:25 -07000", // trailing digit
            b"17-Jul-1996 02:44:25 -0700 ", // trailing space
            b"17-Jly-1996 02:44:25 -0700",  // no such month
            b"32-Jul-1996 02:44:25 -0700",  // no such day
            b"29-Feb-2019 02:44:25 -0700",  // not a leap year
            b"29-Feb-1900 02:44:25 -0700",  // ÷100, not ÷400
            b"31-Apr-2019 02:44:25 -0700",
            b"00-Jul-1996 02:44:25 -0700",
            b"17-Jul-1996 24:00:00 -0700",
            b"17-Jul-1996 02:60:25 -0700",
            b"17-Jul-1996 02:44:61 -0700",
            b"17-Jul-1996 02:44:25 -2400",
            b"17-Jul-1996 02:44:25 -0760",
            b"17-Jul-96 02:44:25 -0700", // two-digit year
            b"17-Jul-1996T02:44:25 -0700",
            b"117-Jul-1996 02:44:25 -0700",
            b"  7-Jul-1996 02:44:25 -0700",
            b"\xff7-Jul-1996 02:44:25 -0700",
            b"1996-07-17T02:44:25Z",
        ] {
            assert_eq!(
                parse_internal_date(bad),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
