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
    /// Where the CRM or the team reaches them.
    #[serde(default)]
    pub email: Option<String>,
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

impl Assignment {
    /// Whether the rule needs a turn counter (round-robin).
    pub fn needs_turn(&self) -> bool {
        self.rule == Rule::RoundRobin
    }

    /// The owner the rule gives a lead with `fields` (`turn` counts round-robin's turns, from 0), and why.
    /// `None` when no owner applies (no map entry and no fallback, or nobody to take turns).
    pub fn pick(&self, owners: &[Owner], fields: &BTreeMap<String, String>, turn: u64) -> Option<(String, String)> {
        match self.rule {
            Rule::Fixed => self.owner.clone().map(|o| (o, "fixed owner of the form".to_owned())),
            Rule::RoundRobin => {
                let pool: Vec<&str> =
                    if self.owners.is_empty() { owners.iter().map(|o| o.id.as_str()).collect() } else { self.owners.iter().map(String::as_str).collect() };
                let n = u64::try_from(pool.len()).ok().filter(|n| *n > 0)?;
                let i = usize::try_from(turn % n).ok()?;
                pool.get(i).map(|o| ((*o).to_owned(), format!("round-robin, turn {}", turn + 1)))
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::prelude::rust_2021::*;
    use std::vec;

    fn owners() -> Vec<Owner> {
        ["anna", "ben", "cem"].iter().map(|id| Owner { id: id.to_string(), name: id.to_uppercase(), email: None }).collect()
    }

    fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn round_robin_takes_turns_over_the_pool() {
        let a = Assignment { rule: Rule::RoundRobin, owners: vec![], field: None, map: BTreeMap::new(), owner: None, at: Moment::Creation };
        let picked: Vec<String> = (0..6).map(|t| a.pick(&owners(), &BTreeMap::new(), t).unwrap().0).collect();
        assert_eq!(picked, ["anna", "ben", "cem", "anna", "ben", "cem"]);
        let two = Assignment { owners: vec!["cem".into(), "anna".into()], ..a.clone() };
        assert_eq!(two.pick(&owners(), &BTreeMap::new(), 3).unwrap(), ("anna".to_string(), "round-robin, turn 4".to_string()));
        assert_eq!(a.pick(&[], &BTreeMap::new(), 0), None, "nobody to take turns");
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
        };
        assert_eq!(a.pick(&owners(), &fields(&[("postal_code", "80331")]), 0).unwrap(), ("ben".to_string(), "postal_code 80".to_string()));
        assert_eq!(a.pick(&owners(), &fields(&[("postal_code", "86150")]), 0).unwrap().0, "anna");
        assert_eq!(a.pick(&owners(), &fields(&[("postal_code", "10115")]), 0).unwrap().0, "cem");
        assert_eq!(a.pick(&owners(), &BTreeMap::new(), 0).unwrap().0, "cem", "no value: the fallback");
        let country = Assignment { field: Some("country".into()), map: [("DE".to_string(), "anna".to_string())].into(), owner: None, ..a };
        assert_eq!(country.pick(&owners(), &fields(&[("country", "de")]), 0).unwrap().0, "anna", "letters without case");
        assert_eq!(country.pick(&owners(), &fields(&[("country", "FR")]), 0), None, "no match, no fallback: unassigned");
    }
}
