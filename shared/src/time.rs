//! Timestamps as the wire shows them: RFC 3339 in UTC with milliseconds, computed from Unix milliseconds.
//!
//! Callers pass the current time in (the edge reads the Workers clock, tests pass fixed values), which keeps
//! this crate free of I/O and its outputs reproducible.

use alloc::{format, string::String};

/// Formats Unix milliseconds as `2026-11-23T20:58:01.123Z`.
pub fn rfc3339(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z", rem / 3600, rem / 60 % 60, rem % 60, unix_ms % 1000)
}

/// The calendar date of a config date (`YYYY-MM-DD`, or RFC 3339 whose first ten characters are the date),
/// written the way readers of `lang` write dates: `24 December 2026`, `24.12.2026`. The date is the one
/// the organiser wrote, in their own offset, not converted to UTC: "entries close on the 31st" must not
/// read as the 30th. `None` when `s` is not a date.
pub fn written_date(s: &str, lang: crate::Lang) -> Option<String> {
    const MONTHS: [&str; 12] = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
    parse(s)?;
    let (y, m, d) = (s.get(0..4)?, s.get(5..7)?, s.get(8..10)?);
    Some(match lang {
        crate::Lang::De => format!("{d}.{m}.{y}"),
        crate::Lang::En => {
            let month = MONTHS[usize::from(m.parse::<u8>().ok()?).checked_sub(1)?.min(11)];
            format!("{} {month} {y}", d.trim_start_matches('0'))
        }
    })
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)` or a plain date `YYYY-MM-DD` (midnight UTC) into Unix
/// milliseconds; used for giveaway start and end dates in the config.
pub fn parse(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    let num = |r: core::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        part.bytes().all(|c| c.is_ascii_digit()).then(|| part.parse().ok())?
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let days = days_from_civil(y, mo as u32, d as u32);
    if b.len() == 10 {
        return u64::try_from(days * 86_400_000).ok();
    }
    if b.len() < 20 || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut ms = 0i64;
    if b[i] == b'.' {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let frac = s.get(start..i)?;
        if frac.is_empty() {
            return None;
        }
        // Milliseconds are the first three digits, padded with zeros: ".5" is 500 ms.
        ms = frac.bytes().chain(core::iter::repeat(b'0')).take(3).fold(0, |ms, d| ms * 10 + i64::from(d - b'0'));
    }
    let offset_min = match s.get(i..)? {
        "Z" | "z" => 0,
        tz if tz.len() == 6 && (tz.starts_with('+') || tz.starts_with('-')) && tz.as_bytes()[3] == b':' => {
            let v = num(i + 1..i + 3)? * 60 + num(i + 4..i + 6)?;
            if tz.starts_with('-') {
                -v
            } else {
                v
            }
        }
        _ => return None,
    };
    let total = days * 86_400_000 + (h * 3600 + mi * 60 + sec) * 1000 + ms - offset_min * 60_000;
    u64::try_from(total).ok()
}

/// Parses an HTTP date in its one current form (IMF-fixdate, RFC 9110: `Sun, 06 Nov 1994 08:49:37 GMT`)
/// into Unix milliseconds; used for `Retry-After`.
pub fn http_date(s: &str) -> Option<u64> {
    let mut parts = s.trim().split(' ');
    let (_weekday, day, month, year, clock, zone) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || zone != "GMT" || day.len() != 2 || year.len() != 4 || clock.len() != 8 {
        return None;
    }
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let month = MONTHS.iter().position(|m| *m == month)? + 1;
    let iso = format!("{year}-{month:02}-{day}T{clock}Z");
    parse(&iso)
}

/// Days since 1970-01-01 to (year, month, day), after Howard Hinnant's `civil_from_days`.
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::prelude::rust_2021::*;

    #[test]
    fn http_dates_are_read_in_their_imf_fixdate_form() {
        // RFC 9110's own example; 784111777 s after the epoch, checked with `date -d @784111777 -u`.
        assert_eq!(http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777_000));
        assert_eq!(http_date("Mon, 30 Nov 2026 12:00:00 GMT"), parse("2026-11-30T12:00:00Z"));
        for bad in [
            "",
            "Sun, 06 Nov 1994 08:49:37",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nev 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "120",
            "Sun, 06 Nov 1994 25:49:37 GMT",
        ] {
            assert_eq!(http_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn dates_are_written_as_the_organiser_set_them_in_each_language() {
        use crate::Lang;
        assert_eq!(written_date("2026-12-24", Lang::En).as_deref(), Some("24 December 2026"));
        assert_eq!(written_date("2026-12-24", Lang::De).as_deref(), Some("24.12.2026"));
        // Just after midnight in Berlin is still the previous day in UTC; the organiser's date must show.
        assert_eq!(written_date("2027-01-01T00:30:00+01:00", Lang::De).as_deref(), Some("01.01.2027"));
        assert_eq!(written_date("2027-03-05T23:59:59+01:00", Lang::En).as_deref(), Some("5 March 2027"));
        assert_eq!(written_date("2027-13-05", Lang::En), None);
        assert_eq!(written_date("soon", Lang::De), None);
    }
    use proptest::prelude::*;

    #[test]
    fn known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_614_265_330_000), "2021-02-25T15:02:10.000Z");
        assert_eq!(rfc3339(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(parse("2021-02-25T15:02:10Z"), Some(1_614_265_330_000));
        assert_eq!(parse("2021-02-25T16:02:10.5+01:00"), Some(1_614_265_330_500));
        assert_eq!(parse("2026-12-24"), Some(1_798_070_400_000));
        assert_eq!(parse("2026-13-01"), None);
        assert_eq!(parse("yesterday"), None);
    }

    proptest! {
        #[test]
        fn parse_inverts_format(ms in 0u64..8_000_000_000_000) {
            prop_assert_eq!(parse(&rfc3339(ms)), Some(ms));
        }
    }
}
