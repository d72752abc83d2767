//! Working time: when a lead's response is due under a service-level agreement ("within 15 minutes,
//! counting Monday to Friday 9 to 17 in Berlin, not on holidays"), and how much working time passed
//! between two instants (the speed-to-lead numbers count working time only).
//!
//! Time zones are a small table of IANA names with their standard offset and daylight-saving rule (the EU's
//! and the US's), not the tz database: the rule book is no_std and every byte of it ships to the edge. A
//! zone not in the table is a config problem, never a silent UTC.

use alloc::{string::String, vec::Vec};
use serde::{Deserialize, Serialize};

const MINUTE: u64 = 60_000;
const DAY_MS: i64 = 86_400_000;

/// When people work: the time zone, the weekdays, the hours, and the holidays.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkingHours {
    /// An IANA zone name from [`ZONES`] (default `Europe/Berlin`).
    #[serde(default = "default_zone")]
    pub zone: String,
    /// The working weekdays, 1 = Monday to 7 = Sunday (default Monday to Friday).
    #[serde(default = "default_days")]
    pub days: Vec<u8>,
    /// When the working day starts, `HH:MM` local time (default `09:00`).
    #[serde(default = "default_from")]
    pub from: String,
    /// When it ends, `HH:MM` local time (default `17:00`).
    #[serde(default = "default_to")]
    pub to: String,
    /// Days off, `YYYY-MM-DD` in the zone.
    #[serde(default)]
    pub holidays: Vec<String>,
}

fn default_zone() -> String {
    "Europe/Berlin".into()
}
fn default_days() -> Vec<u8> {
    alloc::vec![1, 2, 3, 4, 5]
}
fn default_from() -> String {
    "09:00".into()
}
fn default_to() -> String {
    "17:00".into()
}

/// A daylight-saving rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dst {
    None,
    /// The EU's: +1 h from the last Sunday of March to the last Sunday of October, at 01:00 UTC.
    Eu,
    /// The US's: +1 h from the second Sunday of March, 02:00 local, to the first Sunday of November, 02:00.
    Us,
}

/// The zones working hours may name: (name, standard offset in minutes, rule).
const ZONES: &[(&str, i64, Dst)] = &[
    ("UTC", 0, Dst::None),
    ("Europe/London", 0, Dst::Eu),
    ("Europe/Dublin", 0, Dst::Eu),
    ("Europe/Lisbon", 0, Dst::Eu),
    ("Europe/Berlin", 60, Dst::Eu),
    ("Europe/Vienna", 60, Dst::Eu),
    ("Europe/Zurich", 60, Dst::Eu),
    ("Europe/Amsterdam", 60, Dst::Eu),
    ("Europe/Brussels", 60, Dst::Eu),
    ("Europe/Luxembourg", 60, Dst::Eu),
    ("Europe/Paris", 60, Dst::Eu),
    ("Europe/Madrid", 60, Dst::Eu),
    ("Europe/Rome", 60, Dst::Eu),
    ("Europe/Copenhagen", 60, Dst::Eu),
    ("Europe/Stockholm", 60, Dst::Eu),
    ("Europe/Oslo", 60, Dst::Eu),
    ("Europe/Warsaw", 60, Dst::Eu),
    ("Europe/Prague", 60, Dst::Eu),
    ("Europe/Budapest", 60, Dst::Eu),
    ("Europe/Helsinki", 120, Dst::Eu),
    ("Europe/Athens", 120, Dst::Eu),
    ("America/New_York", -300, Dst::Us),
    ("America/Chicago", -360, Dst::Us),
    ("America/Denver", -420, Dst::Us),
    ("America/Los_Angeles", -480, Dst::Us),
];

fn zone(name: &str) -> Option<(i64, Dst)> {
    ZONES.iter().find(|(n, _, _)| *n == name).map(|&(_, offset, dst)| (offset, dst))
}

/// The day (days since 1970-01-01) of the `n`th Sunday of `month` in `year` (`n` = 0 for the last).
fn sunday(year: i64, month: u32, n: u32) -> i64 {
    let weekday = |day: i64| (day + 3).rem_euclid(7); // 0 = Monday; 1970-01-01 was a Thursday.
    if n == 0 {
        let next = if month == 12 { crate::time::days_from_civil(year + 1, 1, 1) } else { crate::time::days_from_civil(year, month + 1, 1) };
        let last = next - 1;
        last - (weekday(last) + 1) % 7
    } else {
        let first = crate::time::days_from_civil(year, month, 1);
        first + (6 - weekday(first)).rem_euclid(7) + 7 * (i64::from(n) - 1)
    }
}

/// The zone's offset from UTC in minutes at `utc_ms`.
fn offset_at(standard: i64, dst: Dst, utc_ms: i64) -> i64 {
    let year = crate::time::civil_from_days(utc_ms.div_euclid(DAY_MS)).0;
    let summer = match dst {
        Dst::None => false,
        Dst::Eu => {
            let start = sunday(year, 3, 0) * DAY_MS + 3_600_000;
            let end = sunday(year, 10, 0) * DAY_MS + 3_600_000;
            (start..end).contains(&utc_ms)
        }
        Dst::Us => {
            let start = sunday(year, 3, 2) * DAY_MS + 2 * 3_600_000 - standard * MINUTE as i64;
            let end = sunday(year, 11, 1) * DAY_MS + 2 * 3_600_000 - (standard + 60) * MINUTE as i64;
            (start..end).contains(&utc_ms)
        }
    };
    standard + if summer { 60 } else { 0 }
}

fn clock(s: &str) -> Option<i64> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    ((0..60).contains(&m) && h * 60 + m <= 1440).then_some(h * 60 + m)
}

impl WorkingHours {
    /// What is wrong with these hours, if anything (for the config's problems).
    pub fn problem(&self) -> Option<&'static str> {
        if zone(&self.zone).is_none() {
            return Some("an unknown time zone: use an IANA name such as Europe/Berlin, Europe/Vienna, Europe/Zurich, Europe/London, America/New_York or UTC");
        }
        if self.days.is_empty() || self.days.iter().any(|d| !(1..=7).contains(d)) {
            return Some("days are weekdays from 1 (Monday) to 7 (Sunday), at least one");
        }
        match (clock(&self.from), clock(&self.to)) {
            (Some(from), Some(to)) if from < to => {}
            _ => return Some("from and to are times of day (HH:MM), from before to"),
        }
        if self.holidays.iter().any(|h| h.len() != 10 || crate::time::parse(h).is_none()) {
            return Some("holidays are dates (YYYY-MM-DD)");
        }
        None
    }

    /// The working window of local day `day` (days since 1970-01-01 in the zone) as UTC milliseconds, or
    /// `None` when it is not a working day.
    fn window(&self, day: i64) -> Option<(i64, i64)> {
        let (standard, dst) = zone(&self.zone)?;
        let weekday = (day + 3).rem_euclid(7) + 1;
        if !self.days.iter().any(|d| i64::from(*d) == weekday) {
            return None;
        }
        let (y, m, d) = crate::time::civil_from_days(day);
        let date = alloc::format!("{y:04}-{m:02}-{d:02}");
        if self.holidays.contains(&date) {
            return None;
        }
        let (from, to) = (clock(&self.from)?, clock(&self.to)?);
        // Local to UTC: the offset is the one in force at that instant, found by asking once with the
        // standard offset (changes happen at night, outside working hours).
        let utc = |minutes: i64| {
            let guess = day * DAY_MS + (minutes - standard) * MINUTE as i64;
            day * DAY_MS + (minutes - offset_at(standard, dst, guess)) * MINUTE as i64
        };
        Some((utc(from), utc(to)))
    }

    /// The local day (in the zone) that `utc_ms` falls on.
    fn local_day(&self, utc_ms: i64) -> i64 {
        let (standard, dst) = zone(&self.zone).unwrap_or((0, Dst::None));
        (utc_ms + offset_at(standard, dst, utc_ms) * MINUTE as i64).div_euclid(DAY_MS)
    }
}

/// When `span_ms` of working time after `start_ms` have passed: plain time without working hours. A lead
/// that arrives at night is due `span_ms` into the next working day.
pub fn due_at(hours: Option<&WorkingHours>, start_ms: u64, span_ms: u64) -> u64 {
    let plain = start_ms + span_ms;
    let Some(hours) = hours.filter(|h| h.problem().is_none()) else { return plain };
    let mut left = i64::try_from(span_ms).unwrap_or(i64::MAX);
    let start = start_ms as i64;
    let first = hours.local_day(start);
    // Two years of days off at most: hours whose every day is a holiday fall back to plain time.
    for day in first..first + 730 {
        if let Some((open, close)) = hours.window(day) {
            let from = open.max(start);
            if from < close {
                if from + left <= close {
                    return u64::try_from(from + left).unwrap_or(plain);
                }
                left -= close - from;
            }
        }
    }
    plain
}

/// The working time between `from_ms` and `to_ms`, in milliseconds (plain time without working hours).
pub fn working_ms(hours: Option<&WorkingHours>, from_ms: u64, to_ms: u64) -> u64 {
    if to_ms <= from_ms {
        return 0;
    }
    let Some(hours) = hours.filter(|h| h.problem().is_none()) else { return to_ms - from_ms };
    let (from, to) = (from_ms as i64, to_ms as i64);
    let mut total = 0;
    let mut day = hours.local_day(from);
    let last = hours.local_day(to);
    while day <= last {
        if let Some((open, close)) = hours.window(day) {
            total += (close.min(to) - open.max(from)).max(0);
        }
        day += 1;
    }
    u64::try_from(total).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse;
    use std::prelude::rust_2021::*;

    fn berlin() -> WorkingHours {
        serde_json::from_str(r#"{"holidays": ["2026-12-24", "2026-12-25"]}"#).unwrap()
    }

    fn at(s: &str) -> u64 {
        parse(s).unwrap()
    }

    fn due(h: &WorkingHours, start: &str, minutes: u64) -> String {
        crate::time::rfc3339(due_at(Some(h), at(start), minutes * MINUTE))
    }

    #[test]
    fn inside_working_hours_the_due_time_is_plain_time() {
        // 10:00 in Berlin in winter is 09:00 UTC.
        assert_eq!(due(&berlin(), "2026-12-07T09:00:00Z", 15), "2026-12-07T09:15:00.000Z");
        assert_eq!(due_at(None, 1_000, 15 * MINUTE), 1_000 + 15 * 60_000, "no hours: plain time");
    }

    #[test]
    fn a_lead_at_night_or_at_the_weekend_is_due_into_the_next_working_day() {
        // Friday 16:50 Berlin (15:50 UTC): 10 minutes on Friday, 5 on Monday from 09:00 (08:00 UTC).
        assert_eq!(due(&berlin(), "2026-12-04T15:50:00Z", 15), "2026-12-07T08:05:00.000Z");
        // Saturday: Monday 09:15.
        assert_eq!(due(&berlin(), "2026-12-05T12:00:00Z", 15), "2026-12-07T08:15:00.000Z");
        // Early morning: the day's start.
        assert_eq!(due(&berlin(), "2026-12-07T05:00:00Z", 60), "2026-12-07T09:00:00.000Z");
    }

    #[test]
    fn holidays_are_skipped() {
        // Wednesday 23 December 16:30 Berlin: 30 minutes that day, then 24th and 25th off, Saturday and
        // Sunday: Monday 28th 09:30.
        assert_eq!(due(&berlin(), "2026-12-23T15:30:00Z", 60), "2026-12-28T08:30:00.000Z");
    }

    #[test]
    fn daylight_saving_changes_move_the_window_in_utc() {
        // Berlin in summer is UTC+2: 09:00 local is 07:00 UTC. The EU changes on the last Sundays of March
        // (29 March 2026) and October (25 October 2026).
        assert_eq!(due(&berlin(), "2026-03-27T16:00:00Z", 30), "2026-03-30T07:30:00.000Z", "Friday 17:00 CET, Monday 09:30 CEST");
        assert_eq!(due(&berlin(), "2026-10-23T14:30:00Z", 60), "2026-10-26T08:30:00.000Z", "Friday 16:30 CEST, Monday 09:30 CET");
        // New York changes on the second Sunday of March (8 March 2026) and the first of November.
        let ny = WorkingHours { zone: "America/New_York".into(), ..berlin() };
        assert_eq!(due(&ny, "2026-03-06T21:30:00Z", 60), "2026-03-09T13:30:00.000Z", "Friday 16:30 EST, Monday 09:30 EDT");
        assert_eq!(due(&ny, "2026-10-30T20:30:00Z", 60), "2026-11-02T14:30:00.000Z", "Friday 16:30 EDT, Monday 09:30 EST");
    }

    #[test]
    fn working_time_between_two_instants_counts_only_the_windows() {
        let h = berlin();
        // Friday 16:00 to Monday 10:00 Berlin: one hour on Friday and one on Monday.
        assert_eq!(working_ms(Some(&h), at("2026-12-04T15:00:00Z"), at("2026-12-07T09:00:00Z")), 2 * 3_600_000);
        assert_eq!(working_ms(Some(&h), at("2026-12-07T09:00:00Z"), at("2026-12-07T09:07:00Z")), 7 * 60_000);
        assert_eq!(working_ms(None, 0, 5_000), 5_000);
        assert_eq!(working_ms(Some(&h), 10, 5), 0);
    }

    #[test]
    fn hours_that_cannot_work_are_a_problem_named_in_words() {
        let bad = |json: &str| serde_json::from_str::<WorkingHours>(json).unwrap().problem();
        assert!(bad(r#"{"zone": "Mars/Olympus"}"#).unwrap().contains("time zone"));
        assert!(bad(r#"{"days": [0]}"#).unwrap().contains("weekdays"));
        assert!(bad(r#"{"from": "18:00"}"#).unwrap().contains("from before to"));
        assert!(bad(r#"{"from": "9:00"}"#).is_some());
        assert!(bad(r#"{"holidays": ["24.12."]}"#).unwrap().contains("dates"));
        assert_eq!(bad("{}"), None);
    }
}
