//! The delivery service: one attempt at a queued delivery (a signed webhook, a CRM's API calls, or a
//! confirmation mail through the mail API), and an alarm run of the ledger that attempts what is due.
//!
//! Deliveries live in the ledger's outbox. Queuing one sets the ledger's alarm for its due time; the
//! alarm takes what is due ([`Command::Due`] leases it, so nothing is attempted twice at once), attempts
//! it here, and records each outcome as it comes in ([`Command::Record`], which only updates a row that is
//! still there: an attempt that ends after an erasure writes nothing back). The cron trigger only wakes
//! the ledger, in case an alarm was lost.

use crate::protocol::backend::{ask, random, Backend};
use crate::protocol::ledger::cmd;
use crate::protocol::ledger::PER_RUN;
use crate::protocol::outbox::{self, Delivery, Outcome, State};
use crate::rules::crm::{self, Outbound, Read, Reply};
use crate::services::announcing::MAIL_ENDPOINT;
use crate::services::mailer::{self, Handed};
use crate::{rules::mail, rules::webhook, Error};
use futures_util::stream::{FuturesUnordered, StreamExt};
use shared::form::{Adapter, Endpoint, FormsConfig};
use shared::lead::Lead;

/// How long one webhook attempt may take before it counts as a timeout, unless the endpoint says otherwise.
pub const TIMEOUT_MS: u64 = 15_000;

/// What an alarm run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Run {
    /// Deliveries attempted.
    pub attempted: usize,
    /// Of those, delivered.
    pub delivered: usize,
}

/// Takes the due deliveries from the ledger, attempts them side by side, and records each outcome as it
/// comes in. Never fails on an endpoint's fault; a ledger fault fails the run (the deliveries whose records
/// were lost stay leased and are taken again when their lease ends).
pub async fn run_due<B: Backend>(b: &B, config: &FormsConfig) -> Result<Run, Error> {
    let due: Vec<Delivery> = ask(b, cmd::Due { now: b.now_ms(), limit: PER_RUN }).await?;
    let mut attempts: FuturesUnordered<_> = due
        .into_iter()
        .map(|mut d| async move {
            let disable = attempt(b, config, &mut d).await;
            (d, disable)
        })
        .collect();
    let mut run = Run::default();
    let mut lost = None;
    while let Some((mut d, disable)) = attempts.next().await {
        run.attempted += 1;
        run.delivered += usize::from(d.state == State::Delivered);
        // The ledger keeps the payload it has; the record only carries the outcome.
        d.payload = String::new();
        // A record that is lost leaves its delivery leased, to be attempted again when the lease ends; the
        // others are still recorded.
        if let Err(e) = b.send(cmd::Record { delivery: d, disable, now: b.now_ms() }).await {
            lost = Some(e);
        }
    }
    match lost {
        Some(e) => Err(e),
        None => Ok(run),
    }
}

/// Makes one attempt at `d` and writes its outcome into `d` (state, attempts, next time, last answer).
/// Returns whether the endpoint asked to be disabled (410 Gone). Never fails: every problem is written into
/// the delivery for the next try and the admin API.
pub async fn attempt<B: Backend>(b: &B, config: &FormsConfig, d: &mut Delivery) -> bool {
    let now = b.now_ms();
    let jitter = f64::from(random::<1, B>(b)[0]) / 255.0;
    if d.endpoint == crate::services::sales::SLA_ENDPOINT {
        // A response-time check: "delivered" once it has run (whatever it found), retried if it could not.
        match crate::services::sales::check(b, config, d).await {
            Ok(()) => d.delivered(200),
            Err(e) => d.failed(now, None, Some(e.log_line().unwrap_or_else(|| "the check failed".into())), None, jitter, outbox::SCHEDULE_SECS),
        }
        log(b, d);
        return false;
    }
    if d.endpoint == MAIL_ENDPOINT {
        match config.mail.as_ref() {
            None => {
                d.state = State::Dead;
                d.last_error = Some("mail is no longer configured".into());
            }
            Some(settings) => match serde_json::from_str::<mail::Mail>(&d.payload) {
                Err(e) => d.failed(now, None, Some(format!("stored mail unreadable: {e}")), None, jitter, outbox::SCHEDULE_SECS),
                Ok(message) => match mailer::hand_over(b, settings, &message, &d.id, TIMEOUT_MS).await {
                    Handed::Accepted(status) => d.delivered(status),
                    // A refusal no retry can change (a bad key, an unverified sender, a malformed address):
                    // dead at once, and visible in the admin API, rather than retried for a day.
                    Handed::Refused { status, why } => d.refused(status, &format!("{why}; fix the [mail] settings, then replay it")),
                    Handed::Failed { status, why, retry_after } => d.failed(now, status, why, retry_after, jitter, outbox::SCHEDULE_SECS),
                },
            },
        }
        log(b, d);
        return false;
    }
    let Some(endpoint) = config.form(&d.form).and_then(|f| f.webhooks.iter().find(|e| e.id == d.endpoint)) else {
        d.state = State::Dead;
        d.last_error = Some("endpoint no longer configured".into());
        log(b, d);
        return false;
    };
    let schedule = endpoint.schedule.as_deref().unwrap_or(outbox::SCHEDULE_SECS);
    let mut disable = false;
    match send(b, endpoint, d, now).await {
        Ok(reply) => match outbox::classify(Some(reply.status)) {
            Outcome::Delivered => d.delivered(reply.status),
            Outcome::Gone => {
                d.failed(now, Some(reply.status), Some("endpoint answered 410 Gone and was disabled".into()), None, jitter, schedule);
                disable = true;
            }
            Outcome::Retry => d.failed(now, Some(reply.status), None, reply.retry_after, jitter, schedule),
        },
        Err(reason) => d.failed(now, None, Some(reason), None, jitter, schedule),
    }
    log(b, d);
    disable
}

/// Logs an attempt that did not deliver. Delivered ones are not logged: the outbox lists them, and a log
/// line per delivery took about 4% of a submission's CPU time in a profile on local workerd.
fn log<B: Backend>(b: &B, d: &Delivery) {
    if d.state != State::Delivered {
        b.log(&format!("delivery {} to {} attempt {} -> {:?} {:?}", d.id, d.endpoint, d.attempts, d.state, d.last_status));
    }
}

/// Sends a delivery to a configured endpoint: `Ok` with what the endpoint answered, `Err(reason)` when it
/// did not answer.
async fn send<B: Backend>(b: &B, endpoint: &Endpoint, d: &Delivery, now_ms: u64) -> Result<Reply, String> {
    let timeout_ms = endpoint.timeout_ms.unwrap_or(TIMEOUT_MS);
    let lead = || -> Result<Lead, String> {
        let event: serde_json::Value = serde_json::from_str(&d.payload).map_err(|e| format!("stored payload unreadable: {e}"))?;
        serde_json::from_value(event.get("data").cloned().unwrap_or_default()).map_err(|e| format!("stored payload has no lead: {e}"))
    };
    match endpoint.adapter {
        Adapter::Standard => {
            let secrets = b.secret(&endpoint.secret).ok_or_else(|| format!("secret {} is not set", endpoint.secret))?;
            let secrets = webhook::parse_secrets(&secrets).map_err(|e| e.log_line().unwrap_or_default())?;
            let timestamp = now_ms / 1000;
            let headers = vec![
                ("Content-Type", "application/json".to_owned()),
                ("webhook-id", d.id.clone()),
                ("webhook-timestamp", timestamp.to_string()),
                ("webhook-signature", webhook::signature_header(&secrets, &d.id, timestamp, &d.payload)),
            ];
            b.call(&Outbound { method: "POST", url: endpoint.url.clone(), headers, body: Some(d.payload.clone()) }, timeout_ms, Read::Status).await
        }
        Adapter::Hubspot => b.call(&crm::hubspot(endpoint, &lead()?, now_ms), timeout_ms, Read::Status).await,
        Adapter::Salesforce => b.call(&crm::salesforce(endpoint, &lead()?), timeout_ms, Read::Status).await,
        Adapter::Pipedrive => {
            let name = endpoint.token.as_deref().unwrap_or_default();
            let token = b.secret(name).ok_or_else(|| format!("secret {name} is not set"))?;
            let lead = lead()?;
            // Each step that fails ends the attempt with its status; the next attempt starts with the search
            // again, so a person created before a failure is found rather than created twice.
            let found = b.call(&crm::pipedrive::find_person(endpoint, &token, &lead), timeout_ms, Read::Body).await?;
            if !(200..300).contains(&found.status) {
                return Ok(found);
            }
            let person = match crm::pipedrive::found(&found.body) {
                Some(id) => id,
                None => {
                    let created = b.call(&crm::pipedrive::create_person(endpoint, &token, &lead), timeout_ms, Read::Body).await?;
                    if !(200..300).contains(&created.status) {
                        return Ok(created);
                    }
                    crm::pipedrive::created(&created.body).ok_or("Pipedrive created a person but sent no id")?
                }
            };
            b.call(&crm::pipedrive::create_lead(endpoint, &token, &lead, person), timeout_ms, Read::Status).await
        }
    }
}
