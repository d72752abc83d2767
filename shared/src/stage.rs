//! The lifecycle of a lead: the stages it moves through, who may move it where, and what a business calls a
//! lead in the first place ("Das ist ein Lead, weil ...").
//!
//! Stages follow the funnel of the seed articles: a `subscriber` has left an address; a `lead` is someone
//! the business defines as one; an `mql` (marketing-qualified) is known well enough by fit and behaviour;
//! an `sql` (sales-qualified) has spoken with sales, who know the problem and budget; an `opportunity` has
//! an offer; a `customer` bought. `disqualified` leaves the funnel, always with a reason. Automatic moves
//! (the score's rule) only go forward, as in HubSpot's lifecycle stages; people and CRM feedback may move a
//! lead any way, always with a reason. Every move is recorded.

use alloc::{borrow::ToOwned, format, string::String, vec::Vec};

use crate::kind::{FormKind, Mode};
use alloc::collections::BTreeMap;
use serde::{Deserialize, Serialize};

/// Where a lead stands in the funnel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Left an address (a newsletter sign-up, a prize-seeker); not (yet) a lead by the form's definition.
    Subscriber,
    /// A lead by the form's definition.
    #[default]
    Lead,
    /// Marketing-qualified: fit and behaviour reached the form's threshold.
    Mql,
    /// Sales-qualified: sales has spoken with them and knows the problem and budget.
    Sql,
    /// An offer is out.
    Opportunity,
    /// Bought.
    Customer,
    /// Out of the funnel (a competitor, a student, a prize-seeker, no budget): always with a reason.
    Disqualified,
}

impl Stage {
    /// Every stage, in funnel order (`disqualified` last).
    pub const ALL: [Stage; 7] = [Stage::Subscriber, Stage::Lead, Stage::Mql, Stage::Sql, Stage::Opportunity, Stage::Customer, Stage::Disqualified];

    /// The stage's name on the wire and in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Subscriber => "subscriber",
            Stage::Lead => "lead",
            Stage::Mql => "mql",
            Stage::Sql => "sql",
            Stage::Opportunity => "opportunity",
            Stage::Customer => "customer",
            Stage::Disqualified => "disqualified",
        }
    }

    /// The stage named `s`.
    pub fn parse(s: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// The position in the funnel; `None` for `disqualified`, which is off it.
    pub fn rank(self) -> Option<u8> {
        match self {
            Stage::Subscriber => Some(0),
            Stage::Lead => Some(1),
            Stage::Mql => Some(2),
            Stage::Sql => Some(3),
            Stage::Opportunity => Some(4),
            Stage::Customer => Some(5),
            Stage::Disqualified => None,
        }
    }
}

/// Who moves a lead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mover<'a> {
    /// The collector's own rules (the lead definition, the MQL threshold).
    Rule,
    /// A person, through the admin API or page.
    Admin,
    /// A CRM or mail tool, through its feedback endpoint (named by its id in the config).
    Endpoint(&'a str),
}

impl Mover<'_> {
    /// How the move is recorded: `rule`, `admin`, or the endpoint's id.
    pub fn name(&self) -> String {
        match self {
            Mover::Rule => "rule".to_owned(),
            Mover::Admin => "admin".to_owned(),
            Mover::Endpoint(id) => (*id).to_owned(),
        }
    }
}

/// One recorded move.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// The stage before (none for the first stage a lead gets).
    pub from: Option<Stage>,
    /// The stage after.
    pub to: Stage,
    /// When (RFC 3339).
    pub at: String,
    /// `rule`, `admin`, or the feedback endpoint's id.
    pub by: String,
    /// Why, in words a person can check.
    pub reason: String,
}

/// Why a move is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The lead is already there.
    Unchanged,
    /// Rules only move forward in the funnel, and never into or out of `disqualified`.
    Backward,
    /// People and CRMs must say why (1 to 500 characters).
    NoReason,
}

/// The longest reason a move may carry, in characters.
pub const MAX_REASON: usize = 500;

/// Whether `by` may move a lead from `from` to `to` with `reason`.
pub fn check(from: Stage, to: Stage, by: &Mover<'_>, reason: &str) -> Result<(), Refusal> {
    if from == to {
        return Err(Refusal::Unchanged);
    }
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON {
        return Err(Refusal::NoReason);
    }
    match (by, from.rank(), to.rank()) {
        (Mover::Rule, Some(a), Some(b)) if b > a => Ok(()),
        (Mover::Rule, _, _) => Err(Refusal::Backward),
        _ => Ok(()),
    }
}

/// Moves a lead's stage if `check` allows it, recording the change in `history`. Returns the change.
pub fn advance(stage: &mut Stage, history: &mut Vec<Change>, to: Stage, by: &Mover<'_>, reason: &str, at: &str) -> Result<Change, Refusal> {
    check(*stage, to, by, reason)?;
    let change = Change { from: Some(*stage), to, at: at.to_owned(), by: by.name(), reason: reason.trim().to_owned() };
    *stage = to;
    history.push(change.clone());
    Ok(change)
}

/// What a form calls a lead (`[forms.lead_definition]`): a submission that meets it starts as `lead`,
/// any other as `subscriber`. Without the table, [`default_definition`] applies.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeadDefinition {
    /// "Das ist ein Lead, weil ...": the business's own reason, recorded in the history of every lead it
    /// makes.
    #[serde(default)]
    pub because: Option<String>,
    /// Fields that must all be filled (for example `company`).
    #[serde(default)]
    pub requires: Vec<String>,
    /// Fit points the submission must reach (company, role, budget, timeframe; see `score`).
    #[serde(default)]
    pub min_fit: Option<i32>,
}

/// The definition a form has when its config says nothing, by kind and mode:
/// - a newsletter sign-up is a `subscriber` (an address, not yet an interest);
/// - a download-gate submission is a `lead` for consumers, and for businesses when it names a company;
/// - a giveaway entry is a `subscriber` for consumers (prize-seekers), and for businesses a `lead` only
///   with a company.
pub fn default_definition(kind: FormKind, mode: Mode) -> Option<LeadDefinition> {
    let company = || LeadDefinition { because: None, requires: ["company".to_owned()].into(), min_fit: None };
    match (kind, mode) {
        (FormKind::Newsletter, _) | (FormKind::Giveaway, Mode::B2c) => None,
        (FormKind::DownloadGate, Mode::B2c) => Some(LeadDefinition::default()),
        (FormKind::DownloadGate, Mode::B2b) | (FormKind::Giveaway, Mode::B2b) => Some(company()),
    }
}

/// The stage a first submission starts at, and the reason recorded for it. `definition` is the form's
/// own (`None` for the defaults); `fit` its fit points.
pub fn first_stage(definition: Option<&LeadDefinition>, kind: FormKind, mode: Mode, fields: &BTreeMap<String, String>, fit: i32) -> (Stage, String) {
    let default;
    let definition = match definition {
        Some(d) => Some(d),
        None => {
            default = default_definition(kind, mode);
            default.as_ref()
        }
    };
    let Some(d) = definition else {
        return (Stage::Subscriber, format!("a {} sign-up is a subscriber until the form's lead definition says otherwise", kind_name(kind)));
    };
    let missing: Vec<&str> = d.requires.iter().filter(|f| fields.get(*f).is_none_or(|v| v.trim().is_empty())).map(String::as_str).collect();
    if let Some(first) = missing.first() {
        return (Stage::Subscriber, format!("not a lead: {first} is missing"));
    }
    if let Some(min) = d.min_fit.filter(|min| fit < *min) {
        return (Stage::Subscriber, format!("not a lead: fit {fit} is under {min}"));
    }
    let why = match &d.because {
        Some(b) if !b.trim().is_empty() => b.trim().to_owned(),
        _ if d.requires.is_empty() => format!("every {} submission is a lead", kind_name(kind)),
        _ => format!("a lead: {} given", d.requires.join(", ")),
    };
    (Stage::Lead, why)
}

fn kind_name(kind: FormKind) -> &'static str {
    match kind {
        FormKind::Newsletter => "newsletter",
        FormKind::DownloadGate => "download-gate",
        FormKind::Giveaway => "giveaway",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::prelude::rust_2021::*;
    use std::vec;
    use Stage::*;

    #[test]
    fn rules_only_move_forward_and_never_in_or_out_of_disqualified() {
        let table = [
            (Subscriber, Lead, Ok(())),
            (Subscriber, Mql, Ok(())),
            (Lead, Mql, Ok(())),
            (Mql, Customer, Ok(())),
            (Mql, Lead, Err(Refusal::Backward)),
            (Sql, Mql, Err(Refusal::Backward)),
            (Lead, Disqualified, Err(Refusal::Backward)),
            (Disqualified, Mql, Err(Refusal::Backward)),
            (Mql, Mql, Err(Refusal::Unchanged)),
        ];
        for (from, to, want) in table {
            assert_eq!(check(from, to, &Mover::Rule, "score 35 reached 30"), want, "{from:?} -> {to:?}");
        }
    }

    #[test]
    fn people_and_crms_move_any_way_but_always_say_why() {
        for by in [Mover::Admin, Mover::Endpoint("hubspot")] {
            for from in Stage::ALL {
                for to in Stage::ALL {
                    let want = if from == to { Err(Refusal::Unchanged) } else { Ok(()) };
                    assert_eq!(check(from, to, &by, "met at the fair; budget confirmed"), want, "{by:?} {from:?} -> {to:?}");
                    if from != to {
                        assert_eq!(check(from, to, &by, "  "), Err(Refusal::NoReason));
                    }
                }
            }
            assert_eq!(check(Lead, Sql, &by, &"x".repeat(MAX_REASON + 1)), Err(Refusal::NoReason));
        }
    }

    #[test]
    fn every_move_is_recorded_with_who_when_and_why() {
        let (mut stage, mut history) = (Lead, Vec::new());
        advance(&mut stage, &mut history, Mql, &Mover::Rule, "score 35 reached 30", "2026-11-30T10:00:00Z").unwrap();
        advance(&mut stage, &mut history, Disqualified, &Mover::Endpoint("crm"), " competitor ", "2026-11-30T11:00:00Z").unwrap();
        assert_eq!(advance(&mut stage, &mut history, Lead, &Mover::Rule, "x", "t"), Err(Refusal::Backward));
        assert_eq!(stage, Disqualified);
        assert_eq!(history.len(), 2);
        assert_eq!(history[1], Change { from: Some(Mql), to: Disqualified, at: "2026-11-30T11:00:00Z".into(), by: "crm".into(), reason: "competitor".into() });
        let json = serde_json::to_string(&history[0]).unwrap();
        assert_eq!(json, r#"{"from":"lead","to":"mql","at":"2026-11-30T10:00:00Z","by":"rule","reason":"score 35 reached 30"}"#);
        for s in Stage::ALL {
            assert_eq!(Stage::parse(s.as_str()), Some(s));
        }
    }

    fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_defaults_per_kind_and_mode() {
        let none = fields(&[("email", "a@b.de")]);
        let company = fields(&[("email", "a@b.de"), ("company", "ACME")]);
        let table = [
            (FormKind::Newsletter, Mode::B2c, &company, Subscriber),
            (FormKind::Newsletter, Mode::B2b, &company, Subscriber),
            (FormKind::DownloadGate, Mode::B2c, &none, Lead),
            (FormKind::DownloadGate, Mode::B2b, &none, Subscriber),
            (FormKind::DownloadGate, Mode::B2b, &company, Lead),
            (FormKind::Giveaway, Mode::B2c, &company, Subscriber),
            (FormKind::Giveaway, Mode::B2b, &none, Subscriber),
            (FormKind::Giveaway, Mode::B2b, &company, Lead),
        ];
        for (kind, mode, f, want) in table {
            assert_eq!(first_stage(None, kind, mode, f, 0).0, want, "{kind:?} {mode:?} {f:?}");
        }
    }

    #[test]
    fn a_form_says_what_a_lead_is_and_why() {
        let def = LeadDefinition { because: Some("Das ist ein Lead, weil er ein Budget nennt.".into()), requires: vec!["budget".into()], min_fit: Some(20) };
        let with = fields(&[("budget", "10k+")]);
        assert_eq!(first_stage(Some(&def), FormKind::Newsletter, Mode::B2c, &with, 25), (Lead, "Das ist ein Lead, weil er ein Budget nennt.".into()));
        assert_eq!(first_stage(Some(&def), FormKind::Newsletter, Mode::B2c, &with, 10), (Subscriber, "not a lead: fit 10 is under 20".into()));
        assert_eq!(
            first_stage(Some(&def), FormKind::Newsletter, Mode::B2c, &fields(&[("budget", " ")]), 25),
            (Subscriber, "not a lead: budget is missing".into())
        );
        let everyone = LeadDefinition::default();
        assert_eq!(first_stage(Some(&everyone), FormKind::Giveaway, Mode::B2c, &BTreeMap::new(), -10).0, Lead, "a form may call every entry a lead");
    }
}
