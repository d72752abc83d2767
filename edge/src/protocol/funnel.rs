//! The funnel, pure: from each lead's stages (when it first reached each one) to what an owner wants to
//! know per source, campaign, form or owner: how many reached each stage, how many are in it now, the
//! conversion between consecutive stages, and the median days between them.
//!
//! The ledger does not read every lead to answer: it keeps [`Share`]s summed per day ([`Cell`] counts, and
//! a histogram of the time between consecutive stages in [`bucket`]s), updated as each lead's index row is
//! written, and a question sums those per group ([`Tallies`]). The counts are exact; a median is the mean
//! of the bucket it falls in, so it is exact when the times in that bucket are equal and otherwise off by
//! less than the bucket's width (an hour below two days, a day above). A period that does not start or end
//! on a day's boundary adds the leads of its partial days from their rows ([`Period::split`]). The memory
//! backend keeps the same tallies, so the native tests hold the numbers.

use serde::{Deserialize, Serialize};
use shared::stage::Stage;
use std::collections::BTreeMap;

/// A day in ms.
const DAY_MS: u64 = 86_400_000;
/// An hour in ms.
const HOUR_MS: u64 = 3_600_000;

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
    /// The day the lead was created (UTC), as days since the Unix epoch.
    Day,
    /// The variant of the form's texts the lead saw (an A/B test).
    Variant,
}

impl By {
    /// The grouping named `s`.
    pub fn parse(s: &str) -> Option<By> {
        match s {
            "source" => Some(By::Source),
            "campaign" => Some(By::Campaign),
            "form" => Some(By::Form),
            "owner" => Some(By::Owner),
            "day" => Some(By::Day),
            "variant" => Some(By::Variant),
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
    let mut tallies = Tallies::default();
    for row in rows {
        tallies.add_row(row, 1);
    }
    tallies.groups()
}

/// Which histogram bucket a time between two stages falls in: whole hours below two days, whole days above
/// (up to ten years), so a lead's every gap is one bucket of a few thousand at most.
pub fn bucket(ms: u64) -> u32 {
    if ms < 2 * DAY_MS {
        (ms / HOUR_MS) as u32
    } else {
        46 + (ms / DAY_MS).min(3650) as u32
    }
}

/// The key of a lead's aggregate cell: the day it was created, its form and groups, its stage now and the
/// furthest stage it reached. Groups a lead has none of are empty strings (no source is a group of its own).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Cell {
    /// The form.
    pub form: String,
    /// The day the lead was created (days since the Unix epoch, UTC).
    pub day: u64,
    /// `utm_source` or the import batch's source; empty for none.
    pub source: String,
    /// `utm_campaign`; empty for none.
    pub campaign: String,
    /// The owner; empty for none.
    pub owner: String,
    /// The variant of the form's texts the lead saw; empty for none.
    pub variant: String,
    /// The stage now.
    pub stage: Stage,
    /// The rank of the furthest stage reached ([`Stage::rank`]); -1 for none (disqualified before any).
    pub furthest: i64,
}

impl Cell {
    /// The cell's key in a grouping (`None` for a lead without a source, campaign or owner).
    pub fn key(&self, by: By) -> Option<String> {
        let key = match by {
            By::Day => return Some(self.day.to_string()),
            By::Source => &self.source,
            By::Campaign => &self.campaign,
            By::Form => &self.form,
            By::Owner => &self.owner,
            By::Variant => &self.variant,
        };
        (!key.is_empty()).then(|| key.clone())
    }
}

/// The time between two consecutive stages of one lead, as the histogram counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    /// The later stage (the median is of the time from the stage before it).
    pub stage: Stage,
    /// Its [`bucket`].
    pub bucket: u32,
    /// The time, ms.
    pub ms: u64,
}

/// What one lead adds to the aggregates: one to its cell, and one per gap to its cell's histogram.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Share {
    /// The lead's cell.
    pub cell: Cell,
    /// The times between the consecutive stages it reached, in funnel order.
    pub gaps: Vec<Gap>,
}

impl Share {
    /// The share of a lead of `form` created at `created` (Unix ms), in groups `source`, `campaign`,
    /// `owner` and `variant`, at `stage` now, that first reached each of `reached` at its time.
    pub fn new(form: &str, created: u64, groups: [Option<&str>; 4], stage: Stage, reached: &[(Stage, u64)]) -> Share {
        let [source, campaign, owner, variant] = groups.map(|g| g.unwrap_or_default().to_owned());
        let furthest = reached.iter().filter_map(|(s, _)| s.rank()).chain(stage.rank()).max().map_or(-1, i64::from);
        let cell = Cell { form: form.to_owned(), day: created / DAY_MS, source, campaign, owner, variant, stage, furthest };
        let at = |stage: Stage| reached.iter().find(|(s, _)| *s == stage).map(|(_, at)| *at);
        let gaps = STAGES
            .windows(2)
            .filter_map(|pair| {
                let (before, stage) = (*pair.first()?, *pair.get(1)?);
                let (from, to) = (at(before)?, at(stage)?);
                (to >= from).then(|| Gap { stage, bucket: bucket(to - from), ms: to - from })
            })
            .collect();
        Share { cell, gaps }
    }
}

/// A range of whole days, `[first, end)` in days since the Unix epoch (either end open).
pub type Days = (Option<u64>, Option<u64>);

/// Histograms per group key and stage: `(bucket, count, total ms)` rows.
type Histograms = BTreeMap<(String, Stage), Vec<(u32, u64, u64)>>;

/// A period of creation times, `[from, to)` in Unix ms (either end open).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Period {
    /// The first ms, if bounded.
    pub from: Option<u64>,
    /// The first ms after it, if bounded.
    pub to: Option<u64>,
}

impl Period {
    /// Splits the period into the whole days the aggregates answer (`[first, end)` in days, either end
    /// open) and at most two partial days whose leads are read one by one (`[from, to)` in ms).
    pub fn split(self) -> (Days, Vec<(u64, u64)>) {
        let mut edges = Vec::new();
        let first = self.from.map(|f| f.div_ceil(DAY_MS));
        let end = self.to.map(|t| t / DAY_MS);
        match (first, end) {
            // Within one day (or empty): only the rows.
            (Some(first), Some(end)) if end < first => {
                if let (Some(f), Some(t)) = (self.from, self.to) {
                    if f < t {
                        edges.push((f, t));
                    }
                }
                return ((Some(0), Some(0)), edges);
            }
            _ => {}
        }
        if let (Some(f), Some(first)) = (self.from, first) {
            if f < first * DAY_MS {
                edges.push((f, first * DAY_MS));
            }
        }
        if let (Some(t), Some(end)) = (self.to, end) {
            if end * DAY_MS < t {
                edges.push((end * DAY_MS, t));
            }
        }
        ((first, end), edges)
    }
}

/// Sums of shares per group: what a funnel question reads from the aggregates (and from the rows of a
/// period's partial days), then turns into [`Group`]s. Sums from several ledgers add up. The ledger answers
/// a funnel question with these, and the Worker makes the groups.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "TallyRows", into = "TallyRows")]
pub struct Tallies {
    /// Leads per (group key, stage now, furthest rank).
    cells: BTreeMap<(Option<String>, Stage, i64), u64>,
    /// Gaps per (group key, later stage, bucket): how many, and their total ms.
    gaps: BTreeMap<(Option<String>, Stage, u32), (u64, u64)>,
}

impl Tallies {
    /// Adds `n` leads of one cell (`key` in the question's grouping).
    pub fn add_cell(&mut self, key: Option<String>, stage: Stage, furthest: i64, n: u64) {
        *self.cells.entry((key, stage, furthest)).or_insert(0) += n;
    }

    /// Adds `n` gaps of one bucket, `total_ms` long together.
    pub fn add_gaps(&mut self, key: Option<String>, stage: Stage, bucket: u32, n: u64, total_ms: u64) {
        let (count, total) = self.gaps.entry((key, stage, bucket)).or_insert((0, 0));
        *count += n;
        *total += total_ms;
    }

    /// Adds one lead's share.
    pub fn add_share(&mut self, share: &Share, by: By) {
        let key = share.cell.key(by);
        for gap in &share.gaps {
            self.add_gaps(key.clone(), gap.stage, gap.bucket, 1, gap.ms);
        }
        self.add_cell(key, share.cell.stage, share.cell.furthest, 1);
    }

    /// Adds one lead as a funnel row (its form and day do not matter to the sums).
    pub fn add_row(&mut self, row: &Row, n: u64) {
        let share = Share::new("", 0, [None, None, None, None], row.stage, &row.reached);
        for gap in &share.gaps {
            self.add_gaps(row.key.clone(), gap.stage, gap.bucket, n, gap.ms * n);
        }
        self.add_cell(row.key.clone(), row.stage, share.cell.furthest, n);
    }

    /// Adds another ledger's sums (a form's shards).
    pub fn merge(&mut self, other: Tallies) {
        for ((key, stage, furthest), n) in other.cells {
            self.add_cell(key, stage, furthest, n);
        }
        for ((key, stage, bucket), (n, total)) in other.gaps {
            self.add_gaps(key, stage, bucket, n, total);
        }
    }

    /// The groups, the largest first (by leads, then by key).
    pub fn groups(self) -> Vec<Group> {
        let mut keys: BTreeMap<String, Vec<(Stage, i64, u64)>> = BTreeMap::new();
        for ((key, stage, furthest), n) in self.cells {
            keys.entry(key.unwrap_or_else(|| NONE.to_owned())).or_default().push((stage, furthest, n));
        }
        let mut gaps: Histograms = BTreeMap::new();
        for ((key, stage, bucket), (n, total)) in self.gaps {
            gaps.entry((key.unwrap_or_else(|| NONE.to_owned()), stage)).or_default().push((bucket, n, total));
        }
        let mut out: Vec<Group> = keys.into_iter().map(|(key, cells)| group(key, &cells, &gaps)).collect();
        out.sort_by(|a, b| b.leads.cmp(&a.leads).then_with(|| a.key.cmp(&b.key)));
        out
    }
}

/// [`Tallies`] as they travel: lists of rows (JSON maps cannot have tuple keys).
#[derive(Serialize, Deserialize)]
struct TallyRows {
    cells: Vec<(Option<String>, Stage, i64, u64)>,
    gaps: Vec<(Option<String>, Stage, u32, u64, u64)>,
}

impl From<Tallies> for TallyRows {
    fn from(t: Tallies) -> TallyRows {
        TallyRows {
            cells: t.cells.into_iter().map(|((k, s, f), n)| (k, s, f, n)).collect(),
            gaps: t.gaps.into_iter().map(|((k, s, b), (n, ms))| (k, s, b, n, ms)).collect(),
        }
    }
}

impl From<TallyRows> for Tallies {
    fn from(rows: TallyRows) -> Tallies {
        let mut t = Tallies::default();
        for (key, stage, furthest, n) in rows.cells {
            t.add_cell(key, stage, furthest, n);
        }
        for (key, stage, bucket, n, ms) in rows.gaps {
            t.add_gaps(key, stage, bucket, n, ms);
        }
        t
    }
}

fn group(key: String, cells: &[(Stage, i64, u64)], gaps: &Histograms) -> Group {
    let sum = |pick: &dyn Fn(Stage, i64) -> bool| cells.iter().filter(|(s, f, _)| pick(*s, *f)).map(|(_, _, n)| n).sum::<u64>();
    let mut stages = Vec::with_capacity(STAGES.len());
    let mut previous: Option<u64> = None;
    for stage in STAGES {
        let rank = i64::from(stage.rank().unwrap_or(0));
        // The furthest stage each lead reached counts for every stage before it too (disqualification does
        // not undo what it reached before).
        let reached = sum(&|_, furthest| furthest >= rank);
        let now = sum(&|s, _| s == stage);
        let (conversion, median_days) = match previous {
            Some(reached_before) => {
                let conversion = (reached_before > 0).then(|| reached as f64 / reached_before as f64);
                let median = gaps.get(&(key.clone(), stage)).and_then(|h| median(h)).map(|ms| ms / DAY_MS as f64);
                (conversion, median)
            }
            None => (None, None),
        };
        stages.push(StageCount { stage: stage.as_str().to_owned(), reached, now, conversion, median_days });
        previous = Some(reached);
    }
    let disqualified = sum(&|s, _| s == Stage::Disqualified);
    let leads = cells.iter().map(|(_, _, n)| n).sum();
    Group { key, leads, stages, disqualified }
}

/// The median of a histogram (`(bucket, count, total ms)`, any order), each value taken as its bucket's
/// mean (the mean of the middle two for an even count); `None` when empty.
fn median(histogram: &[(u32, u64, u64)]) -> Option<f64> {
    let mut buckets: Vec<(u32, u64, u64)> = histogram.iter().copied().filter(|(_, n, _)| *n > 0).collect();
    buckets.sort_by_key(|(b, _, _)| *b);
    let n: u64 = buckets.iter().map(|(_, n, _)| n).sum();
    let at = |index: u64| -> Option<f64> {
        let mut seen = 0;
        for (_, count, total) in &buckets {
            seen += count;
            if index < seen {
                return Some(*total as f64 / *count as f64);
            }
        }
        None
    };
    match n {
        0 => None,
        _ if n % 2 == 1 => at(n / 2),
        _ => Some((at(n / 2 - 1)? + at(n / 2)?) / 2.0),
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
        assert_eq!(median(&[(3, 1, 3), (1, 1, 1)]), Some(2.0));
        assert_eq!(aggregate(&[Row { key: None, stage: Lead, reached: vec![] }])[0].key, NONE);
    }

    #[test]
    fn a_period_splits_into_whole_days_and_partial_edges() {
        let d = DAY;
        assert_eq!(Period::default().split(), ((None, None), vec![]));
        assert_eq!(Period { from: Some(2 * d), to: Some(5 * d) }.split(), ((Some(2), Some(5)), vec![]));
        assert_eq!(Period { from: Some(2 * d + 7), to: Some(5 * d + 9) }.split(), ((Some(3), Some(5)), vec![(2 * d + 7, 3 * d), (5 * d, 5 * d + 9)]));
        assert_eq!(Period { from: Some(2 * d + 7), to: Some(2 * d + 9) }.split(), ((Some(0), Some(0)), vec![(2 * d + 7, 2 * d + 9)]), "within a day");
        assert_eq!(Period { from: Some(2 * d + 7), to: None }.split(), ((Some(3), None), vec![(2 * d + 7, 3 * d)]));
        assert_eq!(Period { from: Some(9), to: Some(3) }.split(), ((Some(0), Some(0)), vec![]), "an empty period");
    }

    #[test]
    fn medians_are_within_a_bucket_of_the_exact_ones_and_tallies_add_up() {
        use Stage::*;
        const HOUR: u64 = 3_600_000;
        // Lead -> MQL after 1.2 h, 1.7 h (one hourly bucket) and 30 h: the exact median is 1.7 h.
        let rows: Vec<Row> = [12, 17, 300].iter().map(|tenths| row("ads", Mql, &[(Lead, 0), (Mql, tenths * HOUR / 10)])).collect();
        let median = aggregate(&rows)[0].stages[2].median_days.unwrap() * DAY as f64;
        assert!((median - 1.7 * HOUR as f64).abs() < HOUR as f64, "{}", median / HOUR as f64);
        assert_eq!(median, 1.45 * HOUR as f64, "the bucket's mean");
        // Beyond two days a bucket is a day wide.
        assert_eq!((bucket(47 * HOUR), bucket(48 * HOUR), bucket(3 * DAY - 1), bucket(3 * DAY)), (47, 48, 48, 49));
        // Tallies of two ledgers add up to the tallies of all the rows.
        let (mut one, mut two, mut all) = (Tallies::default(), Tallies::default(), Tallies::default());
        for (i, r) in rows.iter().enumerate() {
            if i % 2 == 0 {
                one.add_row(r, 1)
            } else {
                two.add_row(r, 1)
            }
            all.add_row(r, 1);
        }
        one.merge(two);
        assert_eq!(one, all);
        let wire = serde_json::to_string(&all).unwrap();
        assert_eq!(serde_json::from_str::<Tallies>(&wire).unwrap(), all, "{wire}");
    }
}
