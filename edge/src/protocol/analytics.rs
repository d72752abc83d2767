//! Form analytics, pure: what a page view adds to a form's counts ([`Key`]s with signed counts), how the
//! collector sums them in its isolate before it writes them ([`Buffer`]), and the report an owner reads
//! ([`Report`]), joined with the lead funnel.
//!
//! Page views are far more numerous than leads, so none of them is a write of its own. The collector adds
//! each report to its isolate's [`Buffer`] and writes the sums to the form's views object (`shard::Home::Views`)
//! once per flush window ([`FLUSH_MS`]): the writes grow with forms, isolates and time, not with views.
//! What a buffer holds when its isolate is stopped is lost (the runtime keeps an isolate alive while a
//! flush it scheduled waits, so that is rare), which makes the counts a lower bound; `cargo xtask bench`
//! measures the writes per 1,000 views.
//!
//! A page view's report is its state, sent as the change since its last report: a visitor who leaves the
//! tab after typing counts as an abandon at the last field, and if they come back and send the form, the
//! next report takes the abandon back (`-1`) and adds the submission. Counts are therefore signed until
//! they are read; a sum below zero (a report lost between two) reads as zero.

use crate::protocol::funnel::{Group, NONE};
pub use crate::rules::beacon::{Key, Kind};
use serde::{Deserialize, Serialize};
use shared::stage::Stage;
use std::collections::BTreeMap;

/// A day in ms.
pub const DAY_MS: u64 = 86_400_000;

/// How long the collector sums reports before writing them, unless `LEADGATE_FLUSH_MS` says otherwise.
pub const FLUSH_MS: u64 = 10_000;

/// The most distinct keys an isolate sums before it folds the sources and campaigns of further ones into
/// [`OTHER`]: campaign tags come from URLs anyone can make, and a buffer must not grow with them.
pub const MAX_KEYS: usize = 2_000;

/// The source and campaign of counts folded because an isolate had too many keys.
pub const OTHER: &str = "(other)";

/// A visitor of a form that counts unique visitors: the day, a digest of the form, the pseudonymous
/// client and the user agent (not yet salted: the views object salts it with the day's salt), and the tags
/// of the page view it was first seen on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Visit {
    /// Days since the Unix epoch (UTC).
    pub day: u64,
    /// The unsalted digest.
    pub digest: String,
    /// `utm_source`; empty for none.
    pub source: String,
    /// `utm_campaign`; empty for none.
    pub campaign: String,
}

/// One form's sums of a flush window: what one write to its views object adds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    /// The form.
    pub form: String,
    /// Each key's sum (never zero).
    pub counts: Vec<(Key, i64)>,
    /// The visitors seen, each once.
    pub visits: Vec<Visit>,
}

/// What an isolate has summed since its last write: one batch per form.
///
/// Plain vectors searched from the start rather than maps: a window's keys are a few hundred at most
/// ([`MAX_KEYS`] caps them), a search is microseconds, and a map's code for these key types would cost
/// the collector's bundle, which every visitor's first request may wait for, some 20 KB.
#[derive(Debug, Default)]
pub struct Buffer {
    batches: Vec<Batch>,
    keys: usize,
    scheduled: bool,
}

impl Buffer {
    /// The batch of `form`, made when it has none yet (always there; an `Option` only because the
    /// collector's code must not index).
    fn batch(&mut self, form: &str) -> Option<&mut Batch> {
        if !self.batches.iter().any(|b| b.form == form) {
            self.batches.push(Batch { form: form.to_owned(), counts: Vec::new(), visits: Vec::new() });
        }
        self.batches.iter_mut().find(|b| b.form == form)
    }

    /// Adds `n` (which may be negative) to `key`'s sum for `form`.
    pub fn add(&mut self, form: &str, mut key: Key, n: i64) {
        if n == 0 {
            return;
        }
        let full = self.keys >= MAX_KEYS;
        let Some(batch) = self.batch(form) else { return };
        if full && !batch.counts.iter().any(|(k, _)| *k == key) {
            OTHER.clone_into(&mut key.source);
            OTHER.clone_into(&mut key.campaign);
        }
        match batch.counts.iter_mut().find(|(k, _)| *k == key) {
            Some((_, sum)) => *sum += n,
            None => {
                batch.counts.push((key, n));
                self.keys += 1;
            }
        }
    }

    /// Notes a visitor of `form` (the first page view of the day decides its tags).
    pub fn visit(&mut self, form: &str, visit: Visit) {
        let Some(batch) = self.batch(form) else { return };
        if batch.visits.len() < MAX_KEYS && !batch.visits.iter().any(|v| v.day == visit.day && v.digest == visit.digest) {
            batch.visits.push(visit);
        }
    }

    /// Whether a write must be scheduled now: something is summed and no write is waiting yet. Once this
    /// says yes, it says no until [`Buffer::take`].
    pub fn schedule(&mut self) -> bool {
        if self.scheduled || self.batches.is_empty() {
            return false;
        }
        self.scheduled = true;
        true
    }

    /// Lets the next report schedule a write (the one scheduled gave up with sums left).
    pub fn unschedule(&mut self) {
        self.scheduled = false;
    }

    /// Everything summed, one batch per form (sums that came to zero left out), and an empty buffer.
    pub fn take(&mut self) -> Vec<Batch> {
        let mut batches = std::mem::take(&mut self.batches);
        self.keys = 0;
        self.scheduled = false;
        for b in &mut batches {
            b.counts.retain(|(_, n)| *n != 0);
        }
        batches.retain(|b| !b.counts.is_empty() || !b.visits.is_empty());
        batches
    }

    /// Puts a batch whose write failed back, to be written with the next.
    pub fn put_back(&mut self, batch: Batch) {
        for (key, n) in batch.counts {
            self.add(&batch.form, key, n);
        }
        for visit in batch.visits {
            self.visit(&batch.form, visit);
        }
    }
}

/// A visitor's digest salted with its day's salt: what the views object keeps, for that day only. Without
/// the salt, which is random and replaced each day, the stored value cannot be tied to a client, and two
/// days' values of one client cannot be tied to each other.
pub fn salted(salt: &[u8], digest: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(salt);
    h.update(digest.as_bytes());
    crate::rules::digest::hex(&h.finalize())
}

/// How a report is grouped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum By {
    /// By `utm_source`.
    Source,
    /// By `utm_campaign`.
    Campaign,
    /// By day (UTC).
    Day,
    /// By the variant of the form's texts a page view showed (an A/B test), each compared with the first.
    Variant,
}

impl By {
    /// The grouping named `s`.
    pub fn parse(s: &str) -> Option<By> {
        match s {
            "source" => Some(By::Source),
            "campaign" => Some(By::Campaign),
            "day" => Some(By::Day),
            "variant" => Some(By::Variant),
            _ => None,
        }
    }

    /// The same grouping of the lead funnel.
    pub fn funnel(self) -> crate::protocol::funnel::By {
        match self {
            By::Source => crate::protocol::funnel::By::Source,
            By::Campaign => crate::protocol::funnel::By::Campaign,
            By::Day => crate::protocol::funnel::By::Day,
            By::Variant => crate::protocol::funnel::By::Variant,
        }
    }
}

/// The sums of a form's counts over a period, per group key (the source, the campaign, or the day as a
/// number; `None` for none), kind, field and code. Sums of several objects add up.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "SumRows", into = "SumRows")]
pub struct Sums {
    sums: BTreeMap<(Option<String>, Kind, String, String), i64>,
}

type SumRows = Vec<(Option<String>, Kind, String, String, i64)>;

impl From<SumRows> for Sums {
    fn from(rows: SumRows) -> Sums {
        let mut s = Sums::default();
        for (key, kind, field, code, n) in rows {
            s.add(key, kind, &field, &code, n);
        }
        s
    }
}

impl From<Sums> for SumRows {
    fn from(s: Sums) -> SumRows {
        s.sums.into_iter().map(|((key, kind, field, code), n)| (key, kind, field, code, n)).collect()
    }
}

impl Sums {
    /// Adds `n` to a group's count.
    pub fn add(&mut self, key: Option<String>, kind: Kind, field: &str, code: &str, n: i64) {
        *self.sums.entry((key.filter(|k| !k.is_empty()), kind, field.to_owned(), code.to_owned())).or_insert(0) += n;
    }
}

/// One line of a report: a group's numbers, or the whole form's.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Line {
    /// The group (`(none)` for page views without one); `total` for the whole form.
    pub key: String,
    /// Embed script requests; unknown (`null`) per source or campaign (the script's request has no tags).
    pub loads: Option<u64>,
    /// Page views in which the form was at least half in view.
    pub views: u64,
    /// Unique visitors (per day, summed over days); `null` when the form does not count them.
    pub visitors: Option<u64>,
    /// Page views in which a control was used.
    pub starts: u64,
    /// Submissions the collector accepted from the widget.
    pub submissions: u64,
    /// Page views left after a start without a submission.
    pub abandons: u64,
    /// Starts per view.
    pub start_rate: Option<f64>,
    /// Submissions per view.
    pub conversion_rate: Option<f64>,
    /// Submissions per start.
    pub completion_rate: Option<f64>,
    /// Problems shown, per field and code, the most frequent first.
    pub errors: Vec<FieldError>,
    /// Abandons per last field touched, the most frequent first.
    pub dropoff: Vec<Dropoff>,
    /// From views to customers: views, then the leads created in the period and how many of them reached
    /// each stage from MQL on (`funnel::Group`).
    pub funnel: Vec<Step>,
    /// By variant: this variant's conversion against the control's (the form's first variant); none for
    /// the control itself and for other groupings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versus: Option<Versus>,
}

/// A variant's conversion (submissions per view) compared with the control's by a two-proportion z-test.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Versus {
    /// The control: the form's first variant.
    pub control: String,
    /// This variant's conversion rate less the control's (0.03: three percentage points more).
    pub difference: f64,
    /// The z statistic of the difference (pooled standard error); none while either has no views.
    pub z: Option<f64>,
    /// How sure the difference is not chance: 1 less the two-sided p-value (0.95 and above is what
    /// people usually call significant); none while either has no views.
    pub confidence: Option<f64>,
}

/// Compares `x` successes in `n` trials with the control's `x0` in `n0`: the difference of the rates, the
/// z statistic and the two-sided confidence (`1 - p`). Both rates 0 or both 1 show no difference at all:
/// z 0, confidence 0.
pub fn two_proportion(x: u64, n: u64, x0: u64, n0: u64) -> (f64, Option<f64>, Option<f64>) {
    let rate = |x: u64, n: u64| if n == 0 { 0.0 } else { x as f64 / n as f64 };
    let difference = rate(x, n) - rate(x0, n0);
    if n == 0 || n0 == 0 {
        return (difference, None, None);
    }
    let pooled = (x + x0) as f64 / (n + n0) as f64;
    let se = (pooled * (1.0 - pooled) * (1.0 / n as f64 + 1.0 / n0 as f64)).sqrt();
    if se == 0.0 {
        return (difference, Some(0.0), Some(0.0));
    }
    let z = difference / se;
    (difference, Some(z), Some(erf(z.abs() / std::f64::consts::SQRT_2)))
}

/// The error function, by Abramowitz and Stegun's formula 7.1.26 (absolute error below 1.5e-7): the
/// normal distribution's `P(|Z| < z)` is `erf(z / sqrt 2)`.
fn erf(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
    let poly = ((((1.061_405_429 * t - 1.453_152_027) * t + 1.421_413_741) * t - 0.284_496_736) * t + 0.254_829_592) * t;
    (1.0 - poly * (-x * x).exp()).copysign(x)
}

/// How often a problem was shown under a field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// The field (a consent box: `consent.<purpose>`).
    pub field: String,
    /// The problem's code.
    pub code: String,
    /// How often.
    pub count: u64,
}

/// How many page views were left at a field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dropoff {
    /// The last field touched.
    pub field: String,
    /// How many.
    pub count: u64,
}

/// One step of the funnel from views to customers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// `views`, `leads`, `mql`, `sql`, `opportunity` or `customer`.
    pub step: String,
    /// How many.
    pub count: u64,
}

/// The plain HTML form's numbers: it runs no script, so its views are unknown, never zero.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Plain {
    /// Submissions the collector accepted from it.
    pub submissions: u64,
    /// Always `null`.
    pub views: Option<u64>,
}

/// What `GET /v1/admin/forms/<id>/analytics` answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The form.
    pub form: String,
    /// The grouping.
    pub by: By,
    /// Whether the form counts unique visitors.
    pub counts_visitors: bool,
    /// The whole form.
    pub total: Line,
    /// Per group, the most viewed first (then by leads, then by key).
    pub groups: Vec<Line>,
    /// The plain HTML form.
    pub plain_form: Plain,
}

/// The stages the funnel shows after leads.
const LATER: [Stage; 4] = [Stage::Mql, Stage::Sql, Stage::Opportunity, Stage::Customer];

/// Joins a form's sums with its lead funnel (grouped the same way) into the report. By variant, `variants`
/// (the form's, in order) are listed first, even without page views, and each is compared with the first.
pub fn report(form: &str, by: By, counts_visitors: bool, variants: &[&str], sums: &Sums, funnel: &[Group]) -> Report {
    // The views object counts no visitors per variant.
    let counts_visitors = counts_visitors && by != By::Variant;
    let mut keys: BTreeMap<String, ()> = BTreeMap::new();
    if by == By::Variant {
        keys.extend(variants.iter().map(|v| ((*v).to_owned(), ())));
    }
    for (key, kind, _, _) in sums.sums.keys() {
        if *kind != Kind::Load || by == By::Day {
            keys.insert(label(by, key.as_deref()), ());
        }
    }
    for g in funnel {
        keys.insert(if g.key == NONE { NONE.to_owned() } else { label(by, Some(&g.key)) }, ());
    }
    let find = |key: &str| funnel.iter().find(|g| (if g.key == NONE { NONE.to_owned() } else { label(by, Some(&g.key)) }) == key);
    let mut groups: Vec<Line> = keys
        .into_keys()
        .map(|key| {
            let sum =
                sums.sums.iter().filter(|((k, _, _, _), _)| label(by, k.as_deref()) == key).map(|((_, kind, f, c), n)| (*kind, f.as_str(), c.as_str(), *n));
            let leads = find(&key).map(|g| vec![g]).unwrap_or_default();
            line(key.clone(), sum.collect(), &leads, by == By::Day, counts_visitors)
        })
        .collect();
    groups.sort_by(|a, b| b.views.cmp(&a.views).then_with(|| funnel_leads(b).cmp(&funnel_leads(a))).then_with(|| a.key.cmp(&b.key)));
    if by == By::Variant {
        // The test's variants in the form's order (the control first), then any the form no longer has.
        let rank = |key: &str| variants.iter().position(|v| *v == key).unwrap_or(variants.len());
        groups.sort_by_key(|g| rank(&g.key));
        let control = groups.iter().find(|g| variants.first() == Some(&g.key.as_str())).map(|g| (g.key.clone(), g.submissions, g.views));
        if let Some((name, x0, n0)) = control {
            for g in groups.iter_mut().filter(|g| g.key != name && g.key != NONE) {
                let (difference, z, confidence) = two_proportion(g.submissions, g.views, x0, n0);
                g.versus = Some(Versus { control: name.clone(), difference, z, confidence });
            }
        }
    }
    let all: Vec<(Kind, &str, &str, i64)> = sums.sums.iter().map(|((_, kind, f, c), n)| (*kind, f.as_str(), c.as_str(), *n)).collect();
    let posted = all.iter().filter(|(k, ..)| *k == Kind::Posted).map(|(.., n)| *n).sum::<i64>();
    let funnel_refs: Vec<&Group> = funnel.iter().collect();
    Report {
        form: form.to_owned(),
        by,
        counts_visitors,
        total: line("total".to_owned(), all, &funnel_refs, true, counts_visitors),
        groups,
        plain_form: Plain { submissions: u64::try_from(posted).unwrap_or(0), views: None },
    }
}

fn funnel_leads(line: &Line) -> u64 {
    line.funnel.get(1).map_or(0, |s| s.count)
}

/// A day (days since the Unix epoch) as `YYYY-MM-DD`.
pub fn date(day: u64) -> String {
    shared::time::rfc3339(day * DAY_MS).chars().take(10).collect()
}

/// A group key as the report shows it: a day as `YYYY-MM-DD`, none as `(none)`.
fn label(by: By, key: Option<&str>) -> String {
    match (by, key) {
        (_, None) => NONE.to_owned(),
        (By::Day, Some(day)) => day.parse::<u64>().map_or_else(|_| day.to_owned(), date),
        (_, Some(key)) => key.to_owned(),
    }
}

/// A problem's name (`invalid_email`) from the number a count keeps (see `rules::beacon`).
fn code_name(number: &str) -> String {
    let code = number.parse::<u8>().ok().and_then(shared::Code::numbered);
    code.and_then(|c| serde_json::to_value(c).ok()).and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_else(|| number.to_owned())
}

/// One line from its sums (kind, field, code, n) and its funnel groups.
fn line(key: String, sums: Vec<(Kind, &str, &str, i64)>, leads: &[&Group], loads_known: bool, counts_visitors: bool) -> Line {
    let total = |kind: Kind| u64::try_from(sums.iter().filter(|(k, ..)| *k == kind).map(|(.., n)| *n).sum::<i64>()).unwrap_or(0);
    let (views, starts, submissions) = (total(Kind::View), total(Kind::Start), total(Kind::Submit));
    let rate = |a: u64, b: u64| (b > 0).then(|| a as f64 / b as f64);
    let mut errors: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut dropoff: BTreeMap<String, i64> = BTreeMap::new();
    for (kind, field, code, n) in &sums {
        match kind {
            Kind::Error => *errors.entry(((*field).to_owned(), code_name(code))).or_insert(0) += n,
            Kind::Abandon => *dropoff.entry((*field).to_owned()).or_insert(0) += n,
            _ => {}
        }
    }
    let mut errors: Vec<FieldError> =
        errors.into_iter().filter_map(|((field, code), n)| Some(FieldError { field, code, count: u64::try_from(n).ok().filter(|n| *n > 0)? })).collect();
    errors.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.field.cmp(&b.field)));
    let mut dropoff: Vec<Dropoff> =
        dropoff.into_iter().filter_map(|(field, n)| Some(Dropoff { field, count: u64::try_from(n).ok().filter(|n| *n > 0)? })).collect();
    dropoff.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.field.cmp(&b.field)));
    let reached = |stage: Stage| leads.iter().flat_map(|g| &g.stages).filter(|s| s.stage == stage.as_str()).map(|s| s.reached).sum::<u64>();
    let mut funnel = vec![Step { step: "views".into(), count: views }, Step { step: "leads".into(), count: leads.iter().map(|g| g.leads).sum() }];
    funnel.extend(LATER.iter().map(|s| Step { step: s.as_str().to_owned(), count: reached(*s) }));
    Line {
        key,
        loads: loads_known.then(|| total(Kind::Load)),
        views,
        visitors: counts_visitors.then(|| total(Kind::Visitor)),
        starts,
        submissions,
        abandons: dropoff.iter().map(|d| d.count).sum(),
        start_rate: rate(starts, views),
        conversion_rate: rate(submissions, views),
        completion_rate: rate(submissions, starts),
        errors,
        dropoff,
        funnel,
        versus: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_two_proportion_test_matches_the_textbook() {
        // 20% of 1,000 against 25% of 1,000: z = 0.05 / sqrt(0.225 * 0.775 * 0.002) = 2.677, p = 0.0074.
        let (d, z, c) = two_proportion(250, 1000, 200, 1000);
        assert!((d - 0.05).abs() < 1e-12);
        assert!((z.unwrap() - 2.6774).abs() < 1e-3, "{z:?}");
        assert!((c.unwrap() - 0.99258).abs() < 1e-4, "{c:?}");
        let (_, z, c) = two_proportion(200, 1000, 250, 1000);
        assert!(z.unwrap() < 0.0 && (c.unwrap() - 0.99258).abs() < 1e-4, "a worse variant is as sure, with a negative z");
        assert!((erf(1.959_964 / std::f64::consts::SQRT_2) - 0.95).abs() < 1e-6, "z = 1.96 is 95%");
        assert_eq!(two_proportion(3, 10, 1, 0), (0.3, None, None), "no views, no test");
        assert_eq!(two_proportion(0, 10, 0, 20), (0.0, Some(0.0), Some(0.0)), "nobody converted anywhere: no difference");
    }
}
