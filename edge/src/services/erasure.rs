//! The erasure service (GDPR Art. 17): a lead and everything that holds its personal data go, and its
//! endpoints are told.
//!
//! One ledger transaction does what must not be half done: it queues `lead.erased` for the form's
//! endpoints, deletes every other delivery of the lead (their payloads hold its data), its address rows
//! and index row, and writes its tombstone. Only then is the lead document deleted. After the tombstone no
//! late write brings anything back: the ledger refuses to queue or index for it, an attempt in flight
//! records into a row that is gone, and a document written late is deleted again (`Backend::put_lead`).
//! A failure after the transaction leaves an erasure a retry finishes; the announcements' ids are derived
//! from the lead, so a retry queues no second `lead.erased`.

use crate::protocol::backend::{ask, Backend};
use crate::protocol::ledger::cmd;
use crate::protocol::ledger::{Erasure, Page};
use crate::protocol::outbox::Delivery;
use crate::rules::webhook::{self, EventType};
use crate::{rules::crm, rules::id, rules::intake, Error};
use shared::form::FormsConfig;
use shared::lead::{Lead, Status};

/// What an erasure did.
#[derive(Debug)]
pub struct Erased {
    /// The lead as it was.
    pub lead: Lead,
    /// How many of its deliveries were deleted.
    pub deliveries_deleted: u64,
    /// The endpoints that cannot be told (form-submission APIs): the owner erases the lead there by hand.
    pub by_hand_in: Vec<String>,
}

/// Erases the lead `id`. With `announce`, `lead.erased` goes to the form's endpoints that take it (an
/// unconfirmed double opt-in lead was never sent anywhere, so its erasure is not announced). `Ok(None)`
/// when there is no such lead.
pub async fn erase<B: Backend>(b: &B, config: &FormsConfig, id: &str, announce: bool) -> Result<Option<Erased>, Error> {
    let Some(lead) = b.lead(id).await? else { return Ok(None) };
    let now = b.now_ms();
    let endpoints = config.form(&lead.form).map(|f| f.webhooks.as_slice()).unwrap_or_default();
    let announcements = if announce { announcements(&lead, endpoints, now) } else { Vec::new() };
    let done: Erasure = ask(b, cmd::Erase { lead: lead.id.clone(), announcements, now }).await?;
    // The email index of the KV-only layout, if this lead had a key there; then the document, last, as a
    // retry finds the unfinished erasure through it.
    b.delete_legacy_email(&lead.form, &intake::address_of(&lead)).await?;
    b.delete_lead(&lead.id).await?;
    let by_hand_in = endpoints.iter().filter(|e| !crm::accepts(e.adapter, EventType::LeadErased)).map(|e| e.id.clone()).collect();
    Ok(Some(Erased { lead, deliveries_deleted: done.deliveries_deleted, by_hand_in }))
}

/// `lead.erased` for each endpoint that takes it, with ids derived from the lead and the endpoint.
fn announcements(lead: &Lead, endpoints: &[shared::form::Endpoint], now: u64) -> Vec<Delivery> {
    let payload = webhook::erased_payload(&shared::time::rfc3339(now), &lead.id, &lead.form);
    crate::services::announcing::once_per_lead(endpoints, lead, EventType::LeadErased, &payload, now)
}

/// How many unconfirmed leads one scheduled run erases at most.
pub const UNCONFIRMED_PER_RUN: u32 = 100;

/// Erases double opt-in leads nobody confirmed in time (`[mail] erase_unconfirmed_after_days`), oldest
/// first, at most [`UNCONFIRMED_PER_RUN`]: without the second step there is no consent to keep them for;
/// nothing was sent, so nothing is announced. They are found in the ledger's lead index (ids are
/// time-ordered, so "created before the cut-off" is "id below the cut-off's lowest id"). Returns how many
/// were erased.
pub async fn erase_unconfirmed<B: Backend>(b: &B, config: &FormsConfig) -> Result<usize, Error> {
    let Some(mail) = config.mail.as_ref() else { return Ok(0) };
    let cutoff = b.now_ms().saturating_sub(mail.erase_unconfirmed_after_ms());
    let list = cmd::List {
        form: None,
        status: Some(Status::Pending.as_str().to_owned()),
        since: None,
        qualified: Default::default(),
        before: Some(id::new("ld_", cutoff, [0; 10])),
        limit: UNCONFIRMED_PER_RUN,
    };
    let page: Page = ask(b, list).await?;
    let mut erased = 0;
    for id in &page.ids {
        // The index can lag behind a confirmation by a moment: the lead itself has the last word.
        if b.lead(id).await?.is_some_and(|l| l.status == Status::Pending) && erase(b, config, id, false).await?.is_some() {
            erased += 1;
        }
    }
    Ok(erased)
}
