//! Who is responsible for a lead ("wer für welchen Lead zuständig ist"): the people in the config, each
//! form's assignment rule, and the record of every assignment.
//!
//! Marketing and sales agree once, in the config, who gets which lead: in turns (round-robin), by a field's
//! value (a country, a postal-code prefix), or always the same person; at creation or when the lead becomes
//! an MQL. People may reassign a lead by hand; every assignment is recorded with who made it and why.

use alloc::{borrow::ToOwned, format, string::String, vec::Vec};

use alloc::collections::BTreeMap;
use serde::{Deserialize, Serialize};

/// A person leads can be assigned to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Owner {
    /// The owner's id (lowercase letters, digits, `-`, `_`): what leads and lists name.
    pub id: String,
    /// The name shown to people.
    pub name: String,
    /// Where the CRM or the team reaches them, and where their lead mails go.
    #[serde(default)]
    pub email: Option<String>,
    /// The language of their mails (default German).
    #[serde(default)]
    pub lang: Option<crate::Lang>,
    /// Away until this date or time (`YYYY-MM-DD`: to the start of that day, UTC): no new leads by the rule
    /// and none by escalation until then.
    #[serde(default)]
    pub away_until: Option<String>,
}

impl Owner {
    /// Whether the owner is away at `now_ms`.
    pub fn is_away(&self, now_ms: u64) -> bool {
        self.away_until.as_deref().and_then(crate::time::parse).is_some_and(|until| now_ms < until)
    }
}

/// How a form's leads get their owner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assignment {
    /// The rule.
    pub rule: Rule,
    /// Round-robin: the owners taking turns (default: every owner in the config, in its order).
    #[serde(default)]
    pub owners: Vec<String>,
    /// By field: the field whose value decides.
    #[serde(default)]
    pub field: Option<String>,
    /// By field: value (or, for codes like postal codes, a prefix) to owner; the longest matching prefix
    /// wins, letters compared without case.
    #[serde(default)]
    pub map: BTreeMap<String, String>,
    /// Fixed: the owner; by field: who gets leads no entry matches (none: they stay unassigned).
    #[serde(default)]
    pub owner: Option<String>,
    /// When: at creation (default) or when the lead becomes an MQL.
    #[serde(default)]
    pub at: Moment,
    /// The response-time agreement: an owner who has not touched a lead within this many minutes of
    /// working time after getting it is overtaken (see [`Assignment::hours`], [`Assignment::fallback`]).
    #[serde(default)]
    pub respond_within_minutes: Option<u32>,
    /// The same agreement in seconds, for teams that answer within the minute (and for tests); when both
    /// are set, the seconds count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub respond_within_seconds: Option<u32>,
    /// The working time the agreement counts (none: every minute counts).
    #[serde(default)]
    pub hours: Option<crate::hours::WorkingHours>,
    /// Who is told when the agreement is broken; for a fixed or by-field rule also who takes the lead over
    /// (round-robin gives it to the next owner in turn).
    #[serde(default)]
    pub fallback: Option<String>,
}

/// An assignment rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// In turns.
    RoundRobin,
    /// By a field's value.
    Field,
    /// Always the same owner.
    Fixed,
}

/// When a lead gets its owner.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Moment {
    /// When it is stored.
    #[default]
    Creation,
    /// When it becomes an MQL (sales takes over qualified leads only).
    Mql,
}

/// One recorded assignment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assigned {
    /// The owner before (none for the first).
    pub from: Option<String>,
    /// The owner now.
    pub to: String,
    /// When (RFC 3339).
    pub at: String,
    /// `rule` or `admin`.
    pub by: String,
    /// Why.
    pub reason: String,
}

/// The first time sales reached out to a lead.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Touch {
    /// When (RFC 3339).
    pub at: String,
    /// Who: an owner's id, or the feedback endpoint that reported it.
    pub by: String,
    /// How it was recorded: `mail` (the link in the owner's mail), `page` (the owner's page), `crm`, `admin`.
    pub via: String,
    /// What the CRM logged (a call, a deal created), for a touch reported by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub what: Option<String>,
}

/// A response-time agreement on a lead: whose it is, since when, when it is due, and whether it broke.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sla {
    /// The owner it binds.
    pub owner: String,
    /// When they got the lead (RFC 3339): what the time to first touch counts from.
    pub since: String,
    /// When the first touch is due (RFC 3339), in working time.
    pub due: String,
    /// When it was found broken, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breached: Option<String>,
}

impl Assignment {
    /// Whether the rule needs a turn counter (round-robin).
    pub fn needs_turn(&self) -> bool {
        self.rule == Rule::RoundRobin
    }

    /// How long an owner has for the first contact, in milliseconds of working time (none: no agreement).
    pub fn respond_within_ms(&self) -> Option<u64> {
        self.respond_within_seconds.map(|s| u64::from(s) * 1000).or(self.respond_within_minutes.map(|m| u64::from(m) * 60_000))
    }

    /// The owners taking turns.
    fn pool<'a>(&'a self, owners: &'a [Owner]) -> Vec<&'a str> {
        if self.owners.is_empty() {
            owners.iter().map(|o| o.id.as_str()).collect()
        } else {
            self.owners.iter().map(String::as_str).collect()
        }
    }

    /// The owner the rule gives a lead with `fields` (`turn` counts round-robin's turns, from 0), and why.
    /// `None` when no owner applies (no map entry and no fallback, or nobody to take turns). Round-robin
    /// passes over owners away at `now_ms` (the turn goes to the next one present).
    pub fn pick(&self, owners: &[Owner], fields: &BTreeMap<String, String>, turn: u64, now_ms: u64) -> Option<(String, String)> {
        let away = |id: &str| owners.iter().any(|o| o.id == id && o.is_away(now_ms));
        match self.rule {
            Rule::Fixed => self.owner.clone().map(|o| (o, "fixed owner of the form".to_owned())),
            Rule::RoundRobin => {
                let pool = self.pool(owners);
                let n = pool.len();
                let start = usize::try_from(turn % u64::try_from(n).ok().filter(|n| *n > 0)?).ok()?;
                (0..n).map(|k| pool[(start + k) % n]).find(|o| !away(o)).map(|o| (o.to_owned(), format!("round-robin, turn {}", turn + 1)))
            }
            Rule::Field => {
                let field = self.field.as_deref()?;
                let value = fields.get(field).map(|v| v.trim().to_lowercase()).unwrap_or_default();
                let matched = self.map.iter().filter(|(key, _)| !value.is_empty() && value.starts_with(&key.to_lowercase())).max_by_key(|(key, _)| key.len());
                match matched {
                    Some((key, owner)) => Some((owner.clone(), format!("{field} {key}"))),
                    None => self.owner.clone().map(|o| (o, format!("{field}: no entry matches, fallback owner"))),
                }
            }
        }
    }

    /// Who takes a lead over from `current` (who said "not mine" or let its time pass): round-robin's next
    /// owner after `current` who is present, else the fallback, else nobody; never `current` itself.
    pub fn next_after(&self, owners: &[Owner], current: &str, now_ms: u64) -> Option<String> {
        let present = |id: &str| id != current && !owners.iter().any(|o| o.id == id && o.is_away(now_ms));
        if self.rule == Rule::RoundRobin {
            let pool = self.pool(owners);
            let at = pool.iter().position(|o| *o == current).unwrap_or(pool.len().saturating_sub(1));
            let next = (1..=pool.len()).map(|k| pool[(at + k) % pool.len()]).find(|o| present(o));
            if let Some(next) = next {
                return Some(next.to_owned());
            }
        }
        self.fallback.iter().chain(self.owner.iter()).find(|o| present(o)).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::prelude::rust_2021::*;
    use std::vec;

    fn owners() -> Vec<Owner> {
        ["anna", "ben", "cem"].iter().map(|id| Owner { id: id.to_string(), name: id.to_uppercase(), email: None, lang: None, away_until: None }).collect()
    }

    fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn round_robin_takes_turns_over_the_pool() {
        let a = Assignment {
            rule: Rule::RoundRobin,
            owners: vec![],
            field: None,
            map: BTreeMap::new(),
            owner: None,
            at: Moment::Creation,
            respond_within_minutes: None,
            respond_within_seconds: None,
            hours: None,
            fallback: None,
        };
        let picked: Vec<String> = (0..6).map(|t| a.pick(&owners(), &BTreeMap::new(), t, 0).unwrap().0).collect();
        assert_eq!(picked, ["anna", "ben", "cem", "anna", "ben", "cem"]);
        let two = Assignment { owners: vec!["cem".into(), "anna".into()], ..a.clone() };
        assert_eq!(two.pick(&owners(), &BTreeMap::new(), 3, 0).unwrap(), ("anna".to_string(), "round-robin, turn 4".to_string()));
        assert_eq!(a.pick(&[], &BTreeMap::new(), 0, 0), None, "nobody to take turns");
    }

    #[test]
    fn by_field_the_longest_prefix_wins_else_the_fallback() {
        let a = Assignment {
            rule: Rule::Field,
            owners: vec![],
            field: Some("postal_code".into()),
            map: [("8".to_string(), "anna".to_string()), ("80".to_string(), "ben".to_string())].into(),
            owner: Some("cem".into()),
            at: Moment::Mql,
            respond_within_minutes: None,
            respond_within_seconds: None,
            hours: None,
            fallback: None,
        };
        assert_eq!(a.pick(&owners(), &fields(&[("postal_code", "80331")]), 0, 0).unwrap(), ("ben".to_string(), "postal_code 80".to_string()));
        assert_eq!(a.pick(&owners(), &fields(&[("postal_code", "86150")]), 0, 0).unwrap().0, "anna");
        assert_eq!(a.pick(&owners(), &fields(&[("postal_code", "10115")]), 0, 0).unwrap().0, "cem");
        assert_eq!(a.pick(&owners(), &BTreeMap::new(), 0, 0).unwrap().0, "cem", "no value: the fallback");
        let country = Assignment { field: Some("country".into()), map: [("DE".to_string(), "anna".to_string())].into(), owner: None, ..a };
        assert_eq!(country.pick(&owners(), &fields(&[("country", "de")]), 0, 0).unwrap().0, "anna", "letters without case");
        assert_eq!(country.pick(&owners(), &fields(&[("country", "FR")]), 0, 0), None, "no match, no fallback: unassigned");
    }

    #[test]
    fn away_owners_get_no_turn_and_a_lead_given_back_goes_to_the_next_one_present() {
        let mut team = owners();
        team[1].away_until = Some("2026-12-10".into());
        let now = crate::time::parse("2026-12-05T10:00:00Z").unwrap();
        let a = Assignment {
            rule: Rule::RoundRobin,
            owners: vec![],
            field: None,
            map: BTreeMap::new(),
            owner: None,
            at: Moment::Creation,
            respond_within_minutes: Some(15),
            respond_within_seconds: None,
            hours: None,
            fallback: None,
        };
        assert_eq!(a.pick(&team, &BTreeMap::new(), 1, now).unwrap().0, "cem", "ben's turn passes to cem while ben is away");
        let back = crate::time::parse("2026-12-10").unwrap();
        assert_eq!(a.pick(&team, &BTreeMap::new(), 1, back).unwrap().0, "ben", "back at the date named");
        assert_eq!(a.next_after(&team, "anna", now).as_deref(), Some("cem"), "not mine: the next one present");
        assert_eq!(a.next_after(&team, "cem", now).as_deref(), Some("anna"), "around the pool");
        let fixed = Assignment { rule: Rule::Fixed, owner: Some("anna".into()), fallback: Some("cem".into()), ..a.clone() };
        assert_eq!(fixed.next_after(&team, "anna", now).as_deref(), Some("cem"), "a fixed rule gives it to the fallback");
        assert_eq!(fixed.next_after(&team, "cem", now).as_deref(), Some("anna"), "the fallback gives it back to the rule's owner");
        let alone = Assignment { rule: Rule::Fixed, owner: Some("anna".into()), ..a.clone() };
        assert_eq!(alone.next_after(&team, "anna", now), None, "never back to the one giving it away");
    }
}
