//! The repeat rules: what a later submission of a known address (or an import's row of one) may do to its
//! stored lead: fill empty fields and add consents, never overwrite or withdraw; on a confirmed double
//! opt-in lead its changes wait, each bound to the link mailed for it; and how often such repeats may
//! make the collector mail an address.

use shared::form::FormDef;
use shared::lead::{Held, Lead, Repeat};
use std::collections::BTreeMap;

/// What a repeat submission did to its stored lead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepeatOutcome {
    /// The lead after the repeat (still to be written).
    pub lead: Lead,
    /// The repeat as recorded on the lead.
    pub record: Repeat,
    /// Whether the changes wait for the address owner's confirmation by mail (see [`Lead::held`]).
    pub held: bool,
    /// The hash of the change held ([`held_hash`]), which the mail's confirmation link names.
    pub change: Option<String>,
    /// The move to MQL the repeat's behaviour points made, if any.
    pub moved: Option<shared::stage::Change>,
}

impl RepeatOutcome {
    /// Whether the repeat filled a field or added a consent (applied or held).
    pub fn changes_anything(&self) -> bool {
        !self.record.filled.is_empty() || !self.record.consent_added.is_empty()
    }
}

/// Folds a repeat submission (`fresh`, built by [`accept`] from the same address on the same form) into the
/// stored lead by the rule that only the address owner may change what is stored:
/// - stored values are never overwritten: a new value only fills a field that is empty, and values that
///   differ are kept in the repeat's record for sales to see;
/// - a repeat can add a consent (its own record joins the lead's history) but never withdraws one: an
///   unticked box is not a withdrawal;
/// - with `hold` (a confirmed lead on a double opt-in form) the fills and the added consent wait in
///   [`Lead::held`] until the owner confirms them by mail.
///
/// The repeat counts as engagement either way: one more submission, and the repeat's behaviour points.
pub fn repeat(existing: &Lead, fresh: Lead, form: &FormDef, hold: bool) -> RepeatOutcome {
    let mut out = combine(existing, fresh, hold);
    out.lead.engagement.submissions = out.lead.engagement.submissions.saturating_add(1);
    let now = shared::time::parse(&out.record.at).unwrap_or(0);
    out.moved = out.lead.note(shared::score::REPEAT, &form.scoring, now);
    out
}

/// Folds an imported row of a known address (`fresh`, built from the row) into the stored lead by the
/// repeat rules, as the operator's act rather than the person's: it fills empty fields and may add a
/// consent the batch documents, but it is no behaviour (no submission counted, no points), and it never
/// grants again a purpose the person withdrew, whatever the batch says.
pub fn merge(existing: &Lead, mut fresh: Lead) -> RepeatOutcome {
    for entry in &mut fresh.consent.entries {
        if existing.withdrew(&entry.purpose) {
            entry.granted = false;
        }
    }
    combine(existing, fresh, false)
}

/// What a repeat and a merge share: fills, differing values, added consent (or all of it held), and the
/// record of it on the lead.
fn combine(existing: &Lead, fresh: Lead, hold: bool) -> RepeatOutcome {
    let mut lead = existing.clone();
    let mut fill = BTreeMap::new();
    let mut differing = BTreeMap::new();
    for (name, value) in fresh.fields {
        match existing.fields.get(&name) {
            Some(old) if !old.is_empty() && *old != value => {
                differing.insert(name, value);
            }
            Some(old) if !old.is_empty() => {}
            _ if value.is_empty() => {}
            _ => {
                fill.insert(name, value);
            }
        }
    }
    let consent_added: Vec<String> = fresh.consent.entries.iter().filter(|e| e.granted && !existing.grants(&e.purpose)).map(|e| e.purpose.clone()).collect();
    let record = Repeat {
        id: fresh.id,
        at: fresh.created_at.clone(),
        differing,
        filled: fill.keys().cloned().collect(),
        consent_added: consent_added.clone(),
        client_id: fresh.consent.client_id.clone(),
    };
    let consent = (!consent_added.is_empty()).then_some(fresh.consent);
    let held = hold && (!fill.is_empty() || consent.is_some());
    let mut change = None;
    if held {
        // Held beside what earlier repeats asked: each change is confirmed by its own link only. The same
        // change asked again is held once.
        let asked = Held { repeat: record.id.clone(), fill, consent };
        let hash = held_hash(&asked);
        if !lead.held.iter().any(|h| held_hash(h) == hash) {
            lead.held.push(asked);
            if lead.held.len() > shared::lead::MAX_HELD {
                lead.held.remove(0);
            }
        }
        change = Some(hash);
    } else {
        lead.fields.extend(fill);
        lead.consent_history.extend(consent);
    }
    lead.repeats.push(record.clone());
    if lead.repeats.len() > MAX_REPEATS {
        lead.repeats.remove(0);
    }
    lead.updated_at = fresh.created_at;
    RepeatOutcome { lead, record, held, change, moved: None }
}

/// What binds a confirmation link to one held change: SHA-256 (hex, the first 32 digits) of what it would
/// fill and the consent it would add. The repeat's own id is left out, so the same change asked twice
/// is one change.
pub fn held_hash(held: &Held) -> String {
    use sha2::{Digest, Sha256};
    let granted: Vec<(&str, u32, &str)> =
        held.consent.iter().flat_map(|r| r.entries.iter().filter(|e| e.granted).map(|e| (e.purpose.as_str(), e.version, e.text_sha256.as_str()))).collect();
    let canonical = serde_json::json!({"fill": held.fill, "consent": granted}).to_string();
    crate::rules::digest::hex(Sha256::digest(canonical.as_bytes()).get(..16).unwrap_or_default())
}

/// How many repeats a lead keeps on record; older ones give way, so a lead cannot be grown without bound
/// by someone who knows its address.
pub const MAX_REPEATS: usize = 50;

/// Applies the change held in [`Lead::held`] whose hash is `change`, now that the address owner confirmed
/// it with the link mailed for it: fields that are still empty are filled, the added consent joins the
/// history; other held changes stay as they are. Returns the repeat's id and what changed, or `None` when
/// no such change is held (applied before, or given way to newer ones).
pub fn apply_held(lead: &mut Lead, change: &str, now: &str, form: &FormDef) -> Option<(String, Vec<String>, Vec<String>)> {
    let at = lead.held.iter().position(|h| held_hash(h) == change)?;
    let held = lead.held.remove(at);
    let mut filled = Vec::new();
    for (name, value) in held.fill {
        if lead.fields.get(&name).is_none_or(String::is_empty) {
            filled.push(name.clone());
            lead.fields.insert(name, value);
        }
    }
    let mut added = Vec::new();
    if let Some(record) = held.consent {
        added = record.entries.iter().filter(|e| e.granted && !lead.grants(&e.purpose)).map(|e| e.purpose.clone()).collect();
        if !added.is_empty() {
            lead.consent_history.push(record);
        }
    }
    lead.updated_at = now.to_owned();
    // New fields can change the fit; the move to MQL this makes, if any, is in the lead's history.
    let _ = lead.qualify(&form.scoring, shared::time::parse(now).unwrap_or(0));
    Some((held.repeat, filled, added))
}

/// Whether another confirmation mail may go to this lead's address now, given when the earlier ones were
/// queued: not within `resend_after` of the last one, and at most `resends_per_day` re-sends (after the
/// first mail) in 24 hours. Keeps the collector from being used to flood an inbox.
pub fn may_mail(sent: &[u64], now_ms: u64, mail: &shared::form::MailConfig) -> bool {
    let recent = sent.iter().filter(|&&t| now_ms.saturating_sub(t) < DAY_MS).count();
    let last = sent.iter().copied().max();
    let spaced = last.is_none_or(|t| now_ms.saturating_sub(t) >= mail.resend_after_ms());
    spaced && recent <= mail.resends_per_day()
}

const DAY_MS: u64 = 86_400_000;

/// Records a queued mail, keeping only the last day's times.
pub fn note_mail(sent: &mut Vec<u64>, now_ms: u64) {
    sent.retain(|&t| now_ms.saturating_sub(t) < DAY_MS);
    sent.push(now_ms);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::intake::{accept, Context};
    use shared::form::FormsConfig;
    use shared::lead::Status;
    use shared::wire::Submission;

    fn repeat_config() -> FormsConfig {
        serde_json::from_value(serde_json::json!({"forms": [{
            "id": "newsletter", "kind": "newsletter",
            "fields": [{"name": "email", "required": true}, {"name": "first_name"}, {"name": "company"}],
            "consents": [{"id": "marketing_email", "text": {"en": "Send me the newsletter."}},
                         {"id": "partner_offers", "text": {"en": "Partner offers."}}],
        }]}))
        .unwrap()
    }
    fn submission(id: &str, at: u64, fields: serde_json::Value, consent: &[&str]) -> Lead {
        let sub: Submission = serde_json::from_value(serde_json::json!({"form": "newsletter", "fields": fields, "consent": consent})).unwrap();
        accept(&repeat_config().forms[0], sub, Context { now_ms: at, id: id.into(), client_id: Some(format!("c-{id}")) }).unwrap()
    }
    #[test]
    fn a_repeat_never_overwrites_and_never_withdraws() {
        let form = &repeat_config().forms[0];
        let first = submission("ld_1", 1_000, serde_json::json!({"email": "ada@example.com", "company": "Victim GmbH"}), &["marketing_email"]);
        let evil = submission("ld_2", 2_000, serde_json::json!({"email": "ada@example.com", "company": "Evil Corp", "first_name": "Ada"}), &[]);
        let out = repeat(&first, evil, form, false);
        assert_eq!(out.lead.id, "ld_1");
        assert_eq!(out.lead.fields["company"], "Victim GmbH", "a stored value is never replaced");
        assert_eq!(out.lead.fields["first_name"], "Ada", "an empty field is filled");
        assert_eq!(out.record.differing["company"], "Evil Corp", "the differing value is kept for sales");
        assert_eq!(out.record.filled, vec!["first_name"]);
        assert!(out.lead.grants("marketing_email"), "an unticked box is not a withdrawal");
        assert_eq!(out.lead.consent, first.consent, "the stored record stays current");
        assert!(out.record.consent_added.is_empty() && out.lead.consent_history.is_empty());
        assert_eq!(out.lead.engagement.submissions, 2);
        assert_eq!(out.lead.created_at, first.created_at);
        assert_eq!(out.lead.updated_at, "1970-01-01T00:00:02.000Z");
        assert_eq!(out.lead.repeats, vec![out.record.clone()]);
        assert_eq!(out.record.id, "ld_2");
        assert_eq!(out.record.client_id.as_deref(), Some("c-ld_2"));
        assert!(!out.held && out.changes_anything());
    }
    #[test]
    fn a_repeat_adds_a_consent_with_its_own_record() {
        let form = &repeat_config().forms[0];
        let first = submission("ld_1", 1_000, serde_json::json!({"email": "ada@example.com"}), &["marketing_email"]);
        let more = submission("ld_2", 2_000, serde_json::json!({"email": "ada@example.com"}), &["partner_offers"]);
        let out = repeat(&first, more.clone(), form, false);
        assert_eq!(out.record.consent_added, vec!["partner_offers"]);
        assert_eq!(out.lead.consent_history, vec![more.consent]);
        assert!(out.lead.grants("marketing_email") && out.lead.grants("partner_offers"));
        let same = submission("ld_3", 3_000, serde_json::json!({"email": "ada@example.com"}), &["marketing_email"]);
        let again = repeat(&out.lead, same, form, false);
        assert!(!again.changes_anything(), "granting what is granted changes nothing");
        assert_eq!(again.lead.consent_history.len(), 1);
    }
    #[test]
    fn changes_to_a_confirmed_lead_wait_for_the_owner() {
        let form = &repeat_config().forms[0];
        let mut first = submission("ld_1", 1_000, serde_json::json!({"email": "ada@example.com"}), &[]);
        first.status = Status::Confirmed;
        let change = submission("ld_2", 2_000, serde_json::json!({"email": "ada@example.com", "company": "Evil Corp"}), &["partner_offers"]);
        let out = repeat(&first, change, form, true);
        assert!(out.held);
        assert!(!out.lead.fields.contains_key("company") && !out.lead.grants("partner_offers"), "nothing applied yet");
        let hash = out.change.clone().unwrap();
        // A later repeat holds its own change beside it; the first link still confirms exactly the first.
        let other = submission("ld_4", 2_500, serde_json::json!({"email": "ada@example.com", "company": "Other Corp", "first_name": "Eve"}), &[]);
        let later = repeat(&out.lead, other, form, true);
        assert_eq!(later.lead.held.len(), 2);
        assert_ne!(later.change.as_deref(), Some(hash.as_str()));
        let mut lead = later.lead;
        let (repeat_id, filled, added) = apply_held(&mut lead, &hash, "now", form).unwrap();
        assert_eq!((repeat_id.as_str(), filled, added), ("ld_2", vec!["company".to_string()], vec!["partner_offers".to_string()]));
        assert_eq!(lead.fields["company"], "Evil Corp");
        assert!(!lead.fields.contains_key("first_name"), "nothing of the later change");
        assert!(lead.grants("partner_offers") && lead.held.len() == 1);
        assert_eq!(apply_held(&mut lead, &hash, "now", form), None, "a second click applies nothing");
        assert_eq!(apply_held(&mut lead, "0000", "now", form), None, "a hash of nothing held applies nothing");
        let nothing = submission("ld_3", 3_000, serde_json::json!({"email": "ada@example.com"}), &[]);
        assert!(!repeat(&lead, nothing, form, true).held, "a repeat that changes nothing holds nothing");
    }
    #[test]
    fn repeats_on_record_are_bounded() {
        let form = &repeat_config().forms[0];
        let mut lead = submission("ld_0", 0, serde_json::json!({"email": "ada@example.com"}), &[]);
        for i in 1..=(MAX_REPEATS as u64 + 5) {
            lead = repeat(&lead, submission(&format!("ld_{i}"), i, serde_json::json!({"email": "ada@example.com"}), &[]), form, false).lead;
        }
        assert_eq!(lead.repeats.len(), MAX_REPEATS);
        assert_eq!(lead.repeats[0].id, "ld_6", "the oldest give way");
    }
    #[test]
    fn confirmation_mails_are_spaced_and_counted_per_day() {
        let mail: shared::form::MailConfig = serde_json::from_value(serde_json::json!({"url": "https://mail.example/", "from": "a <a@b.de>"})).unwrap();
        let min = 60_000;
        let mut sent = Vec::new();
        assert!(may_mail(&sent, 0, &mail));
        note_mail(&mut sent, 0);
        assert!(!may_mail(&sent, 9 * min, &mail), "not within 10 minutes");
        let mut mails = 1;
        for t in (10..24 * 60).step_by(10) {
            if may_mail(&sent, t * min, &mail) {
                note_mail(&mut sent, t * min);
                mails += 1;
            }
        }
        assert_eq!(mails, 4, "the first mail and 3 re-sends a day");
        assert!(!may_mail(&sent, 24 * 60 * min - 1, &mail), "still the same day for the first mail");
        assert!(may_mail(&sent, 48 * 60 * min, &mail), "a new day brings new re-sends");
    }
}
