//! Speed to lead, pure: from leads' assignments, agreements and first touches, per owner, form or source,
//! how many minutes of working time passed until the first touch (median and 90th percentile), the share
//! of agreements kept, and the breaches.
//!
//! The clock starts when the lead got its first owner (or was stored, if nobody ever had it) and counts the
//! working time of its form's agreement (`assign.hours`), every minute without one. A lead counts for its
//! current owner; a breach counts for the owner who let it pass.

use serde::Serialize;
use shared::form::FormsConfig;
use shared::lead::Lead;
use shared::time::parse;
use std::collections::BTreeMap;

/// What the numbers are grouped by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum By {
    /// The lead's owner (`none`: unassigned).
    Owner,
    /// The lead's form.
    Form,
    /// Where it came from: `utm_source`, else the referrer's host, else `direct`.
    Source,
}

impl By {
    /// Reads `owner`, `form` or `source`.
    pub fn parse(s: &str) -> Option<By> {
        match s {
            "owner" => Some(By::Owner),
            "form" => Some(By::Form),
            "source" => Some(By::Source),
            _ => None,
        }
    }
}

/// One group's numbers.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Line {
    /// The group: an owner's id, a form's id, a source.
    pub key: String,
    /// Leads with an owner or a first touch.
    pub leads: u64,
    /// Of these, touched.
    pub touched: u64,
    /// Minutes of working time to the first touch: the median, over the touched leads.
    pub median_minutes: Option<f64>,
    /// The 90th percentile (nearest rank).
    pub p90_minutes: Option<f64>,
    /// Leads under an agreement whose outcome is known (touched, or breached).
    pub agreed: u64,
    /// The share of those touched within their agreement.
    pub within_share: Option<f64>,
    /// Agreements broken (a lead can break several, one per owner who let it pass).
    pub breaches: u64,
    /// Leads under an agreement still running.
    pub running: u64,
}

fn source_of(lead: &Lead) -> String {
    if let Some(source) = lead.source.utm.get("utm_source").filter(|s| !s.is_empty()) {
        return source.clone();
    }
    lead.source
        .referrer
        .as_deref()
        .and_then(crate::rules::address::origin_of)
        .map_or_else(|| "direct".to_owned(), |o| o.split("://").nth(1).unwrap_or(&o).to_owned())
}

/// The line of `key`, made when first asked for.
fn line<'a>(lines: &'a mut BTreeMap<String, Line>, key: &str) -> &'a mut Line {
    lines.entry(key.to_owned()).or_insert_with(|| Line { key: key.to_owned(), ..Line::default() })
}

/// The nearest-rank percentile `p` (0..=100) of sorted `values`.
fn percentile(sorted: &[f64], p: usize) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let rank = (p * n).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

/// The numbers of `leads` at `now_ms`, grouped `by`, busiest group first.
pub fn report(config: &FormsConfig, leads: &[Lead], by: By, now_ms: u64) -> Vec<Line> {
    let mut minutes: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut kept: BTreeMap<String, u64> = BTreeMap::new();
    let mut lines: BTreeMap<String, Line> = BTreeMap::new();
    for lead in leads.iter().filter(|l| l.owner.is_some() || l.first_touch.is_some() || l.sla.is_some()) {
        let key = match by {
            By::Owner => lead.owner.clone().unwrap_or_else(|| "none".into()),
            By::Form => lead.form.clone(),
            By::Source => source_of(lead),
        };
        let hours = config.form(&lead.form).and_then(|f| f.assign.as_ref()).and_then(|a| a.hours.as_ref());
        let start = lead.assignments.first().and_then(|a| parse(&a.at)).or_else(|| parse(&lead.created_at)).unwrap_or(now_ms);
        let touched_at = lead.first_touch.as_ref().and_then(|t| parse(&t.at));
        // Breaches: each escalation recorded (`by = "sla"`) and an agreement found broken that nobody took over.
        let escalated: Vec<&str> = lead.assignments.iter().filter(|a| a.by == "sla").filter_map(|a| a.from.as_deref()).collect();
        let unpassed = lead.sla.as_ref().filter(|s| s.breached.is_some()).map(|s| s.owner.as_str());
        let this = line(&mut lines, &key);
        this.leads += 1;
        if let Some(at) = touched_at {
            this.touched += 1;
            minutes.entry(key.clone()).or_default().push(shared::hours::working_ms(hours, start, at) as f64 / 60_000.0);
        }
        if by != By::Owner {
            this.breaches += (escalated.len() + usize::from(unpassed.is_some())) as u64;
        }
        if let Some(sla) = &lead.sla {
            let broken = !escalated.is_empty() || sla.breached.is_some();
            match (touched_at, broken) {
                (None, false) => this.running += 1,
                (touched, broken) => {
                    this.agreed += 1;
                    let in_time = !broken && touched.zip(parse(&sla.due)).is_some_and(|(at, due)| at <= due);
                    *kept.entry(key.clone()).or_default() += u64::from(in_time);
                }
            }
        }
        if by == By::Owner {
            for owner in escalated.into_iter().chain(unpassed) {
                line(&mut lines, owner).breaches += 1;
            }
        }
    }
    let mut out: Vec<Line> = lines
        .into_values()
        .map(|mut l| {
            let mut m = minutes.remove(&l.key).unwrap_or_default();
            m.sort_by(f64::total_cmp);
            l.median_minutes = percentile(&m, 50).map(|v| (v * 10.0).round() / 10.0);
            l.p90_minutes = percentile(&m, 90).map(|v| (v * 10.0).round() / 10.0);
            let in_time = kept.get(&l.key).copied().unwrap_or(0);
            l.within_share = (l.agreed > 0).then(|| ((in_time as f64 / l.agreed as f64) * 1000.0).round() / 1000.0);
            l
        })
        .collect();
    out.sort_by(|a, b| b.leads.cmp(&a.leads).then_with(|| a.key.cmp(&b.key)));
    out
}
