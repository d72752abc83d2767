//! The funnel, pure: from each lead's stages (when it first reached each one) to what an owner wants to
//! know per source, campaign, form or owner: how many reached each stage, how many are in it now, the
//! conversion between consecutive stages, and the median days between them.
//!
//! The ledger keeps the rows (`leads` and `reached`) and runs this over the leads a question selects, in
//! one request; the memory backend runs the same function, so the native tests hold the numbers.

use serde::{Deserialize, Serialize};
use shared::stage::Stage;
use std::collections::BTreeMap;

/// The stages of the funnel, in order (`disqualified` is off it, counted apart).
pub const STAGES: [Stage; 6] = [Stage::Subscriber, Stage::Lead, Stage::Mql, Stage::Sql, Stage::Opportunity, Stage::Customer];

/// What a funnel is grouped by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum By {
    /// The campaign source (`utm_source`).
    Source,
    /// The campaign (`utm_campaign`).
    Campaign,
    /// The form.
    Form,
    /// The owner.
    Owner,
}

impl By {
    /// The grouping named `s`.
    pub fn parse(s: &str) -> Option<By> {
        match s {
            "source" => Some(By::Source),
            "campaign" => Some(By::Campaign),
            "form" => Some(By::Form),
            "owner" => Some(By::Owner),
            _ => None,
        }
    }
}

/// One lead as the funnel sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    /// The group key (`None`: the lead has no source, campaign or owner).
    pub key: Option<String>,
    /// Its stage now.
    pub stage: Stage,
    /// When it first reached each stage it reached (Unix ms).
    pub reached: Vec<(Stage, u64)>,
}

/// One stage of a group.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StageCount {
    /// The stage.
    pub stage: String,
    /// Leads that reached it or a later one (ever).
    pub reached: u64,
    /// Leads in it now.
    pub now: u64,
    /// Of those that reached the previous stage, the share that reached this one (none for the first).
    pub conversion: Option<f64>,
    /// The median days from the previous stage to this one, over the leads that reached both.
    pub median_days: Option<f64>,
}

/// One group of the funnel.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// The group's key (`(none)` for leads without one).
    pub key: String,
    /// Leads in the group.
    pub leads: u64,
    /// The stages, subscriber to customer.
    pub stages: Vec<StageCount>,
    /// Leads disqualified now.
    pub disqualified: u64,
}

/// The key shown for leads without a source, campaign or owner.
pub const NONE: &str = "(none)";

/// Aggregates rows into groups, the largest first (by leads, then by key).
pub fn aggregate(rows: &[Row]) -> Vec<Group> {
    let mut groups: BTreeMap<String, Vec<&Row>> = BTreeMap::new();
    for row in rows {
        groups.entry(row.key.clone().unwrap_or_else(|| NONE.to_owned())).or_default().push(row);
    }
    let mut out: Vec<Group> = groups.into_iter().map(|(key, rows)| group(key, &rows)).collect();
    out.sort_by(|a, b| b.leads.cmp(&a.leads).then_with(|| a.key.cmp(&b.key)));
    out
}

fn group(key: String, rows: &[&Row]) -> Group {
    // The furthest stage each lead reached (disqualification does not undo what it reached before).
    let furthest: Vec<Option<u8>> = rows.iter().map(|r| r.reached.iter().filter_map(|(s, _)| s.rank()).chain(r.stage.rank()).max()).collect();
    let mut stages = Vec::with_capacity(STAGES.len());
    let mut previous: Option<(Stage, u64)> = None;
    for stage in STAGES {
        let rank = stage.rank().unwrap_or(0);
        let reached = furthest.iter().filter(|f| f.is_some_and(|f| f >= rank)).count() as u64;
        let now = rows.iter().filter(|r| r.stage == stage).count() as u64;
        let (conversion, median_days) = match previous {
            Some((before, reached_before)) => {
                let conversion = (reached_before > 0).then(|| reached as f64 / reached_before as f64);
                let mut days: Vec<f64> = rows
                    .iter()
                    .filter_map(|r| {
                        let from = r.reached.iter().find(|(s, _)| *s == before)?.1;
                        let to = r.reached.iter().find(|(s, _)| *s == stage)?.1;
                        (to >= from).then(|| (to - from) as f64 / 86_400_000.0)
                    })
                    .collect();
                (conversion, median(&mut days))
            }
            None => (None, None),
        };
        stages.push(StageCount { stage: stage.as_str().to_owned(), reached, now, conversion, median_days });
        previous = Some((stage, reached));
    }
    let disqualified = rows.iter().filter(|r| r.stage == Stage::Disqualified).count() as u64;
    Group { key, leads: rows.len() as u64, stages, disqualified }
}

/// The median of `values` (the mean of the middle two for an even count); `None` when empty.
fn median(values: &mut [f64]) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => values.get(n / 2).copied(),
        _ => Some((values.get(n / 2 - 1)? + values.get(n / 2)?) / 2.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400_000;

    fn row(key: &str, stage: Stage, reached: &[(Stage, u64)]) -> Row {
        Row { key: Some(key.into()), stage, reached: reached.to_vec() }
    }

    #[test]
    fn reached_counts_later_stages_and_medians_take_the_middle() {
        use Stage::*;
        let rows = vec![
            row("fair", Lead, &[(Lead, 0)]),
            row("fair", Mql, &[(Lead, 0), (Mql, 2 * DAY)]),
            row("fair", Customer, &[(Lead, 0), (Mql, 4 * DAY), (Sql, 5 * DAY), (Opportunity, 6 * DAY), (Customer, 9 * DAY)]),
            // Skipped MQL: it reached it all the same, but there is no time for lead -> mql.
            row("fair", Sql, &[(Lead, 0), (Sql, 10 * DAY)]),
            row("fair", Disqualified, &[(Lead, 0), (Mql, 8 * DAY), (Disqualified, 9 * DAY)]),
            row("ads", Subscriber, &[(Subscriber, 0)]),
        ];
        let groups = aggregate(&rows);
        assert_eq!(groups.iter().map(|g| g.key.as_str()).collect::<Vec<_>>(), ["fair", "ads"], "largest first");
        let fair = &groups[0];
        let by: BTreeMap<&str, &StageCount> = fair.stages.iter().map(|s| (s.stage.as_str(), s)).collect();
        assert_eq!((fair.leads, fair.disqualified), (5, 1));
        assert_eq!(
            [by["subscriber"].reached, by["lead"].reached, by["mql"].reached, by["sql"].reached, by["opportunity"].reached, by["customer"].reached],
            [5, 5, 4, 2, 1, 1],
            "every lead entered at the top"
        );
        assert_eq!([by["lead"].now, by["mql"].now, by["sql"].now, by["customer"].now], [1, 1, 1, 1]);
        assert_eq!(by["mql"].conversion, Some(0.8));
        assert_eq!(by["sql"].conversion, Some(0.5));
        assert_eq!(by["lead"].conversion, Some(1.0));
        assert_eq!(by["lead"].median_days, None, "nobody was a subscriber first");
        assert_eq!(by["mql"].median_days, Some(4.0), "2, 4 and 8 days");
        assert_eq!(by["sql"].median_days, Some(1.0), "only the lead that has both times");
        assert_eq!(by["customer"].median_days, Some(3.0));
        assert_eq!(groups[1].stages[0].reached, 1);
        assert_eq!(median(&mut [3.0, 1.0]), Some(2.0));
        assert_eq!(aggregate(&[Row { key: None, stage: Lead, reached: vec![] }])[0].key, NONE);
    }
}
