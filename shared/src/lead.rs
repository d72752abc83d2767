//! The stored lead: who left which data on which form, with their consent record, source and score.

use alloc::{string::String, vec::Vec};

use crate::consent::ConsentRecord;
use crate::kind::FormKind;
use crate::score::{self, Engagement, Event, Score, ScoringRules};
use crate::stage::{Change, Stage};
use alloc::collections::BTreeMap;
use serde::{Deserialize, Serialize};

/// Where a lead is in the opt-in process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Stored; no confirmation asked for (single opt-in forms).
    New,
    /// Waiting for the double opt-in link to be clicked.
    Pending,
    /// The double opt-in link was clicked.
    Confirmed,
}

impl Status {
    /// The status as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Pending => "pending",
            Status::Confirmed => "confirmed",
        }
    }
}

/// Where the visitor came from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// The page the form was on.
    #[serde(default)]
    pub page: Option<String>,
    /// The page's referrer.
    #[serde(default)]
    pub referrer: Option<String>,
    /// UTM parameters without the `utm_` prefix.
    #[serde(default)]
    pub utm: BTreeMap<String, String>,
    /// What the submission sent but the collector did not keep, and why (e.g. `page: not an http(s) URL`):
    /// only web addresses are stored as page and referrer, so nothing else reaches a CRM as a link.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dropped: Vec<String>,
    /// Set when the lead came in by an import rather than a form: which batch, from where, and on what
    /// legal basis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import: Option<Imported>,
}

/// Where an imported lead came from (a trade fair's scans, a purchased list) and what its marketing may
/// rest on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Imported {
    /// The import batch's id.
    pub batch: String,
    /// What the batch says it is (`Messe Hannover 2026`, `purchased list X`).
    pub source: String,
    /// The legal basis the batch declared: `consent`, `legitimate_interest` or `none`.
    pub basis: String,
    /// Where the proof of consent is kept (with `consent`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof: Option<String>,
    /// The row of the batch (1 for the first row after the header).
    pub row: u32,
}

/// A lead as stored in KV and sent in webhooks (version 1 of the payload's `data`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lead {
    /// A time-ordered id (`ld_` + 26 characters).
    pub id: String,
    /// The form's id.
    pub form: String,
    /// The form's kind.
    pub kind: FormKind,
    /// The opt-in status.
    pub status: Status,
    /// When the lead was first stored (RFC 3339).
    pub created_at: String,
    /// When the lead last changed (RFC 3339).
    pub updated_at: String,
    /// Cleaned field values by name.
    pub fields: BTreeMap<String, String>,
    /// The proof of consent given with the latest submission.
    pub consent: ConsentRecord,
    /// The records of earlier submissions, oldest first: a later submission can withdraw or extend
    /// consent, and every earlier statement stays provable.
    #[serde(default)]
    pub consent_history: Vec<ConsentRecord>,
    /// Page, referrer and UTM parameters.
    pub source: Source,
    /// What the lead did after leaving its data.
    pub engagement: Engagement,
    /// Score, reasons and stage.
    pub score: Score,
    /// The double opt-in confirmation: when, and from which pseudonymous client (proof of the second step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmation: Option<Confirmation>,
    /// Later submissions of the same address to the same form, oldest first: what each sent and what it
    /// changed. A repeat never overwrites a stored value; differing values are kept here for sales to see.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repeats: Vec<Repeat>,
    /// Changes repeats asked for on a confirmed double opt-in lead, each held until the address owner
    /// confirms it with the link mailed for exactly that change, oldest first (at most [`MAX_HELD`]; the
    /// oldest gives way). A later repeat adds its own change and never alters what an earlier link
    /// confirms. (Stored before as a single object, which still reads.)
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "one_or_many")]
    pub held: Vec<Held>,
    /// When confirmation mails were queued for this lead (Unix ms, the last 24 hours' worth): what limits
    /// how often repeats can make the collector mail an address.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mails_sent: Vec<u64>,
    /// Where the lead stands in the funnel (leads stored before stages existed read as `lead`).
    #[serde(default)]
    pub stage: Stage,
    /// Every stage change, oldest first: from, to, when, by whom, why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<Change>,
    /// Behaviour events (downloads, confirmations, repeats, mail clicks, meetings ...), oldest first: the
    /// latest [`MAX_EVENTS`], which are what the score counts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<Event>,
    /// The events older than the latest [`MAX_EVENTS`], folded per type (how many, their points, the first
    /// and last time): the history stays complete however many events arrive, and a flood of one type
    /// cannot push another's out of the record.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub earlier_events: BTreeMap<String, EventSummary>,
    /// Who is responsible for the lead (an owner's id from the config).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Every assignment, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assignments: Vec<crate::owner::Assigned>,
    /// When sales first reached out: the owner's "contacted", or a CRM's call or deal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_touch: Option<crate::owner::Touch>,
    /// The response-time agreement running for the current owner, or the last one (kept for the
    /// speed-to-lead numbers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla: Option<crate::owner::Sla>,
    /// How many of the downloads the collector's ledger counted are in `engagement.downloads` already.
    /// Downloads are counted in the ledger and folded into the document later; folding adds the ledger's
    /// total less this, so a fold repeated after a failure never counts a download twice.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub downloads_folded: u64,
    /// The published version of its form the lead was submitted under (none: a lead from before forms
    /// had versions, or an import).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form_version: Option<u32>,
    /// The variant of the form's texts the lead saw (forms under an A/B test).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The most changes a lead holds for confirmation at once.
pub const MAX_HELD: usize = 5;

/// Reads `held` as stored now (a list) or before (one object, or nothing). A visitor rather than an
/// untagged enum: the enum buffers the whole value and tries each shape, which cost the collector's
/// bundle about 14 KB gzip.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Held>, D::Error> {
    struct Shapes;
    impl<'de> serde::de::Visitor<'de> for Shapes {
        type Value = Vec<Held>;

        fn expecting(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
            f.write_str("a list of held changes, one held change, or null")
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Held>, A::Error> {
            let mut all = Vec::new();
            while let Some(one) = seq.next_element()? {
                all.push(one);
            }
            Ok(all)
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Vec<Held>, A::Error> {
            Ok(Vec::from([Held::deserialize(serde::de::value::MapAccessDeserializer::new(map))?]))
        }

        fn visit_unit<E: serde::de::Error>(self) -> Result<Vec<Held>, E> {
            Ok(Vec::new())
        }

        fn visit_none<E: serde::de::Error>(self) -> Result<Vec<Held>, E> {
            Ok(Vec::new())
        }
    }
    d.deserialize_any(Shapes)
}

/// The most behaviour events a lead keeps one by one: older ones are folded into
/// [`Lead::earlier_events`] (after this many, they count for little).
pub const MAX_EVENTS: usize = 200;

/// Events of one type folded out of [`Lead::events`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventSummary {
    /// How many.
    pub count: u64,
    /// Their points, added up before fading.
    pub points: i64,
    /// When the first happened (RFC 3339).
    pub first: String,
    /// When the last happened (RFC 3339).
    pub last: String,
}

/// A repeat submission as recorded on its lead.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repeat {
    /// The submission's own id (the one its answer and receipt name).
    pub id: String,
    /// When it arrived (RFC 3339).
    pub at: String,
    /// Values that differed from the stored ones, as sent; never applied.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub differing: BTreeMap<String, String>,
    /// Empty fields this repeat filled (or asked to fill, when held).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filled: Vec<String>,
    /// Purposes this repeat granted that the lead had not granted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consent_added: Vec<String>,
    /// The pseudonymous client that sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

/// Changes waiting for the address owner's confirmation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    /// The repeat that asked for them.
    pub repeat: String,
    /// Values for fields that are empty now.
    #[serde(default)]
    pub fill: BTreeMap<String, String>,
    /// The repeat's consent record, when it grants a purpose the lead has not granted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<ConsentRecord>,
}

impl Lead {
    /// Records a behaviour event worth `points` at `at` (RFC 3339), folding the oldest beyond
    /// [`MAX_EVENTS`] into [`Lead::earlier_events`].
    pub fn record_event(&mut self, kind: &str, points: i32, at: &str) {
        self.events.push(Event { kind: kind.into(), at: at.into(), points });
        if self.events.len() > MAX_EVENTS {
            let extra = self.events.len() - MAX_EVENTS;
            for old in self.events.drain(..extra) {
                let summary = self.earlier_events.entry(old.kind).or_default();
                if summary.count == 0 {
                    summary.first = old.at.clone();
                }
                summary.count += 1;
                summary.points += i64::from(old.points);
                summary.last = old.at;
            }
        }
    }

    /// Records a behaviour event of type `kind` (worth what the form's rules say) at `now_ms`, scores the
    /// lead again and moves it to `mql` if it now reaches the threshold. Returns the stage change, if any.
    pub fn note(&mut self, kind: &str, rules: &ScoringRules, now_ms: u64) -> Option<Change> {
        let at = crate::time::rfc3339(now_ms);
        self.record_event(kind, rules.points(kind).unwrap_or(0), &at);
        self.qualify(rules, now_ms)
    }

    /// Scores the lead at `now_ms` and, if the score reaches the form's threshold while the lead is a
    /// subscriber or lead, moves it to `mql` (the only move the rules make after the first stage; they never
    /// move a lead back). Returns the stage change, if any.
    pub fn qualify(&mut self, rules: &ScoringRules, now_ms: u64) -> Option<Change> {
        self.rescore(rules, now_ms);
        let reaches = self.score.total >= rules.mql_threshold;
        let below_mql = matches!(self.stage, Stage::Subscriber | Stage::Lead);
        if !(reaches && below_mql) {
            return None;
        }
        let reason = alloc::format!("score {} reached the MQL threshold {}", self.score.total, rules.mql_threshold);
        self.move_to(Stage::Mql, &crate::stage::Mover::Rule, &reason, rules, now_ms).ok()
    }

    /// Moves the lead to `to` if `by` may (see `stage::check`), recording why in its history.
    pub fn move_to(
        &mut self,
        to: Stage,
        by: &crate::stage::Mover<'_>,
        reason: &str,
        rules: &ScoringRules,
        now_ms: u64,
    ) -> Result<Change, crate::stage::Refusal> {
        let change = crate::stage::advance(&mut self.stage, &mut self.history, to, by, reason, &crate::time::rfc3339(now_ms))?;
        self.rescore(rules, now_ms);
        Ok(change)
    }

    /// Gives the lead to `owner`, recording who did it and why. Returns the record, or `None` when the
    /// lead has that owner already.
    pub fn assign(&mut self, owner: &str, by: &str, reason: &str, now_ms: u64) -> Option<crate::owner::Assigned> {
        if self.owner.as_deref() == Some(owner) {
            return None;
        }
        let record =
            crate::owner::Assigned { from: self.owner.clone(), to: owner.into(), at: crate::time::rfc3339(now_ms), by: by.into(), reason: reason.into() };
        self.owner = Some(owner.into());
        self.assignments.push(record.clone());
        Some(record)
    }

    /// Records the first touch, by `by` (an owner's id or a feedback endpoint's), through `via` (`mail`,
    /// `page`, `crm`, `admin`). Returns whether it was the first; later touches change nothing.
    pub fn touch(&mut self, by: &str, via: &str, now_ms: u64) -> bool {
        if self.first_touch.is_some() {
            return false;
        }
        self.first_touch = Some(crate::owner::Touch { at: crate::time::rfc3339(now_ms), by: by.into(), via: via.into(), what: None });
        true
    }

    /// Whether the lead is cooling at `now_ms` (see `score::cooling`).
    pub fn is_cooling(&self, now_ms: u64) -> bool {
        self.score.cooling_from.as_deref().and_then(crate::time::parse).is_some_and(|from| from <= now_ms)
    }

    /// Scores the lead at `now_ms` by its form's rules. A lead stored before behaviour events existed gets
    /// its engagement counts as events first, dated at its last change.
    pub fn rescore(&mut self, rules: &ScoringRules, now_ms: u64) {
        if self.events.is_empty() && self.engagement != Engagement::default() {
            let at = self.updated_at.clone();
            if self.engagement.confirmed {
                self.record_event(score::CONFIRMED, rules.confirmed_opt_in, &at);
            }
            for _ in 0..self.engagement.downloads.min(score::CAPPED_AT as u32) {
                self.record_event(score::DOWNLOAD, rules.download, &at);
            }
            for _ in 0..self.engagement.submissions.saturating_sub(1).min(score::CAPPED_AT as u32) {
                self.record_event(score::REPEAT, rules.repeat_submission, &at);
            }
        }
        self.score = score::score(rules, self.kind, &self.fields, &self.events, now_ms);
        let entered = self.history.iter().rev().find(|c| c.to == self.stage).and_then(|c| crate::time::parse(&c.at)).unwrap_or(0);
        self.score.cooling_from = score::cooling_from(rules, self.kind, self.stage, entered, &self.fields, &self.events).map(crate::time::rfc3339);
    }

    /// Whether any consent record of the lead still grants something.
    pub fn grants_anything(&self) -> bool {
        core::iter::once(&self.consent).chain(&self.consent_history).any(|r| r.granted().next().is_some())
    }

    /// Whether the person ever withdrew `purpose` (by itself, or with everything a record granted).
    pub fn withdrew(&self, purpose: &str) -> bool {
        core::iter::once(&self.consent)
            .chain(&self.consent_history)
            .any(|r| r.entries.iter().any(|e| e.purpose == purpose && (e.withdrawn.is_some() || (e.granted && r.withdrawn.is_some()))))
    }

    /// The purposes the lead grants now, each once, sorted.
    pub fn granted(&self) -> Vec<String> {
        let mut out: Vec<String> = core::iter::once(&self.consent).chain(&self.consent_history).flat_map(|r| r.granted()).map(String::from).collect();
        crate::order::sort(&mut out);
        out.dedup();
        out
    }

    /// Withdraws `purposes` in every consent record, or with `None` everything (every record is marked,
    /// also one that grants nothing: the withdrawal is on record). Returns the purposes the lead granted
    /// before and grants no longer, and whether any record changed.
    pub fn withdraw(&mut self, purposes: Option<&[String]>, withdrawal: &crate::consent::Withdrawal) -> (Vec<String>, bool) {
        let before = self.granted();
        let mut changed = false;
        for record in core::iter::once(&mut self.consent).chain(self.consent_history.iter_mut()) {
            changed |= record.withdraw(purposes, withdrawal);
        }
        let after = self.granted();
        (before.into_iter().filter(|p| !after.contains(p)).collect(), changed)
    }

    /// Whether the lead currently grants `purpose`: some consent record grants it and has not been
    /// withdrawn.
    pub fn grants(&self, purpose: &str) -> bool {
        core::iter::once(&self.consent).chain(&self.consent_history).any(|r| r.grants(purpose))
    }
}

/// Proof of a double opt-in confirmation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    /// When the link was clicked (server time, RFC 3339).
    pub at: String,
    /// The pseudonymous client id of the click (keyed HMAC of the IP address), if one could be made.
    #[serde(default)]
    pub client_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(held: &str) -> Lead {
        let json = alloc::format!(
            r#"{{"id":"ld_1","form":"f","kind":"newsletter","status":"confirmed","created_at":"","updated_at":"","fields":{{}},
                "consent":{{"entries":[],"lang":"en","recorded_at":""}},"source":{{}},
                "engagement":{{"confirmed":true,"downloads":0,"submissions":1}},"score":{{"total":0,"reasons":[],"stage":"lead"}}{held}}}"#
        );
        serde_json::from_str(&json).unwrap()
    }

    #[test]
    fn events_beyond_the_latest_fold_into_a_summary_per_type_and_none_is_lost() {
        let mut lead = stored("");
        lead.record_event("meeting_booked", 25, "2026-01-01T00:00:00.000Z");
        for i in 0..MAX_EVENTS + 50 {
            lead.record_event("email_open", 1, &alloc::format!("2026-02-01T00:00:{:02}.000Z", i % 60));
        }
        assert_eq!(lead.events.len(), MAX_EVENTS);
        let meeting = &lead.earlier_events["meeting_booked"];
        assert_eq!((meeting.count, meeting.points, meeting.first.as_str()), (1, 25, "2026-01-01T00:00:00.000Z"), "the flood did not erase the meeting");
        let opens = &lead.earlier_events["email_open"];
        assert_eq!(opens.count, 50);
        let total: u64 = lead.events.len() as u64 + lead.earlier_events.values().map(|s| s.count).sum::<u64>();
        assert_eq!(total, MAX_EVENTS as u64 + 51, "every event is on record, one by one or counted");
    }

    #[test]
    fn held_changes_read_as_stored_now_and_before() {
        let one = r#""repeat":"ld_2","fill":{"company":"ACME"}"#;
        assert_eq!(stored(&alloc::format!(r#","held":{{{one}}}"#)).held.len(), 1, "one object, as stored before");
        assert_eq!(stored(&alloc::format!(r#","held":[{{{one}}},{{{one}}}]"#)).held.len(), 2);
        assert!(stored(r#","held":null"#).held.is_empty());
        assert!(stored("").held.is_empty());
        let lead = stored(&alloc::format!(r#","held":{{{one}}}"#));
        assert!(lead.earlier_events.is_empty());
        assert_eq!(lead.held[0].fill["company"], "ACME");
        let written = serde_json::to_string(&lead).unwrap();
        assert!(written.contains(r#""held":[{"#), "{written}");
    }
}
