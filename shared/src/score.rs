//! The lead score: how well a lead fits (company, role, decision-maker, budget, timeframe) and what it did
//! since (confirmed its address, downloaded, came back, clicked a mail, attended a webinar, booked a
//! meeting), minus a penalty for giveaway entries, who are often prize-seekers.
//!
//! Fit points stay; behaviour points fade with a half-life (90 days by default), because interest shown
//! last week says more than interest shown last year. The score is a pure function of the lead and `now`,
//! and its reasons show the faded values. A lead whose score reaches the form's threshold becomes an MQL
//! (see `stage`); fading never moves it back, but one that has stayed under the threshold for a while is
//! `cooling`, so sales sees it.

use alloc::{borrow::ToOwned, format, string::String, vec::Vec};

use crate::kind::FormKind;
use crate::stage::Stage;
use alloc::collections::BTreeMap;
use serde::{Deserialize, Serialize};

/// Weights, threshold and decay, per form. Every value has a sensible default, so `[forms.scoring]` is
/// optional.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScoringRules {
    /// Fit: points when a company is given.
    pub company: i32,
    /// Fit: points for a decision-maker.
    pub decision_maker: i32,
    /// Fit: points when a job title is given.
    pub job_title: i32,
    /// Fit: points per answer of the `budget` field (option value to points).
    pub budget: BTreeMap<String, i32>,
    /// Fit: points per answer of the `timeframe` field (option value to points).
    pub timeframe: BTreeMap<String, i32>,
    /// Behaviour: points for a confirmed double opt-in (event `confirmed`).
    pub confirmed_opt_in: i32,
    /// Behaviour: points for each download (event `download`; the newest three count).
    pub download: i32,
    /// Behaviour: points for each repeat submission (event `repeat`; the newest three count).
    pub repeat_submission: i32,
    /// Behaviour: points per other event type (`email_click`, `webinar_attended`, or your own). Types not
    /// listed here are refused by the events endpoint.
    pub events: BTreeMap<String, i32>,
    /// Fit: points taken off giveaway entries.
    pub giveaway_penalty: i32,
    /// The score from which a lead is an MQL.
    pub mql_threshold: i32,
    /// Days after which a behaviour event counts half (then a quarter, ...). Fit never fades.
    pub half_life_days: u32,
    /// Days under the threshold after which an MQL (or SQL, or opportunity) is marked `cooling`.
    pub cooling_days: u32,
}

/// The event types every form knows, with their points unless the form sets its own.
pub const DEFAULT_EVENTS: &[(&str, i32)] =
    &[("email_open", 1), ("email_click", 5), ("site_visit", 2), ("pricing_page_visit", 10), ("webinar_attended", 15), ("meeting_booked", 25)];

impl Default for ScoringRules {
    fn default() -> Self {
        ScoringRules {
            company: 10,
            decision_maker: 15,
            job_title: 5,
            budget: BTreeMap::new(),
            timeframe: BTreeMap::new(),
            confirmed_opt_in: 10,
            download: 10,
            repeat_submission: 5,
            events: crate::order::map(DEFAULT_EVENTS.iter().map(|(k, p)| ((*k).to_owned(), *p))),
            giveaway_penalty: 10,
            mql_threshold: 30,
            half_life_days: 90,
            cooling_days: 14,
        }
    }
}

/// The built-in behaviour events, recorded by the collector itself.
pub const CONFIRMED: &str = "confirmed";
/// A download of the gated file.
pub const DOWNLOAD: &str = "download";
/// A repeat submission of the same address to the same form.
pub const REPEAT: &str = "repeat";

/// How many of the newest events of a capped type count (downloads and repeats: coming back three times
/// says as much as coming back thirty times).
pub const CAPPED_AT: usize = 3;

impl ScoringRules {
    /// The points an event type is worth, if the form knows it.
    pub fn points(&self, kind: &str) -> Option<i32> {
        match kind {
            CONFIRMED => Some(self.confirmed_opt_in),
            DOWNLOAD => Some(self.download),
            REPEAT => Some(self.repeat_submission),
            other => self.events.get(other).copied(),
        }
    }

    fn half_life_ms(&self) -> f64 {
        f64::from(self.half_life_days.max(1)) * 86_400_000.0
    }
}

/// What a lead did after leaving its data (the counts; the scored events are [`Event`]s).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Engagement {
    /// Whether the double opt-in was confirmed.
    pub confirmed: bool,
    /// How many times the gated file was downloaded.
    pub downloads: u32,
    /// How many times the lead submitted this form (1 for the first time).
    pub submissions: u32,
}

/// A behaviour event on a lead, with the points it was worth when it happened (a later change of the
/// config does not rewrite history).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The type (`download`, `email_click`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// When (RFC 3339).
    pub at: String,
    /// The points, before fading.
    pub points: i32,
}

/// A score with its reasons, so sales can see why a lead is hot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Score {
    /// Fit plus faded behaviour, rounded.
    pub total: i32,
    /// The fit points.
    #[serde(default)]
    pub fit: i32,
    /// The behaviour points, faded to the time of scoring and rounded.
    #[serde(default)]
    pub behaviour: i32,
    /// One line per contribution, e.g. `+15 decision-maker` or `+7 email_click (10, 45 days ago)`.
    pub reasons: Vec<String>,
    /// `lead` or `mql`: whether the total reaches the threshold (the lead's own stage is `Lead::stage`).
    pub stage: Stage,
    /// When the lead starts `cooling` if nothing new happens (RFC 3339; see [`cooling_from`]); absent when it
    /// never will at its stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooling_from: Option<String>,
}

/// The fit points of a lead's fields, with their reasons.
pub fn fit(rules: &ScoringRules, kind: FormKind, fields: &BTreeMap<String, String>) -> (i32, Vec<String>) {
    let mut total = 0;
    let mut reasons = Vec::new();
    let mut add = |points: i32, why: &str| {
        if points != 0 {
            total += points;
            reasons.push(format!("{points:+} {why}"));
        }
    };
    let given = |name: &str| fields.get(name).is_some_and(|v| !v.is_empty());
    if given("company") {
        add(rules.company, "company given");
    }
    if fields.get("decision_maker").is_some_and(|v| v == "true") {
        add(rules.decision_maker, "decision-maker");
    }
    if given("job_title") {
        add(rules.job_title, "job title given");
    }
    for (field, table) in [("budget", &rules.budget), ("timeframe", &rules.timeframe)] {
        if let Some((answer, points)) = fields.get(field).and_then(|v| table.get_key_value(v)) {
            add(*points, &format!("{field} {answer}"));
        }
    }
    if kind == FormKind::Giveaway {
        add(-rules.giveaway_penalty, "giveaway entry");
    }
    (total, reasons)
}

/// What share of its points an event that happened `age_ms` ago still counts: 1 now, ½ after one
/// half-life, ¼ after two. Events "in the future" (a clock behind the event's) count fully.
pub fn faded(rules: &ScoringRules, age_ms: u64) -> f64 {
    libm::exp2(-(age_ms as f64) / rules.half_life_ms())
}

/// The events that count: every one, except that of `download` and `repeat` only the newest
/// [`CAPPED_AT`], and of `confirmed` only one.
fn counted(events: &[Event]) -> Vec<&Event> {
    // How many of each type so far: a list, as the types are a handful (and a map of these keys would be
    // code of its own in the collector).
    let mut seen: Vec<(&str, usize)> = Vec::new();
    let mut out: Vec<&Event> = Vec::new();
    // Newest first, so the caps keep the newest.
    let mut by_time: Vec<&Event> = events.iter().collect();
    crate::order::sort_by(&mut by_time, |a, b| b.at.cmp(&a.at));
    for e in by_time {
        let n = match seen.iter_mut().find(|(kind, _)| *kind == e.kind) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                seen.push((e.kind.as_str(), 1));
                1
            }
        };
        let cap = match e.kind.as_str() {
            CONFIRMED => 1,
            DOWNLOAD | REPEAT => CAPPED_AT,
            _ => usize::MAX,
        };
        if n <= cap {
            out.push(e);
        }
    }
    out
}

/// The behaviour points at `now_ms` (not rounded), with one reason per event type (so a lead with many
/// events still has a short list): `+10 download`, `+2 email_click (8, 180 days ago)`, or for several
/// `+12 email_click ×4 (20, 3–40 days ago)`.
pub fn behaviour(rules: &ScoringRules, events: &[Event], now_ms: u64) -> (f64, Vec<String>) {
    // Per type, in order of first appearance: faded sum, raw sum, count, youngest and oldest age in days.
    let mut kinds: Vec<(&str, f64, i64, usize, u64, u64)> = Vec::new();
    let mut counted = counted(events);
    crate::order::sort_by(&mut counted, |a, b| a.at.cmp(&b.at));
    let mut sum = 0.0;
    for e in counted {
        let at = crate::time::parse(&e.at).unwrap_or(now_ms);
        let age = now_ms.saturating_sub(at);
        let value = f64::from(e.points) * faded(rules, age);
        sum += value;
        let days = age / 86_400_000;
        match kinds.iter_mut().find(|k| k.0 == e.kind) {
            Some(k) => {
                k.1 += value;
                k.2 += i64::from(e.points);
                k.3 += 1;
                k.4 = k.4.min(days);
                k.5 = k.5.max(days);
            }
            None => kinds.push((e.kind.as_str(), value, i64::from(e.points), 1, days, days)),
        }
    }
    let reasons = kinds
        .into_iter()
        .map(|(kind, value, raw, n, young, old)| {
            let shown = libm::round(value) as i64;
            match (n, shown == raw) {
                (1, true) => format!("{shown:+} {kind}"),
                (1, false) => format!("{shown:+} {kind} ({raw}, {old} days ago)"),
                (_, true) => format!("{shown:+} {kind} ×{n}"),
                (_, false) if young == old => format!("{shown:+} {kind} ×{n} ({raw}, {old} days ago)"),
                (_, false) => format!("{shown:+} {kind} ×{n} ({raw}, {young}–{old} days ago)"),
            }
        })
        .collect();
    (sum, reasons)
}

/// Scores a lead's fields and events at `now_ms` by the form's rules.
pub fn score(rules: &ScoringRules, kind: FormKind, fields: &BTreeMap<String, String>, events: &[Event], now_ms: u64) -> Score {
    let (fit, mut reasons) = fit(rules, kind, fields);
    let (sum, more) = behaviour(rules, events, now_ms);
    reasons.extend(more);
    let behaviour = libm::round(sum) as i32;
    let total = fit.saturating_add(behaviour);
    let stage = if total >= rules.mql_threshold { Stage::Mql } else { Stage::Lead };
    Score { total, fit, behaviour, reasons, stage, cooling_from: None }
}

/// When (Unix ms) the score is under the threshold from, if no new event comes: the newest event's time if
/// it is under right after it, the moment fading takes it under, or `None` if it never goes under (the
/// fit alone reaches the threshold). Between events every contribution fades by the same factor, so after
/// the newest event the behaviour points are that moment's value times `2^(-t / half-life)`, and the
/// crossing has a closed form.
pub fn under_threshold_from(rules: &ScoringRules, kind: FormKind, fields: &BTreeMap<String, String>, events: &[Event]) -> Option<u64> {
    let (fit, _) = fit(rules, kind, fields);
    let threshold = f64::from(rules.mql_threshold);
    let room = threshold - f64::from(fit);
    let last = events.iter().filter_map(|e| crate::time::parse(&e.at)).max().unwrap_or(0);
    let (at_last, _) = behaviour(rules, events, last);
    if at_last < room {
        return Some(last);
    }
    if room <= 0.0 {
        return None;
    }
    let crossing = rules.half_life_ms() * libm::log2(at_last / room);
    Some(last.saturating_add(crossing.max(0.0) as u64))
}

/// Since when (Unix ms) the score has been under the threshold, if it is under it at `now_ms`.
pub fn under_threshold_since(rules: &ScoringRules, kind: FormKind, fields: &BTreeMap<String, String>, events: &[Event], now_ms: u64) -> Option<u64> {
    under_threshold_from(rules, kind, fields, events).filter(|from| *from <= now_ms)
}

/// When a lead that entered `stage` at `entered_ms` starts cooling if no new event comes (see
/// [`cooling`]), or `None` if it never will. Time under the threshold counts from the stage's start at the
/// earliest: sales moving a lead with a low score to SQL today does not make it cool today. What the
/// ledger's lead index keeps, so "cooling now" is a comparison with the clock.
pub fn cooling_from(rules: &ScoringRules, kind: FormKind, stage: Stage, entered_ms: u64, fields: &BTreeMap<String, String>, events: &[Event]) -> Option<u64> {
    if !matches!(stage, Stage::Mql | Stage::Sql | Stage::Opportunity) {
        return None;
    }
    under_threshold_from(rules, kind, fields, events).map(|from| from.max(entered_ms).saturating_add(u64::from(rules.cooling_days) * 86_400_000))
}

/// Whether a lead at `stage` is cooling at `now_ms`: it reached MQL (or beyond, short of customer) and its
/// score has been under the threshold for at least `cooling_days`.
pub fn cooling(rules: &ScoringRules, kind: FormKind, stage: Stage, entered_ms: u64, fields: &BTreeMap<String, String>, events: &[Event], now_ms: u64) -> bool {
    cooling_from(rules, kind, stage, entered_ms, fields, events).is_some_and(|from| from <= now_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::prelude::rust_2021::*;
    use std::vec;

    const DAY: u64 = 86_400_000;
    const NOW: u64 = 1_790_000_000_000;

    fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn event(kind: &str, points: i32, days_ago: u64) -> Event {
        Event { kind: kind.into(), at: crate::time::rfc3339(NOW - days_ago * DAY), points }
    }

    #[test]
    fn a_b2b_decision_maker_with_budget_is_an_mql() {
        let rules = ScoringRules { budget: [("10k+".to_string(), 20)].into(), ..Default::default() };
        let s = score(
            &rules,
            FormKind::DownloadGate,
            &fields(&[("company", "ACME GmbH"), ("decision_maker", "true"), ("budget", "10k+")]),
            &[event(DOWNLOAD, 10, 0)],
            NOW,
        );
        assert_eq!(s.reasons, vec!["+10 company given", "+15 decision-maker", "+20 budget 10k+", "+10 download"]);
        assert_eq!((s.total, s.fit, s.behaviour), (55, 45, 10));
        assert_eq!(s.stage, Stage::Mql);
    }

    #[test]
    fn giveaway_entries_are_penalised() {
        let s = score(&ScoringRules::default(), FormKind::Giveaway, &fields(&[("email", "a@b.de")]), &[], NOW);
        assert_eq!(s.total, -10);
        assert_eq!(s.reasons, vec!["-10 giveaway entry"]);
        assert_eq!(s.stage, Stage::Lead);
    }

    #[test]
    fn downloads_and_repeats_count_their_newest_three_and_a_confirmation_once() {
        let mut events: Vec<Event> = (0..10).map(|i| event(DOWNLOAD, 10, i)).collect();
        events.push(event(CONFIRMED, 10, 0));
        events.push(event(CONFIRMED, 10, 0));
        events.push(event(REPEAT, 5, 0));
        let s = score(&ScoringRules::default(), FormKind::Newsletter, &BTreeMap::new(), &events, NOW);
        assert!(s.reasons.contains(&"+30 download ×3".to_string()), "{:?}", s.reasons);
        assert!(s.reasons.contains(&"+10 confirmed".to_string()), "{:?}", s.reasons);
        assert_eq!(s.behaviour, 10 + 30 + 5, "the three newest downloads are 0-2 days old: all but unfaded");
        let unanswered = score(&ScoringRules::default(), FormKind::Newsletter, &fields(&[("company", "")]), &[], NOW);
        assert_eq!(unanswered.total, 0, "an empty company is not a company");
    }

    #[test]
    fn behaviour_fades_with_its_half_life_and_the_reason_shows_it() {
        let rules = ScoringRules::default();
        let s = score(&rules, FormKind::Newsletter, &fields(&[("company", "ACME")]), &[event("webinar_attended", 16, 90), event("email_click", 8, 180)], NOW);
        assert_eq!(s.reasons, vec!["+10 company given", "+2 email_click (8, 180 days ago)", "+8 webinar_attended (16, 90 days ago)"]);
        assert_eq!((s.fit, s.behaviour, s.total), (10, 10, 20));
        let clicks: Vec<Event> = (0..4).map(|i| event("email_click", 5, 3 + i * 12)).collect();
        let s = score(&rules, FormKind::Newsletter, &BTreeMap::new(), &clicks, NOW);
        assert_eq!(s.reasons.len(), 1, "one line per event type");
        assert!(s.reasons[0].starts_with("+") && s.reasons[0].contains("email_click ×4 (20, 3–39 days ago)"), "{:?}", s.reasons);
    }

    #[test]
    fn a_lead_under_its_threshold_for_long_enough_is_cooling_and_not_before() {
        let rules = ScoringRules::default();
        let f = fields(&[("company", "ACME")]);
        // Fit 10, a meeting worth 25 and a click worth 5 today: 40, over the threshold of 30.
        let events = vec![event("meeting_booked", 25, 0), event("email_click", 5, 0)];
        assert_eq!(under_threshold_since(&rules, FormKind::Newsletter, &f, &events, NOW), None);
        // 30 behaviour points fall to 20 (the room under the threshold) after log2(30/20) half-lives.
        let crossing = NOW + (90.0 * DAY as f64 * libm::log2(30.0 / 20.0)) as u64;
        let later = crossing + DAY;
        let since = under_threshold_since(&rules, FormKind::Newsletter, &f, &events, later).unwrap();
        assert!(since.abs_diff(crossing) < 1000, "{since} vs {crossing}");
        assert!(!cooling(&rules, FormKind::Newsletter, Stage::Mql, NOW, &f, &events, crossing + 13 * DAY));
        assert!(cooling(&rules, FormKind::Newsletter, Stage::Mql, NOW, &f, &events, crossing + 14 * DAY + 1000));
        assert!(!cooling(&rules, FormKind::Newsletter, Stage::Customer, NOW, &f, &events, crossing + 100 * DAY), "customers do not cool");
        assert!(!cooling(&rules, FormKind::Newsletter, Stage::Lead, NOW, &f, &events, crossing + 100 * DAY), "only what reached MQL cools");
        let from = cooling_from(&rules, FormKind::Newsletter, Stage::Sql, NOW, &f, &events).unwrap();
        assert!(from.abs_diff(crossing + 14 * DAY) < 1000);
        let strong = fields(&[("company", "ACME"), ("decision_maker", "true"), ("job_title", "CEO")]);
        assert_eq!(cooling_from(&rules, FormKind::Newsletter, Stage::Mql, NOW, &strong, &events), None, "fit alone holds the threshold");
        // Moved to SQL by sales 100 days later with a faded score: cooling counts from the move.
        let moved = crossing + 100 * DAY;
        assert_eq!(cooling_from(&rules, FormKind::Newsletter, Stage::Sql, moved, &f, &events), Some(moved + 14 * DAY));
    }

    proptest! {
        #[test]
        fn fading_is_monotone_halves_at_the_half_life_and_never_touches_fit(
            half_life in 1u32..400, a in 0u64..(2000 * DAY), b in 0u64..(2000 * DAY), points in 1i32..1000,
        ) {
            let rules = ScoringRules { half_life_days: half_life, ..Default::default() };
            let (young, old) = (a.min(b), a.max(b));
            prop_assert!(faded(&rules, young) >= faded(&rules, old));
            prop_assert!((faded(&rules, u64::from(half_life) * DAY) - 0.5).abs() < 1e-12);
            prop_assert!((faded(&rules, 2 * u64::from(half_life) * DAY) - 0.25).abs() < 1e-12);
            let f = fields(&[("company", "ACME"), ("decision_maker", "true")]);
            let events = [Event { kind: "email_click".into(), at: crate::time::rfc3339(NOW), points }];
            let early = score(&rules, FormKind::Newsletter, &f, &events, NOW + young);
            let late = score(&rules, FormKind::Newsletter, &f, &events, NOW + old);
            prop_assert_eq!(early.fit, 25);
            prop_assert_eq!(late.fit, 25);
            prop_assert!(early.behaviour >= late.behaviour);
            prop_assert!(late.behaviour >= 0);
        }
    }
}
