//! What a change of a stored lead announces, and how it is written with its announcements: outbox
//! entries per endpoint (fresh ids, or derived from the lead for events a lead has once), the confirmation
//! mail, the owner a stage brings with its `lead.assigned`, and the held write that queues, writes and
//! sends in that order so nothing is announced that was not stored.

use crate::protocol::backend::{random, Backend};
use crate::protocol::ledger;
use crate::protocol::ledger::cmd;
use crate::protocol::outbox::Delivery;
use crate::rules::webhook::{self, EventType};
use crate::services::holding::Holding;
use crate::{rules::crm, rules::id, rules::mail, rules::token, Error};
use shared::form::{Endpoint, FormDef, FormsConfig};
use shared::lead::Lead;
use shared::owner::Assigned;
use shared::stage::Change;

/// Queues deliveries in the ledger's outbox, all or none, in one ledger request. They are parked (due only
/// after [`ledger::RESERVATION_MS`]) until the request that queued them has stored what they announce and
/// sends them ([`send_outbox`], or the settle of a submission): an announcement never overtakes its lead,
/// and a request that dies in between leaves deliveries that still go out, a minute late.
pub async fn put_outbox<B: Backend>(b: &B, deliveries: &[Delivery]) -> Result<(), Error> {
    if deliveries.is_empty() {
        return Ok(());
    }
    // A delivery due later than the parking time (a response-time check) keeps its own time.
    let parked = b.now_ms().saturating_add(ledger::RESERVATION_MS);
    let deliveries = deliveries.iter().map(|d| Delivery { next_at_ms: d.next_at_ms.max(parked), ..d.clone() }).collect();
    b.send(cmd::Queue { deliveries }).await.map(|_| ())
}

/// Makes parked deliveries due: now, or at their own later time (a response-time check due in three
/// minutes stays due then). What they announce is stored.
pub async fn send_outbox<B: Backend>(b: &B, deliveries: &[Delivery]) -> Result<(), Error> {
    if deliveries.is_empty() {
        return Ok(());
    }
    let now = b.now_ms();
    for ((lead, at), ids) in grouped(deliveries, |d| (d.lead_id.clone(), d.next_at_ms.max(now))) {
        b.send(cmd::Send { ids, lead, now: at }).await?;
    }
    Ok(())
}

/// The deliveries' ids grouped by `key` (each lead's ledger object holds its deliveries, so a key names
/// the lead), in the order the keys first appear.
fn grouped<K: PartialEq>(deliveries: &[Delivery], key: impl Fn(&Delivery) -> K) -> Vec<(K, Vec<String>)> {
    let mut out: Vec<(K, Vec<String>)> = Vec::new();
    for d in deliveries {
        let k = key(d);
        match out.iter_mut().find(|(other, _)| *other == k) {
            Some((_, ids)) => ids.push(d.id.clone()),
            None => out.push((k, vec![d.id.clone()])),
        }
    }
    out
}

/// Takes queued deliveries out again (what they announce could not be stored).
pub async fn unqueue<B: Backend>(b: &B, deliveries: &[Delivery]) -> Result<(), Error> {
    if deliveries.is_empty() {
        return Ok(());
    }
    for (lead, ids) in grouped(deliveries, |d| d.lead_id.clone()) {
        b.send(cmd::Unqueue { ids, lead }).await?;
    }
    Ok(())
}

/// Queues a changed lead's deliveries, writes the lead, and sends the deliveries. If the lead cannot be
/// written the deliveries are taken out again and the error returned: nothing is announced that was not
/// stored, and the caller may simply retry. Only under the ledger's hold on that lead (`held`): every
/// change of a stored lead but a submission's and an import's (which hold it through their claims) comes
/// through here.
pub async fn put_outbox_then_lead<B: Backend>(b: &B, held: &Holding, deliveries: &[Delivery], lead: &Lead) -> Result<(), Error> {
    if held.lead() != lead.id {
        return Err(Error::Internal(format!("lead {} written under the hold of {}", lead.id, held.lead())));
    }
    put_outbox(b, deliveries).await?;
    if let Err(e) = b.put_lead(lead).await {
        let _ = unqueue(b, deliveries).await;
        return Err(e);
    }
    // Stored: if this last step is lost, the parked deliveries go out a minute later all the same.
    let _ = send_outbox(b, deliveries).await;
    Ok(())
}

/// The `lead.updated` outbox entries announcing what a repeat (`record`) filled or granted on `lead`, on a
/// form without double opt-in: for a repeated submission and for an import row of a known address alike.
pub fn updated_entries<B: Backend>(b: &B, form: &FormDef, lead: &Lead, record: &shared::lead::Repeat, now: u64) -> Vec<Delivery> {
    let changes =
        webhook::Changes { submission: record.id.clone(), filled: record.filled.clone(), consent_added: record.consent_added.clone(), confirmed_by: "none" };
    let payload = webhook::updated_payload(&lead.updated_at, lead, &changes);
    outbox_entries(|| id::new("msg_", now, random(b)), &form.webhooks, &lead.id, &form.id, EventType::LeadUpdated, &payload, now)
}

/// The delivery "endpoint" of confirmation mails in the outbox.
pub const MAIL_ENDPOINT: &str = "_mail";

/// How long the withdraw link in a confirmation mail works: withdrawing must stay as easy as consenting.
const WITHDRAW_LINK_MS: u64 = 365 * 86_400_000;

/// The outbox entry that sends a lead a mail of `ask` (to confirm its address or a repeat's change, or the
/// way to its download), with a signed link that works for `[mail] confirm_within_hours` and a withdraw
/// link: for submissions and imports alike. With `change` (a held change's hash) the confirmation link
/// confirms exactly that change. It is in the bulk lane (an import's thousand mails are a backlog); a
/// caller whose visitor is waiting for it marks it [`Delivery::urgent`].
#[allow(clippy::too_many_arguments)] // what a mail needs; grouping them would only rename `Intake`
pub fn mail_entry<B: Backend>(
    b: &B,
    config: &FormsConfig,
    form: &FormDef,
    signing: &str,
    origin: &str,
    lead: &Lead,
    now: u64,
    ask: mail::Ask,
    change: Option<&str>,
) -> Result<Delivery, Error> {
    let settings = config.mail.as_ref().ok_or_else(|| Error::Config(format!("form {} asks for double opt-in but there is no [mail]", form.id)))?;
    let key = signing.as_bytes();
    let confirm = token::change_link(origin, key, &lead.id, change, now + settings.confirm_within_ms());
    let withdraw = token::link(origin, key, token::Purpose::Withdraw, &lead.id, now + WITHDRAW_LINK_MS);
    let lang = lead.consent.lang;
    let to = lead.fields.get("email").map_or("", String::as_str);
    let message =
        mail::confirmation(settings, lang, to, form.title.as_ref().map(|t| t.get(lang)), ask, &mail::Links { confirm: &confirm, withdraw: &withdraw });
    let payload = serde_json::to_string(&message)?;
    Ok(Delivery::pending(id::new("msg_", now, random(b)), &lead.id, &form.id, MAIL_ENDPOINT, "mail.confirmation", &payload, now))
}

/// One pending delivery of `event` per endpoint that takes it, for an event a lead has at most once (its
/// confirmation, its erasure): each id is derived from the lead, the endpoint and the event, so should
/// anything queue it twice (a retried erasure, two presses), receivers see one `webhook-id`.
pub fn once_per_lead(endpoints: &[Endpoint], lead: &Lead, event: EventType, payload: &str, now: u64) -> Vec<Delivery> {
    let created = shared::time::parse(&lead.created_at).unwrap_or(now);
    endpoints
        .iter()
        .filter(|ep| crm::accepts(ep.adapter, event))
        .map(|ep| {
            let id = id::derived("msg_", created, &[lead.id.as_bytes(), b"/", ep.id.as_bytes(), b"/", event.as_str().as_bytes()]);
            Delivery::pending(id, &lead.id, &lead.form, &ep.id, event.as_str(), payload, now)
        })
        .collect()
}

/// One pending delivery of `event` per endpoint that takes it (a CRM adapter may not: see `crm::accepts`),
/// each with a fresh id from `ids`.
pub fn outbox_entries(
    mut ids: impl FnMut() -> String,
    endpoints: &[Endpoint],
    lead: &str,
    form: &str,
    event: EventType,
    payload: &str,
    now: u64,
) -> Vec<Delivery> {
    endpoints.iter().filter(|ep| crm::accepts(ep.adapter, event)).map(|ep| Delivery::pending(ids(), lead, form, &ep.id, event.as_str(), payload, now)).collect()
}

/// `lead.assigned` for the form's endpoints that take it.
pub fn announce_owner<B: Backend>(b: &B, config: &FormsConfig, lead: &Lead, assigned: &Assigned, now: u64) -> Vec<Delivery> {
    let endpoints = config.form(&lead.form).map(|f| f.webhooks.as_slice()).unwrap_or_default();
    let card = config.owners.iter().find(|o| o.id == assigned.to);
    let payload = webhook::assigned_payload(&assigned.at, lead, assigned, card);
    outbox_entries(|| id::new("msg_", now, random(b)), endpoints, &lead.id, &lead.form, EventType::LeadAssigned, &payload, now)
}

/// `lead.stage_changed` for the form's endpoints that take it.
pub fn announce<B: Backend>(b: &B, config: &FormsConfig, lead: &Lead, change: &Change, now: u64) -> Vec<Delivery> {
    let endpoints = config.form(&lead.form).map(|f| f.webhooks.as_slice()).unwrap_or_default();
    let payload = webhook::stage_payload(&change.at, lead, change);
    outbox_entries(|| id::new("msg_", now, random(b)), endpoints, &lead.id, &lead.form, EventType::LeadStageChanged, &payload, now)
}
