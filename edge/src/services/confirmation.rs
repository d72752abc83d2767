//! The confirmation service: the press on a confirmation link's button, over the storage seam.
//!
//! A check-and-set: the lead is held in the ledger, read again, changed only if it still waits for this
//! confirmation, written with its outbox entries, and released. Two presses, however close, give one
//! `lead.confirmed` (or one `lead.updated` for held changes); the second finds the work done.

use crate::protocol::backend::{random, Backend};
use crate::protocol::outbox::Delivery;
use crate::rules::webhook::{self, EventType};
use crate::services::announcing::{once_per_lead, outbox_entries, put_outbox_then_lead};
use crate::services::holding::{under_hold, Holding};
use crate::{rules::id, rules::repeats, Error};
use shared::form::FormsConfig;
use shared::lead::{Confirmation, Lead, Status};

/// What a press did.
#[derive(Debug)]
pub enum Confirmed {
    /// The address is confirmed now; `lead.confirmed` is queued.
    Address(Lead, Vec<Delivery>),
    /// Changes a repeat asked for are applied now; `lead.updated` is queued.
    Changes(Lead, Vec<Delivery>),
    /// Nothing was waiting: an earlier press did it.
    Already(Lead),
}

/// Confirms what the lead `id` waits for, as pressed by `client`: its address while it is pending, else
/// the held change whose hash the link names (`change`, see `repeats::held_hash`), and nothing else. A link
/// without a change confirms no held change. `Ok(None)` when the lead is gone.
pub async fn confirm<B: Backend>(b: &B, config: &FormsConfig, id: &str, change: Option<&str>, client: Option<String>) -> Result<Option<Confirmed>, Error> {
    let Some(lead) = b.lead(id).await? else { return Ok(None) };
    under_hold(b, &lead, async |held| apply(b, held, config, id, change, client).await).await
}

async fn apply<B: Backend>(
    b: &B,
    held: &Holding,
    config: &FormsConfig,
    id: &str,
    change: Option<&str>,
    client: Option<String>,
) -> Result<Option<Confirmed>, Error> {
    // Read again under the hold: what an earlier press did is seen now.
    let Some(mut lead) = b.lead(id).await? else { return Ok(None) };
    let now = b.now_ms();
    let at = shared::time::rfc3339(now);
    let form = config.form(&lead.form);
    let (deliveries, changes) = if lead.status == Status::Pending {
        lead.status = Status::Confirmed;
        lead.engagement.confirmed = true;
        lead.updated_at = at.clone();
        lead.confirmation = Some(Confirmation { at: at.clone(), client_id: client });
        // A confirmed address is behaviour; it may make the lead an MQL, announced as such too.
        let moved = form.and_then(|f| lead.note(shared::score::CONFIRMED, &f.scoring, now));
        let payload = webhook::payload(EventType::LeadConfirmed, &lead.updated_at, &lead);
        let deliveries = form.map(|f| once_per_lead(&f.webhooks, &lead, EventType::LeadConfirmed, &payload, now)).unwrap_or_default();
        let mut deliveries: Vec<Delivery> = deliveries;
        // An owner given the lead while its address waited hears of it now (an owner the move below gives
        // it hears of it through the move).
        if lead.owner.is_some() && lead.sla.is_none() && lead.first_touch.is_none() {
            deliveries.extend(crate::services::sales::on_assigned(b, config, &mut lead, now));
        }
        deliveries.extend(crate::services::sales::follow_up(b, config, &mut lead, moved.as_ref(), now).await?);
        (deliveries, false)
    } else if let (Some(f), Some(change)) = (form, change) {
        let Some((submission, filled, consent_added)) = repeats::apply_held(&mut lead, change, &at, f) else { return Ok(Some(Confirmed::Already(lead))) };
        let changes = webhook::Changes { submission, filled, consent_added, confirmed_by: "email" };
        let payload = webhook::updated_payload(&at, &lead, &changes);
        (outbox_entries(|| id::new("msg_", now, random(b)), &f.webhooks, &lead.id, &f.id, EventType::LeadUpdated, &payload, now), true)
    } else {
        return Ok(Some(Confirmed::Already(lead)));
    };
    // If this fails, the still-valid link can simply be used once more.
    put_outbox_then_lead(b, held, &deliveries, &lead).await?;
    Ok(Some(if changes { Confirmed::Changes(lead, deliveries) } else { Confirmed::Address(lead, deliveries) }))
}
