//! The withdrawal service (GDPR Art. 7(3)): consent is withdrawn as easily as it was given, by the link in
//! a confirmation mail or by an admin who heard of it by other channels.
//!
//! Under the ledger's hold on the lead (like a confirmation or a repeat), the lead is read again and: if it
//! was never confirmed, erased (there is no consent left to keep it for, and its endpoints never heard of
//! it); otherwise every consent record not yet withdrawn is marked with the time, channel and pseudonymous
//! client, changes held for confirmation are dropped, and `lead.consent_withdrawn` is queued.

use crate::confirmation::under_hold;
use crate::erasure;
use crate::storage::{random, Backend};
use crate::submission::{outbox_entries, put_outbox_then_lead};
use crate::webhook::{self, EventType};
use crate::{id, Error};
use shared::form::FormsConfig;
use shared::lead::{Lead, Status};

/// Who withdrew, and how.
#[derive(Clone, Debug)]
pub struct Request {
    /// The channel: `link`, `admin`, or a feedback endpoint's id.
    pub via: String,
    /// The pseudonymous client, for a withdrawal by link.
    pub client: Option<String>,
    /// An admin's note (where the withdrawal came from).
    pub note: Option<String>,
}

/// What a withdrawal did.
#[derive(Debug, PartialEq, Eq)]
pub enum Withdrawn {
    /// The lead was never confirmed and is erased.
    Erased,
    /// The consents are withdrawn now; `lead.consent_withdrawn` is queued.
    Recorded {
        /// How many deliveries were queued.
        deliveries: usize,
    },
    /// Every consent was withdrawn before.
    Already,
}

/// Withdraws every consent of `lead` (as read by the caller; it is read again under the hold).
pub async fn withdraw<B: Backend>(b: &B, config: &FormsConfig, lead: &Lead, request: Request) -> Result<Withdrawn, Error> {
    under_hold(b, lead, async || match b.lead(&lead.id).await? {
        Some(lead) => held(b, config, lead, request).await,
        None => Ok(Withdrawn::Erased),
    })
    .await
}

async fn held<B: Backend>(b: &B, config: &FormsConfig, mut lead: Lead, request: Request) -> Result<Withdrawn, Error> {
    if lead.status == Status::Pending {
        erasure::erase(b, config, &lead.id, false).await?;
        return Ok(Withdrawn::Erased);
    }
    let now = b.now_ms();
    let at = shared::time::rfc3339(now);
    let withdrawal = shared::consent::Withdrawal { at: at.clone(), via: request.via, client_id: request.client, note: request.note };
    let mut changed = false;
    for record in std::iter::once(&mut lead.consent).chain(lead.consent_history.iter_mut()) {
        if record.withdrawn.is_none() {
            record.withdrawn = Some(withdrawal.clone());
            changed = true;
        }
    }
    if !changed {
        return Ok(Withdrawn::Already);
    }
    lead.held = None;
    lead.updated_at = at.clone();
    let payload = webhook::payload(EventType::LeadConsentWithdrawn, &at, &lead);
    let endpoints = config.form(&lead.form).map(|f| f.webhooks.as_slice()).unwrap_or_default();
    let deliveries = outbox_entries(|| id::new("msg_", now, random(b)), endpoints, &lead.id, &lead.form, EventType::LeadConsentWithdrawn, &payload, now);
    put_outbox_then_lead(b, &deliveries, &lead).await?;
    Ok(Withdrawn::Recorded { deliveries: deliveries.len() })
}
