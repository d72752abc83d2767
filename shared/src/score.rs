//! The lead score: how well a lead fits (company, role, budget, timeframe) and how engaged it is (confirmed
//! opt-in, downloads, coming back), minus a penalty for giveaway entries, who are often prize-seekers.
//!
//! The score decides the stage a lead enters the funnel at: `lead`, or `mql` (marketing-qualified) once it
//! reaches the form's threshold. SQL and opportunity are sales' decisions, made in the CRM.

use alloc::{format, string::String, vec::Vec};

use crate::form::FormKind;
use serde::{Deserialize, Serialize};
use alloc::collections::BTreeMap;

/// Weights and threshold, per form. Every weight has a sensible default, so `[forms.scoring]` is optional.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScoringRules {
    /// Points when a company is given.
    pub company: i32,
    /// Points for a decision-maker.
    pub decision_maker: i32,
    /// Points when a job title is given.
    pub job_title: i32,
    /// Points per answer of the `budget` field (option value to points).
    pub budget: BTreeMap<String, i32>,
    /// Points per answer of the `timeframe` field (option value to points).
    pub timeframe: BTreeMap<String, i32>,
    /// Points for a confirmed double opt-in.
    pub confirmed_opt_in: i32,
    /// Points for each download, up to three.
    pub download: i32,
    /// Points for each repeat submission, up to three.
    pub repeat_submission: i32,
    /// Points taken off giveaway entries.
    pub giveaway_penalty: i32,
    /// The score from which a lead is an MQL.
    pub mql_threshold: i32,
}

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
            giveaway_penalty: 10,
            mql_threshold: 30,
        }
    }
}

/// Where a lead stands in the funnel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Contact data left; not yet qualified.
    Lead,
    /// Marketing-qualified: the score reached the threshold.
    Mql,
    /// Sales-qualified (set by sales, not by the score).
    Sql,
    /// A deal is being worked (set by sales).
    Opportunity,
}

/// What a lead did after leaving its data; recorded by the edge.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Engagement {
    /// Whether the double opt-in was confirmed.
    pub confirmed: bool,
    /// How many times the gated file was downloaded.
    pub downloads: u32,
    /// How many times the lead submitted this form (1 for the first time).
    pub submissions: u32,
}

/// A score with its reasons, so sales can see why a lead is hot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Score {
    /// The sum of all reasons.
    pub total: i32,
    /// One line per contribution, e.g. `+15 decision-maker`.
    pub reasons: Vec<String>,
    /// `lead` or `mql`, by the threshold.
    pub stage: Stage,
}

/// Scores a lead's cleaned fields and engagement by the form's rules.
pub fn score(rules: &ScoringRules, kind: FormKind, fields: &BTreeMap<String, String>, engagement: Engagement) -> Score {
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
    if engagement.confirmed {
        add(rules.confirmed_opt_in, "confirmed opt-in");
    }
    for _ in 0..engagement.downloads.min(3) {
        add(rules.download, "download");
    }
    for _ in 0..engagement.submissions.saturating_sub(1).min(3) {
        add(rules.repeat_submission, "repeat submission");
    }
    if kind == FormKind::Giveaway {
        add(-rules.giveaway_penalty, "giveaway entry");
    }
    let stage = if total >= rules.mql_threshold { Stage::Mql } else { Stage::Lead };
    Score { total, reasons, stage }
}

#[cfg(test)]
mod tests {
    use std::prelude::rust_2021::*;
    use std::vec;
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn a_b2b_decision_maker_with_budget_is_an_mql() {
        let rules = ScoringRules { budget: [("10k+".to_string(), 20)].into(), ..Default::default() };
        let s = score(
            &rules,
            FormKind::DownloadGate,
            &fields(&[("company", "ACME GmbH"), ("decision_maker", "true"), ("budget", "10k+")]),
            Engagement { submissions: 1, downloads: 1, confirmed: false },
        );
        assert_eq!(s.reasons, vec!["+10 company given", "+15 decision-maker", "+20 budget 10k+", "+10 download"]);
        assert_eq!(s.total, 55);
        assert_eq!(s.stage, Stage::Mql);
    }

    #[test]
    fn giveaway_entries_are_penalised() {
        let s = score(&ScoringRules::default(), FormKind::Giveaway, &fields(&[("email", "a@b.de")]), Engagement { submissions: 1, ..Default::default() });
        assert_eq!(s.total, -10);
        assert_eq!(s.reasons, vec!["-10 giveaway entry"]);
        assert_eq!(s.stage, Stage::Lead);
    }

    #[test]
    fn engagement_counts_are_capped_and_repeat_starts_at_the_second_submission() {
        let e = Engagement { confirmed: true, downloads: 10, submissions: 2 };
        let s = score(&ScoringRules::default(), FormKind::Newsletter, &BTreeMap::new(), e);
        assert_eq!(s.total, 10 + 30 + 5);
        assert_eq!(s.stage, Stage::Mql);
        let unanswered = score(&ScoringRules::default(), FormKind::Newsletter, &fields(&[("company", "")]), Engagement::default());
        assert_eq!(unanswered.total, 0, "an empty company is not a company");
    }
}
