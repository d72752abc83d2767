//! The withdrawal service (GDPR Art. 7(3)): consent is withdrawn as easily as it was given, by the link in
//! a confirmation mail or by an admin who heard of it by other channels.
//!
//! A withdrawal names what it withdraws: every purpose (the link in a mail, which must stay as easy as the
//! tick was), or one or more purposes by id (an admin, a mail tool's unsubscribe). A purpose the lead's form
//! never offered and no record of the lead names is refused with a `422` before anything changes.
//!
//! Under the ledger's hold on the lead (like a confirmation or a repeat), the lead is read again and: if it
//! was never confirmed and everything is withdrawn, erased (there is no consent left to keep it for, and
//! its endpoints never heard of it); otherwise the withdrawn purposes (or, for everything, each consent
//! record not yet withdrawn) are marked with the time, channel and pseudonymous client, changes held for
//! confirmation that would grant a withdrawn purpose are dropped, and `lead.consent_withdrawn` is queued,
//! naming the purposes.

use crate::protocol::backend::{random, Backend};
use crate::rules::webhook::{self, EventType};
use crate::services::announcing::{outbox_entries, put_outbox_then_lead};
use crate::services::erasure;
use crate::services::holding::{under_hold, Holding};
use crate::{rules::id, Error};
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
    /// The purposes withdrawn; `None` withdraws every one.
    pub purposes: Option<Vec<String>>,
}

/// Whether the lead's form offers, or one of its records names, each of `purposes`: else the `422` that
/// names the field, before anything changes.
pub fn check_purposes(config: &FormsConfig, lead: &Lead, purposes: Option<&[String]>) -> Result<(), Error> {
    let Some(purposes) = purposes else { return Ok(()) };
    let offered = config.form(&lead.form).map(|f| f.consents.as_slice()).unwrap_or_default();
    let known = |p: &String| {
        offered.iter().any(|o| &o.id == p) || std::iter::once(&lead.consent).chain(&lead.consent_history).any(|r| r.entries.iter().any(|e| &e.purpose == p))
    };
    if purposes.is_empty() || !purposes.iter().all(known) {
        return Err(Error::Validation([("purposes".to_owned(), shared::Code::UnknownPurpose)].into()));
    }
    Ok(())
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

/// Withdraws what `request` names from `lead` (as read by the caller; it is read again under the hold).
pub async fn withdraw<B: Backend>(b: &B, config: &FormsConfig, lead: &Lead, request: Request) -> Result<Withdrawn, Error> {
    check_purposes(config, lead, request.purposes.as_deref())?;
    under_hold(b, lead, async |holding| match b.lead(&lead.id).await? {
        Some(lead) => held(b, holding, config, lead, request).await,
        None => Ok(Withdrawn::Erased),
    })
    .await
}

async fn held<B: Backend>(b: &B, holding: &Holding, config: &FormsConfig, mut lead: Lead, request: Request) -> Result<Withdrawn, Error> {
    if lead.status == Status::Pending && request.purposes.is_none() {
        erasure::erase(b, config, &lead.id, false).await?;
        return Ok(Withdrawn::Erased);
    }
    let now = b.now_ms();
    let at = shared::time::rfc3339(now);
    let via = request.via.clone();
    let withdrawal = shared::consent::Withdrawal { at: at.clone(), via: request.via, client_id: request.client, note: request.note };
    let (purposes, changed) = lead.withdraw(request.purposes.as_deref(), &withdrawal);
    if !changed {
        return Ok(Withdrawn::Already);
    }
    // Changes held for the owner's confirmation must not grant again what was just withdrawn.
    match &request.purposes {
        None => lead.held.clear(),
        Some(withdrawn) => {
            for held in &mut lead.held {
                if held.consent.as_ref().is_some_and(|r| withdrawn.iter().any(|p| r.grants(p))) {
                    held.consent = None;
                }
            }
            lead.held.retain(|h| h.consent.is_some() || !h.fill.is_empty());
        }
    }
    lead.updated_at = at.clone();
    let payload = webhook::withdrawn_payload(&at, &lead, &purposes, &via);
    let endpoints = config.form(&lead.form).map(|f| f.webhooks.as_slice()).unwrap_or_default();
    let deliveries = outbox_entries(|| id::new("msg_", now, random(b)), endpoints, &lead.id, &lead.form, EventType::LeadConsentWithdrawn, &payload, now);
    put_outbox_then_lead(b, holding, &deliveries, &lead).await?;
    Ok(Withdrawn::Recorded { deliveries: deliveries.len() })
}
