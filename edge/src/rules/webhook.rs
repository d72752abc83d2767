//! Webhook payloads and their Standard Webhooks v1 signatures.
//!
//! Every delivery carries `webhook-id` (stable across retries of one delivery, so receivers can dedupe),
//! `webhook-timestamp` (seconds, of this attempt) and `webhook-signature`: `v1,` + base64 of
//! HMAC-SHA256(key, "{id}.{timestamp}.{body}"), where the key is the base64 part of a `whsec_` secret.
//! Several space-separated signatures are sent while a secret is being rotated.

use crate::Error;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::Mac;
use serde::Serialize;
use shared::form::FormDef;
use shared::lead::Lead;

/// The payload version; bump on any breaking change to `data`. Version 2 replaced `consent_history` with
/// `consent_changes`.
pub const PAYLOAD_VERSION: u32 = 2;

/// What happened to a lead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum EventType {
    /// A lead was stored.
    #[serde(rename = "lead.created")]
    LeadCreated,
    /// A repeat submission changed a stored lead (filled empty fields or added a consent), or the address
    /// owner confirmed such changes by mail; the data is the lead with `changes` saying what changed and
    /// who confirmed it.
    #[serde(rename = "lead.updated")]
    LeadUpdated,
    /// The person withdrew their consent (the link in a confirmation mail, or an admin recording a
    /// withdrawal received otherwise); the data is the lead with its withdrawn consent records. Stop
    /// marketing to them.
    #[serde(rename = "lead.consent_withdrawn")]
    LeadConsentWithdrawn,
    /// A lead was erased (GDPR Art. 17); the data is only `{id, form, erased_at}`: delete it downstream too.
    #[serde(rename = "lead.erased")]
    LeadErased,
    /// A double opt-in was confirmed; the data is the confirmed lead. Forms with double opt-in send this
    /// instead of `lead.created`.
    #[serde(rename = "lead.confirmed")]
    LeadConfirmed,
    /// A giveaway entry won a draw; the data is the lead plus `draw` (the draw's id).
    #[serde(rename = "giveaway.winner")]
    GiveawayWinner,
    /// A lead moved in the funnel; the data is the lead plus `change` (`from`, `to`, `at`, `by`: `rule`,
    /// `admin` or a feedback endpoint's id, `reason`).
    #[serde(rename = "lead.stage_changed")]
    LeadStageChanged,
    /// A lead got an owner (by the form's rule when it became an MQL, or by a person); the data is the lead
    /// plus `assignment` (`from`, `to`, `at`, `by`, `reason`) and `owner` (`id`, `name`, `email`).
    #[serde(rename = "lead.assigned")]
    LeadAssigned,
    /// Nobody contacted a lead within its response-time agreement; the data is the lead, whose `sla` says
    /// whose it was, since when, when it was due and when it broke (and whose `owner` is who has it now).
    #[serde(rename = "lead.sla_breached")]
    LeadSlaBreached,
}

impl EventType {
    /// The type as it appears in payloads.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::LeadCreated => "lead.created",
            EventType::LeadUpdated => "lead.updated",
            EventType::LeadConsentWithdrawn => "lead.consent_withdrawn",
            EventType::LeadErased => "lead.erased",
            EventType::LeadConfirmed => "lead.confirmed",
            EventType::GiveawayWinner => "giveaway.winner",
            EventType::LeadStageChanged => "lead.stage_changed",
            EventType::LeadAssigned => "lead.assigned",
            EventType::LeadSlaBreached => "lead.sla_breached",
        }
    }
}

/// Serialises the payload for a lead event: `{"type", "timestamp", "version", "data"}`, where `data` is the
/// lead with its current consent record, source, score and stage. Earlier consent records stay in the
/// collector (the admin API shows them, Art. 15); `data.consent_changes` counts them, which keeps every
/// event of a lead the same size however often it resubmits.
pub fn payload(kind: EventType, timestamp: &str, lead: &Lead) -> String {
    event(kind, timestamp, lead).to_string()
}

/// The payload announcing a giveaway winner: the lead event with `data.draw` naming the draw.
pub fn winner_payload(timestamp: &str, lead: &Lead, draw: &str) -> String {
    let mut event = event(EventType::GiveawayWinner, timestamp, lead);
    insert_data(&mut event, "draw", draw.into());
    event.to_string()
}

/// What a repeat changed on a lead, as `lead.updated` tells it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Changes {
    /// The id of the submission that asked for the changes.
    pub submission: String,
    /// The fields that were empty and now have a value.
    pub filled: Vec<String>,
    /// The purposes now granted that were not before.
    pub consent_added: Vec<String>,
    /// Who confirmed them: `email` (the address owner clicked the link in a mail) or `none` (a form
    /// without double opt-in, where the submission itself is all there is).
    pub confirmed_by: &'static str,
}

/// The `lead.updated` payload: the lead event with `data.changes`.
pub fn updated_payload(timestamp: &str, lead: &Lead, changes: &Changes) -> String {
    let mut event = event(EventType::LeadUpdated, timestamp, lead);
    insert_data(&mut event, "changes", serde_json::to_value(changes).unwrap_or_default());
    event.to_string()
}

/// The `lead.consent_withdrawn` payload: the lead event with `data.withdrawal`, naming the purposes the
/// lead granted before and no longer does, and the channel it came through (`link`, `admin`, or a
/// feedback endpoint's id).
pub fn withdrawn_payload(timestamp: &str, lead: &Lead, purposes: &[String], via: &str) -> String {
    let mut event = event(EventType::LeadConsentWithdrawn, timestamp, lead);
    insert_data(&mut event, "withdrawal", serde_json::json!({"purposes": purposes, "via": via}));
    event.to_string()
}

/// The `lead.stage_changed` payload: the lead event with `data.change`.
pub fn stage_payload(timestamp: &str, lead: &Lead, change: &shared::stage::Change) -> String {
    let mut event = event(EventType::LeadStageChanged, timestamp, lead);
    insert_data(&mut event, "change", serde_json::to_value(change).unwrap_or_default());
    event.to_string()
}

/// The `lead.assigned` payload: the lead event with `data.assignment` and the owner's card in
/// `data.owner_card` (`data.owner` stays the owner's id, as in every lead event).
pub fn assigned_payload(timestamp: &str, lead: &Lead, assignment: &shared::owner::Assigned, owner: Option<&shared::owner::Owner>) -> String {
    let mut event = event(EventType::LeadAssigned, timestamp, lead);
    insert_data(&mut event, "assignment", serde_json::to_value(assignment).unwrap_or_default());
    if let Some(owner) = owner {
        insert_data(&mut event, "owner_card", serde_json::to_value(owner).unwrap_or_default());
    }
    event.to_string()
}

/// Adds `key` to an event's `data` object.
fn insert_data(event: &mut serde_json::Value, key: &str, value: serde_json::Value) {
    if let Some(data) = event.get_mut("data").and_then(serde_json::Value::as_object_mut) {
        data.insert(key.into(), value);
    }
}

fn event(kind: EventType, timestamp: &str, lead: &Lead) -> serde_json::Value {
    // Written as the stored document is and read back, rather than `to_value`: the collector then carries
    // one writer of the lead (its document's), not a second one into a tree (the lead holds no floats,
    // so the tree is the same).
    let mut data: serde_json::Value = serde_json::to_string(lead).ok().and_then(|text| serde_json::from_str(&text).ok()).unwrap_or_default();
    if let Some(fields) = data.as_object_mut() {
        // The histories stay in the collector (the admin API shows them): events keep one size however
        // often a lead comes back.
        fields.remove("consent_history");
        fields.remove("repeats");
        fields.remove("held");
        fields.remove("mails_sent");
        fields.remove("history");
        fields.remove("events");
        fields.remove("assignments");
        fields.remove("downloads_folded");
        fields.remove("earlier_events");
        fields.insert("consent_changes".into(), lead.consent_history.len().into());
        fields.insert("repeat_count".into(), lead.repeats.len().into());
        fields.insert("stage_changes".into(), lead.history.len().into());
        fields.insert("event_count".into(), lead.events.len().into());
    }
    serde_json::json!({"type": kind, "timestamp": timestamp, "version": PAYLOAD_VERSION, "data": data})
}

/// The most an event of `form` can weigh, in bytes: a lead with every field at its length cap in two-byte
/// characters, every purpose granted, the longest page URL, referrer and UTM tags the intake accepts.
/// `cargo xtask` refuses a config whose forms could exceed [`MAX_PAYLOAD_BYTES`].
pub fn largest_event(form: &FormDef) -> usize {
    use shared::field::FieldType;
    let long = |n: usize| "ü".repeat(n);
    let fields: std::collections::BTreeMap<String, String> = form
        .fields
        .iter()
        .map(|f| {
            let max = f.max_chars();
            let value = match f.kind() {
                FieldType::Email => ["a".repeat(64), "@".into(), "b".repeat(max.saturating_sub(65))].concat(),
                FieldType::Phone => "+".to_owned() + &"1".repeat(15),
                FieldType::Checkbox => "false".into(),
                FieldType::Number => "-".to_owned() + &"9".repeat(30),
                FieldType::Select => f.options.iter().map(|o| o.value.clone()).max_by_key(String::len).unwrap_or_default(),
                FieldType::Url => "https://".to_owned() + &long(max),
                FieldType::Text | FieldType::Textarea => long(max),
            };
            (f.name.clone(), value)
        })
        .collect();
    let decision = shared::consent::Decision { granted: form.consents.iter().map(|p| p.id.clone()).collect(), refused: Vec::new() };
    let url = |n: usize| "https://x.example/".to_owned() + &"a".repeat(n - 18);
    let utm: std::collections::BTreeMap<_, _> = (0..10).map(|i| (format!("{i:0>50}"), long(shared::wire::UTM_VALUE_MAX))).collect();
    let engagement = shared::score::Engagement { submissions: 1_000_000, ..Default::default() };
    // The consent texts are recorded in the language shown; either may be the longer one.
    [shared::Lang::En, shared::Lang::De]
        .into_iter()
        .map(|lang| {
            let now = "2026-01-01T00:00:00.000Z".to_owned();
            let consent = shared::consent::ConsentRecord::new(&form.consents, &decision, lang, now.clone(), Some(url(2048)), Some("c".repeat(43)));
            let lead = Lead {
                id: "0".repeat(26),
                form: form.id.clone(),
                kind: form.kind,
                status: shared::lead::Status::New,
                created_at: now.clone(),
                updated_at: now.clone(),
                score: {
                    // One event type per line of reasons, each line at its longest (several events, faded).
                    let types = [shared::score::CONFIRMED, shared::score::DOWNLOAD, shared::score::REPEAT]
                        .into_iter()
                        .chain(form.scoring.events.keys().map(String::as_str));
                    let events: Vec<shared::score::Event> = types
                        .flat_map(|kind| {
                            [0u64, 9_999].map(|days| shared::score::Event {
                                kind: kind.to_owned(),
                                at: shared::time::rfc3339(days * 86_400_000),
                                points: -99_999,
                            })
                        })
                        .collect();
                    let mut s = shared::score::score(&form.scoring, form.kind, &fields, &events, 10_000 * 86_400_000);
                    s.cooling_from = Some(now.clone());
                    s
                },
                fields: fields.clone(),
                consent,
                consent_history: Vec::new(),
                source: shared::lead::Source {
                    page: Some(url(2048)),
                    referrer: Some(url(2048)),
                    utm: utm.clone(),
                    dropped: vec!["referrer: not an http(s) URL".into(); 2],
                    import: Some(shared::lead::Imported {
                        batch: "b".repeat(128),
                        source: long(crate::rules::rows::MAX_SOURCE),
                        basis: "legitimate_interest".into(),
                        proof: Some(long(crate::rules::rows::MAX_PROOF)),
                        row: 1_000,
                    }),
                },
                engagement,
                confirmation: Some(shared::lead::Confirmation { at: now.clone(), client_id: Some("c".repeat(43)) }),
                repeats: Vec::new(),
                held: Vec::new(),
                mails_sent: Vec::new(),
                stage: shared::stage::Stage::Opportunity,
                history: Vec::new(),
                events: Vec::new(),
                earlier_events: Default::default(),
                owner: Some("o".repeat(64)),
                assignments: Vec::new(),
                first_touch: Some(shared::owner::Touch { at: now.clone(), by: "e".repeat(64), via: "crm".into(), what: Some("w".repeat(100)) }),
                sla: Some(shared::owner::Sla { owner: "o".repeat(64), since: now.clone(), due: now.clone(), breached: Some(now.clone()) }),
                downloads_folded: 0,
                form_version: Some(3),
                variant: form.variants.iter().map(|v| v.name.clone()).max_by_key(String::len),
            };
            let changes = Changes {
                submission: "0".repeat(29),
                filled: form.fields.iter().map(|f| f.name.clone()).collect(),
                consent_added: form.consents.iter().map(|p| p.id.clone()).collect(),
                confirmed_by: "email",
            };
            // An imported lead's consent entries hold the import's statement instead of the form's text.
            let mut imported = lead.clone();
            for e in &mut imported.consent.entries {
                e.text = long(crate::rules::rows::MAX_STATEMENT);
            }
            let change = shared::stage::Change {
                from: Some(shared::stage::Stage::Opportunity),
                to: shared::stage::Stage::Disqualified,
                at: now.clone(),
                by: "e".repeat(64),
                reason: long(shared::stage::MAX_REASON),
            };
            let assignment = shared::owner::Assigned {
                from: Some("o".repeat(64)),
                to: "o".repeat(64),
                at: now.clone(),
                by: "admin".into(),
                reason: long(shared::stage::MAX_REASON),
            };
            let card = shared::owner::Owner {
                id: "o".repeat(64),
                name: long(200),
                email: Some(["a".repeat(64), "@".into(), "b".repeat(189)].concat()),
                lang: None,
                away_until: None,
            };
            [&lead, &imported]
                .into_iter()
                .map(|lead| {
                    updated_payload(&now, lead, &changes)
                        .len()
                        .max(stage_payload(&now, lead, &change).len())
                        .max(assigned_payload(&now, lead, &assignment, Some(&card)).len())
                })
                .max()
                .unwrap_or(0)
        })
        .max()
        .unwrap_or(0)
}

/// The promise to receivers: no event is larger than this.
pub const MAX_PAYLOAD_BYTES: usize = 20 * 1024;

/// The payload announcing an erasure: no personal data, only what a CRM needs to find and delete the lead.
pub fn erased_payload(timestamp: &str, id: &str, form: &str) -> String {
    serde_json::json!({
        "type": EventType::LeadErased, "timestamp": timestamp, "version": PAYLOAD_VERSION,
        "data": {"id": id, "form": form, "erased_at": timestamp},
    })
    .to_string()
}

/// A signing key decoded from its `whsec_` form.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Decodes `whsec_<base64>`; anything else is a configuration error, reported without the secret itself.
    pub fn parse(whsec: &str) -> Result<Secret, Error> {
        let encoded = whsec.trim().strip_prefix("whsec_").ok_or_else(|| Error::Config("a webhook secret must start with whsec_".into()))?;
        let key = B64.decode(encoded).map_err(|_| Error::Config("a webhook secret is not valid base64 after whsec_".into()))?;
        if key.len() < 16 {
            return Err(Error::Config("a webhook secret must hold at least 16 bytes".into()));
        }
        Ok(Secret(key))
    }

    /// Makes a secret from raw key bytes (what `cargo xtask` generates).
    pub fn from_bytes(key: Vec<u8>) -> Secret {
        Secret(key)
    }

    /// The secret in `whsec_` form.
    pub fn to_whsec(&self) -> String {
        format!("whsec_{}", B64.encode(&self.0))
    }

    /// `v1,<base64 signature>` over `{id}.{timestamp}.{body}`.
    pub fn sign(&self, id: &str, timestamp: u64, body: &str) -> String {
        let mut mac = crate::rules::digest::mac(&self.0);
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body.as_bytes());
        format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
    }
}

/// The `webhook-signature` header for all active secrets (several during rotation), space-separated.
pub fn signature_header(secrets: &[Secret], id: &str, timestamp: u64, body: &str) -> String {
    secrets.iter().map(|s| s.sign(id, timestamp, body)).collect::<Vec<_>>().join(" ")
}

/// Parses a secret variable that may hold several `whsec_` secrets separated by spaces (rotation).
pub fn parse_secrets(value: &str) -> Result<Vec<Secret>, Error> {
    let secrets = value.split_whitespace().map(Secret::parse).collect::<Result<Vec<_>, _>>()?;
    if secrets.is_empty() {
        return Err(Error::Config("the webhook secret is empty".into()));
    }
    Ok(secrets)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example from the Standard Webhooks specification (standard-webhooks/spec, "Verifying signatures").
    #[test]
    fn signs_the_spec_example() {
        let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, r#"{"test": 2432232314}"#);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn rotation_sends_one_signature_per_secret() {
        let secrets = parse_secrets("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw  whsec_AAAAAAAAAAAAAAAAAAAAAAAA").unwrap();
        let header = signature_header(&secrets, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, r#"{"test": 2432232314}"#);
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert_ne!(parts[0], parts[1]);
    }

    #[test]
    fn bad_secrets_are_config_errors_that_do_not_echo_the_secret() {
        for bad in ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_!!!", "whsec_AAAA", ""] {
            match parse_secrets(bad) {
                Err(Error::Config(msg)) => assert!(bad.is_empty() || !msg.contains(bad), "{msg}"),
                other => panic!("{bad:?}: {:?}", other.map(|s| s.len())),
            }
        }
        let s = Secret::from_bytes(vec![7; 24]);
        assert_eq!(Secret::parse(&s.to_whsec()).unwrap().0, vec![7; 24]);
    }
}
