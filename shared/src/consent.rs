//! Consent: the purposes a form asks for, what a submission grants, and the record that proves it later.
//!
//! GDPR Art. 7(1) puts the burden of proof on the website owner, and German courts ask for consent to be
//! "fully documented" (BGH I ZR 164/09). So every lead carries a [`ConsentRecord`]: per purpose, granted or
//! refused, on which legal basis, and the exact text shown (its version and SHA-256), in which language.
//! The widget and the edge both run [`decide`], so a missing required tick is caught in the form and again
//! at the collector.

#[cfg(feature = "server")]
use alloc::{borrow::ToOwned, format};
use alloc::{string::String, vec::Vec};

use crate::lang::{Lang, Texts};
use crate::Code;
use serde::{Deserialize, Serialize};

/// The purpose id for accepting a giveaway's rules; the only purpose a giveaway may require.
pub const GIVEAWAY_RULES: &str = "giveaway_rules";

/// The legal basis a purpose rests on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// Explicit consent: an unticked box the visitor ticks (GDPR Art. 6(1)(a), Art. 7).
    #[default]
    Consent,
    /// Legitimate interest (GDPR Art. 6(1)(f)); B2B forms only. Shown as a notice, recorded as such.
    LegitimateInterest,
}

/// One thing a form asks permission for, e.g. `marketing_email` or `giveaway_rules`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(validator::Validate))]
#[serde(deny_unknown_fields)]
pub struct Purpose {
    /// A stable id, used in submissions (`consent: ["marketing_email"]`) and records.
    #[cfg_attr(feature = "server", validate(length(min = 1, max = 64)))]
    pub id: String,
    /// Whether the form cannot be sent without it (e.g. giveaway rules).
    #[serde(default)]
    pub required: bool,
    /// The exact text shown next to the box, per language.
    pub text: Texts,
    /// The text's version; raise it whenever the text changes, so old records keep meaning what they said.
    #[serde(default = "one")]
    pub version: u32,
    /// The legal basis.
    #[serde(default)]
    pub basis: Basis,
}

fn one() -> u32 {
    1
}

/// What a submission grants and refuses, by purpose id, in the form's order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    /// Purposes with a tick (or a legitimate-interest basis).
    pub granted: Vec<String>,
    /// Purposes offered and not ticked.
    pub refused: Vec<String>,
}

/// Decides a submission's consent against the form: every required purpose must be ticked and every ticked
/// id must be one the form offers. Errors are keyed `consent.<id>`, the name the widget gives the checkbox,
/// in the form's order of purposes, then unknown ticks in the order sent.
pub fn decide(purposes: &[Purpose], ticked: &[impl AsRef<str>]) -> Result<Decision, Vec<(String, Code)>> {
    let mut errors = Vec::new();
    let mut decision = Decision::default();
    for p in purposes {
        // A legitimate-interest notice has no box; the basis itself is what the record proves.
        let granted = p.basis == Basis::LegitimateInterest || ticked.iter().any(|t| t.as_ref() == p.id);
        if p.required && !granted {
            errors.push((key(&p.id), Code::ConsentRequired));
        }
        if granted { &mut decision.granted } else { &mut decision.refused }.push(p.id.clone());
    }
    for id in ticked {
        if !purposes.iter().any(|p| p.id == id.as_ref()) {
            errors.push((key(id.as_ref()), Code::UnknownPurpose));
        }
    }
    if errors.is_empty() {
        Ok(decision)
    } else {
        Err(errors)
    }
}

/// The error key of a purpose's checkbox.
pub fn key(id: &str) -> String {
    let mut k = String::with_capacity(8 + id.len());
    k.push_str("consent.");
    k.push_str(id);
    k
}

/// One purpose as recorded with a lead.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The purpose id.
    pub purpose: String,
    /// Granted (ticked, or legitimate interest) or refused.
    pub granted: bool,
    /// The legal basis.
    pub basis: Basis,
    /// The exact text shown.
    pub text: String,
    /// The text's version.
    pub version: u32,
    /// The language the text was shown in.
    pub lang: Lang,
    /// SHA-256 of the text, hex: proves later which wording was agreed to.
    pub text_sha256: String,
    /// The withdrawal of this purpose alone, once it happened (a withdrawal of everything is the
    /// record's own [`ConsentRecord::withdrawn`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdrawn: Option<Withdrawal>,
}

/// The proof of consent stored with every lead.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRecord {
    /// Each purpose the form offered, granted or refused.
    pub entries: Vec<Entry>,
    /// The language the form was shown in.
    pub lang: Lang,
    /// When the collector received the submission (server time, RFC 3339).
    pub recorded_at: String,
    /// The page the form was on.
    #[serde(default)]
    pub page: Option<String>,
    /// A pseudonymous client id (keyed HMAC of the IP address); never the address itself.
    #[serde(default)]
    pub client_id: Option<String>,
    /// The withdrawal of everything this record granted (GDPR Art. 7(3)), once it happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdrawn: Option<Withdrawal>,
}

/// A withdrawal of consent: when, how it reached the collector, and from which pseudonymous client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Withdrawal {
    /// When it was recorded (server time, RFC 3339).
    pub at: String,
    /// `link` (the withdraw link in a confirmation mail) or `admin` (received by other channels).
    pub via: String,
    /// The pseudonymous client id of the click, if one could be made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// A note for admin withdrawals (e.g. "letter of 2026-11-30"); never personal data by design.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[cfg(feature = "server")]
impl ConsentRecord {
    /// Builds the record for a decision. The texts are taken from the form as configured at the time, so the
    /// record proves what was shown even after the config changes.
    pub fn new(purposes: &[Purpose], decision: &Decision, lang: Lang, recorded_at: String, page: Option<String>, client_id: Option<String>) -> ConsentRecord {
        use sha2::{Digest, Sha256};
        let entries = purposes
            .iter()
            .map(|p| {
                let text = p.text.get(lang).to_owned();
                let digest = Sha256::digest(text.as_bytes());
                Entry {
                    purpose: p.id.clone(),
                    granted: decision.granted.contains(&p.id),
                    basis: p.basis,
                    version: p.version,
                    lang: p.text.shown_lang(lang),
                    text_sha256: digest.iter().map(|b| format!("{b:02x}")).collect(),
                    text,
                    withdrawn: None,
                }
            })
            .collect();
        ConsentRecord { entries, lang, recorded_at, page, client_id, withdrawn: None }
    }
}

impl ConsentRecord {
    /// Whether the record grants `purpose` (and neither the record nor the purpose has been withdrawn).
    pub fn grants(&self, purpose: &str) -> bool {
        self.withdrawn.is_none() && self.entries.iter().any(|e| e.purpose == purpose && e.in_force())
    }

    /// The purposes the record grants now.
    pub fn granted(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().filter(|e| self.withdrawn.is_none() && e.in_force()).map(|e| e.purpose.as_str())
    }

    /// Withdraws `purposes` (each entry that grants one of them), or with `None` everything the record
    /// grants (the record itself is marked). Returns whether anything was marked.
    pub fn withdraw(&mut self, purposes: Option<&[String]>, withdrawal: &Withdrawal) -> bool {
        if self.withdrawn.is_some() {
            return false;
        }
        match purposes {
            None => {
                self.withdrawn = Some(withdrawal.clone());
                true
            }
            Some(purposes) => {
                let mut marked = false;
                for entry in self.entries.iter_mut().filter(|e| e.in_force() && purposes.contains(&e.purpose)) {
                    entry.withdrawn = Some(withdrawal.clone());
                    marked = true;
                }
                marked
            }
        }
    }
}

impl Entry {
    /// Granted, and not withdrawn on its own.
    pub fn in_force(&self) -> bool {
        self.granted && self.withdrawn.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::prelude::rust_2021::*;
    use std::{format, vec};

    fn purpose(id: &str, required: bool, basis: Basis) -> Purpose {
        Purpose { id: id.into(), required, text: Texts { en: Some(format!("text {id}")), de: None }, version: 2, basis }
    }

    #[test]
    fn required_purposes_need_a_tick_and_optional_ones_are_refused_when_unticked() {
        let purposes = [purpose("giveaway_rules", true, Basis::Consent), purpose("marketing_email", false, Basis::Consent)];
        let err = decide(&purposes, &[] as &[&str]).unwrap_err();
        assert_eq!(err, vec![("consent.giveaway_rules".to_string(), Code::ConsentRequired)], "an optional purpose is never a condition");
        let ok = decide(&purposes, &["giveaway_rules"]).unwrap();
        assert_eq!(ok.granted, vec!["giveaway_rules"]);
        assert_eq!(ok.refused, vec!["marketing_email"]);
    }

    #[test]
    fn unknown_purposes_are_rejected() {
        let err = decide(&[], &["sell_my_data"]).unwrap_err();
        assert_eq!(err, vec![("consent.sell_my_data".to_string(), Code::UnknownPurpose)]);
    }

    #[test]
    fn legitimate_interest_is_granted_without_a_tick() {
        let d = decide(&[purpose("b2b_marketing", false, Basis::LegitimateInterest)], &[] as &[&str]).unwrap();
        assert_eq!(d.granted, vec!["b2b_marketing"]);
    }

    #[cfg(feature = "server")]
    #[test]
    fn the_record_holds_text_version_and_hash() {
        let purposes = [purpose("marketing_email", false, Basis::Consent)];
        let d = decide(&purposes, &["marketing_email"]).unwrap();
        let r = ConsentRecord::new(&purposes, &d, Lang::De, "2026-11-23T00:00:00.000Z".into(), None, Some("c1".into()));
        let e = &r.entries[0];
        assert!(e.granted && r.grants("marketing_email"));
        assert_eq!(e.text, "text marketing_email");
        assert_eq!(e.lang, Lang::En, "only English was configured, so English was shown");
        assert_eq!(e.version, 2);
        // sha256("text marketing_email"), computed independently with `printf %s ... | sha256sum`.
        assert_eq!(e.text_sha256, "27878f23f5b82e55b50dae61f60891a7eaafae65de86e3e5506be558ea980ec1");
    }
}
