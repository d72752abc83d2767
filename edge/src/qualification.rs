//! The qualification service: behaviour events recorded on a lead, and its stage moved by people or by the
//! CRM, over the storage seam.
//!
//! Both read the lead under the ledger's hold (like a confirmation or a repeat), change it with the pure
//! rules of `shared::stage` and `shared::score`, and write it with its announcements: `lead.stage_changed`
//! for every move (the rule's move to MQL included). A move to the stage the lead is at already changes
//! nothing and is answered as such, so feedback a CRM sends twice is harmless.

use crate::confirmation::under_hold;
use crate::outbox::Delivery;
use crate::storage::{random, Backend};
use crate::submission::{outbox_entries, put_outbox_then_lead};
use crate::webhook::{self, EventType};
use crate::{id, Error};
use shared::form::FormsConfig;
use shared::lead::Lead;
use shared::stage::{Change, Mover, Refusal, Stage};
use shared::Code;

/// What a request did to a lead.
#[derive(Debug)]
pub struct Outcome {
    /// The lead as stored now.
    pub lead: Lead,
    /// The stage change it made, if any.
    pub change: Option<Change>,
}

/// Records a behaviour event of type `kind` on the lead `id` (now, or at `at_ms` when the tool says when it
/// happened, never in the future), scores it again and moves it to MQL if it now reaches the threshold.
/// `Ok(None)` when there is no such lead.
pub async fn record_event<B: Backend>(b: &B, config: &FormsConfig, id: &str, kind: &str, at_ms: Option<u64>) -> Result<Option<Outcome>, Error> {
    let Some(lead) = b.lead(id).await? else { return Ok(None) };
    let form = config.form(&lead.form).ok_or(Error::NotFound)?;
    if form.scoring.points(kind).is_none() {
        return Err(Error::Validation([("type".to_owned(), Code::InvalidChoice)].into()));
    }
    under_hold(b, &lead, async || {
        let Some(mut lead) = b.lead(id).await? else { return Ok(None) };
        let now = b.now_ms();
        let at = at_ms.unwrap_or(now).min(now);
        lead.record_event(kind, form.scoring.points(kind).unwrap_or(0), &shared::time::rfc3339(at));
        let change = lead.qualify(&form.scoring, now);
        lead.updated_at = shared::time::rfc3339(now);
        let deliveries = change.as_ref().map(|c| announce(b, config, &lead, c, now)).unwrap_or_default();
        put_outbox_then_lead(b, &deliveries, &lead).await?;
        Ok(Some(Outcome { lead, change }))
    })
    .await
}

/// Moves the lead `id` to `to`, by a person or a CRM, for `reason`. `Ok(None)` when there is no such lead.
pub async fn move_stage<B: Backend>(b: &B, config: &FormsConfig, id: &str, to: Stage, by: &Mover<'_>, reason: &str) -> Result<Option<Outcome>, Error> {
    let Some(lead) = b.lead(id).await? else { return Ok(None) };
    let form = config.form(&lead.form).ok_or(Error::NotFound)?;
    under_hold(b, &lead, async || {
        let Some(mut lead) = b.lead(id).await? else { return Ok(None) };
        let now = b.now_ms();
        let change = match lead.move_to(to, by, reason, &form.scoring, now) {
            Ok(change) => change,
            Err(Refusal::Unchanged) => return Ok(Some(Outcome { lead, change: None })),
            Err(Refusal::NoReason) => {
                let code = if reason.trim().is_empty() { Code::Required } else { Code::TooLong };
                return Err(Error::Validation([("reason".to_owned(), code)].into()));
            }
            Err(Refusal::Backward) => return Err(Error::Validation([("stage".to_owned(), Code::InvalidChoice)].into())),
        };
        lead.updated_at = shared::time::rfc3339(now);
        let deliveries = announce(b, config, &lead, &change, now);
        put_outbox_then_lead(b, &deliveries, &lead).await?;
        Ok(Some(Outcome { lead, change: Some(change) }))
    })
    .await
}

/// `lead.stage_changed` for the form's endpoints that take it.
pub fn announce<B: Backend>(b: &B, config: &FormsConfig, lead: &Lead, change: &Change, now: u64) -> Vec<Delivery> {
    let endpoints = config.form(&lead.form).map(|f| f.webhooks.as_slice()).unwrap_or_default();
    let payload = webhook::stage_payload(&change.at, lead, change);
    outbox_entries(|| id::new("msg_", now, random(b)), endpoints, &lead.id, &lead.form, EventType::LeadStageChanged, &payload, now)
}
