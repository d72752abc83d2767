//! The qualification service: behaviour events recorded on a lead, and its stage moved by people or by the
//! CRM, over the storage seam.
//!
//! Both read the lead under the ledger's hold (like a confirmation or a repeat), change it with the pure
//! rules of `shared::stage` and `shared::score`, and write it with its announcements: `lead.stage_changed`
//! for every move (the rule's move to MQL included). A move to the stage the lead is at already changes
//! nothing and is answered as such, so feedback a CRM sends twice is harmless.

use crate::protocol::backend::Backend;
use crate::protocol::ledger::cmd;
use crate::services::announcing::{announce_owner, put_outbox_then_lead};
use crate::services::holding::under_hold;
use crate::services::sales::follow_up;
use crate::Error;
use shared::form::FormsConfig;
use shared::lead::Lead;
use shared::owner::Assigned;
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
/// With `scope` (an integration's key), only on its forms' leads and of its event types: `403` beyond.
/// `Ok(None)` when there is no such lead.
pub async fn record_event<B: Backend>(
    b: &B,
    config: &FormsConfig,
    scope: Option<&shared::config::Integration>,
    id: &str,
    kind: &str,
    at_ms: Option<u64>,
) -> Result<Option<Outcome>, Error> {
    let Some(lead) = b.lead(id).await? else { return Ok(None) };
    if scope.is_some_and(|i| !i.allows(&lead.form, kind)) {
        return Err(Error::OutOfScope);
    }
    let form = config.form(&lead.form).ok_or(Error::NotFound)?;
    if form.scoring.points(kind).is_none() {
        return Err(Error::Validation([("type".to_owned(), Code::InvalidChoice)].into()));
    }
    under_hold(b, &lead, async |held| {
        let Some(mut lead) = b.lead(id).await? else { return Ok(None) };
        let now = b.now_ms();
        let at = at_ms.unwrap_or(now).min(now);
        lead.record_event(kind, form.scoring.points(kind).unwrap_or(0), &shared::time::rfc3339(at));
        let change = lead.qualify(&form.scoring, now);
        lead.updated_at = shared::time::rfc3339(now);
        let deliveries = follow_up(b, config, &mut lead, change.as_ref(), now).await?;
        put_outbox_then_lead(b, held, &deliveries, &lead).await?;
        Ok(Some(Outcome { lead, change }))
    })
    .await
}

/// Moves the lead `id` to `to`, by a person or a CRM, for `reason`. `Ok(None)` when there is no such lead.
pub async fn move_stage<B: Backend>(b: &B, config: &FormsConfig, id: &str, to: Stage, by: &Mover<'_>, reason: &str) -> Result<Option<Outcome>, Error> {
    let Some(lead) = b.lead(id).await? else { return Ok(None) };
    let form = config.form(&lead.form).ok_or(Error::NotFound)?;
    under_hold(b, &lead, async |held| {
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
        let deliveries = follow_up(b, config, &mut lead, Some(&change), now).await?;
        put_outbox_then_lead(b, held, &deliveries, &lead).await?;
        Ok(Some(Outcome { lead, change: Some(change) }))
    })
    .await
}

/// Gives the lead `id` to `owner` by hand, for `reason`. `Ok(None)` when there is no such lead; an outcome
/// without a record when it has that owner already.
pub async fn reassign<B: Backend>(b: &B, config: &FormsConfig, id: &str, owner: &str, reason: &str) -> Result<Option<(Lead, Option<Assigned>)>, Error> {
    if !config.owners.iter().any(|o| o.id == owner) {
        return Err(Error::Validation([("owner".to_owned(), Code::InvalidChoice)].into()));
    }
    if reason.chars().count() > shared::stage::MAX_REASON {
        return Err(Error::Validation([("reason".to_owned(), Code::TooLong)].into()));
    }
    let Some(lead) = b.lead(id).await? else { return Ok(None) };
    under_hold(b, &lead, async |held| {
        let Some(mut lead) = b.lead(id).await? else { return Ok(None) };
        let now = b.now_ms();
        let why = if reason.trim().is_empty() { "assigned by hand" } else { reason.trim() };
        let Some(record) = lead.assign(owner, "admin", why, now) else { return Ok(Some((lead, None))) };
        lead.updated_at = shared::time::rfc3339(now);
        let mut deliveries = announce_owner(b, config, &lead, &record, now);
        deliveries.extend(crate::services::sales::on_assigned(b, config, &mut lead, now));
        put_outbox_then_lead(b, held, &deliveries, &lead).await?;
        Ok(Some((lead, Some(record))))
    })
    .await
}

/// What a feedback call did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Applied {
    /// Leads it moved (or whose consent it withdrew).
    pub applied: usize,
    /// Leads that were there already (a replay, or a stage reported twice).
    pub unchanged: usize,
    /// References it named that match no lead of the endpoint's forms.
    pub unknown: usize,
}

/// Applies what a feedback endpoint's (verified) call asks: each named lead moved, as by the endpoint, and
/// consents withdrawn where a mail tool reports an unsubscribe. Leads are found by id, by address (every
/// form the endpoint covers), or by the CRM's contact, whose address its API is asked for.
pub async fn feedback<B: Backend>(
    b: &B,
    config: &FormsConfig,
    endpoint: &shared::form::Feedback,
    asks: Vec<crate::rules::feedback::Ask>,
) -> Result<Applied, Error> {
    // A purpose none of the endpoint's forms offers is a mistake in the caller's setup: refused whole,
    // before anything is applied, rather than read as "withdraw everything".
    for purpose in asks.iter().filter_map(|a| a.withdrawn.as_deref()) {
        let offered = config.forms.iter().filter(|f| endpoint.covers(&f.id)).any(|f| f.consents.iter().any(|c| c.id == purpose));
        if purpose != ALL_PURPOSES && !offered {
            return Err(Error::Validation([("consent_withdrawn".to_owned(), Code::UnknownPurpose)].into()));
        }
    }
    let mut done = Applied::default();
    let by = Mover::Endpoint(&endpoint.id);
    for ask in asks {
        let leads = resolve(b, endpoint, &ask.lead).await?;
        if leads.is_empty() {
            done.unknown += 1;
            continue;
        }
        for id in leads {
            let mut changed = false;
            if let Some(stage) = ask.stage {
                match move_stage(b, config, &id, stage, &by, &ask.reason).await? {
                    Some(outcome) => changed |= outcome.change.is_some(),
                    None => {
                        done.unknown += 1;
                        continue;
                    }
                }
            }
            if let Some(what) = &ask.touched {
                changed |= crate::services::sales::touch(b, &id, &endpoint.id, what).await? == Some(true);
            }
            if let Some(purpose) = &ask.withdrawn {
                // A lead on a covered form that does not offer the purpose has nothing to withdraw.
                let purposes = (purpose != ALL_PURPOSES).then(|| vec![purpose.clone()]);
                let lead = b.lead(&id).await?.filter(|l| crate::services::withdrawal::check_purposes(config, l, purposes.as_deref()).is_ok());
                if let Some(lead) = lead {
                    let note = Some(format!("{purpose} withdrawn, reported by {}", endpoint.id));
                    let request = crate::services::withdrawal::Request { via: endpoint.id.clone(), client: None, note, purposes };
                    changed |= crate::services::withdrawal::withdraw(b, config, &lead, request).await? != crate::services::withdrawal::Withdrawn::Already;
                }
            }
            if changed {
                done.applied += 1;
            } else {
                done.unchanged += 1;
            }
        }
    }
    Ok(done)
}

/// What a mail tool sends as `consent_withdrawn` to withdraw every purpose at once.
pub const ALL_PURPOSES: &str = "all";

/// The ids of the leads a feedback reference names, on the forms the endpoint covers.
async fn resolve<B: Backend>(b: &B, endpoint: &shared::form::Feedback, lead: &crate::rules::feedback::LeadRef) -> Result<Vec<String>, Error> {
    use crate::rules::feedback::LeadRef;
    let email = match lead {
        LeadRef::Id(id) => {
            let found = b.lead(id).await?.filter(|l| endpoint.covers(&l.form));
            return Ok(found.map(|l| l.id).into_iter().collect());
        }
        LeadRef::Email(email) => email.clone(),
        LeadRef::HubspotContact(contact) => match contact_email(b, endpoint, &format!("/crm/v3/objects/contacts/{contact}?properties=email"), true).await? {
            Some(email) => email,
            None => return Ok(Vec::new()),
        },
        LeadRef::PipedrivePerson(person) => match contact_email(b, endpoint, &format!("/v1/persons/{person}"), false).await? {
            Some(email) => email,
            None => return Ok(Vec::new()),
        },
    };
    let held = crate::protocol::backend::ask(b, cmd::Find { email: crate::rules::intake::email_hash(email.trim()) }).await?;
    Ok(held.into_iter().filter(|h| endpoint.covers(&h.form)).map(|h| h.lead).collect())
}

/// Asks a CRM's API for the address of the contact (HubSpot, bearer token) or person (Pipedrive, the
/// `x-api-token` header) at `path`. `None` when the CRM does not know it (404) or has no address for it.
/// A token never goes into the URL, where proxies and access logs keep it.
async fn contact_email<B: Backend>(b: &B, endpoint: &shared::form::Feedback, path: &str, bearer: bool) -> Result<Option<String>, Error> {
    let name = endpoint.token.as_deref().unwrap_or_default();
    let token = b.secret(name).ok_or_else(|| Error::Misconfigured(name.to_owned()))?;
    let base = endpoint.api_base();
    let headers = if bearer { vec![("Authorization", format!("Bearer {token}"))] } else { vec![("x-api-token", token)] };
    let out = crate::rules::crm::Outbound { method: "GET", url: format!("{base}{path}"), headers, body: None };
    let reply = b
        .call(&out, crate::services::delivery::TIMEOUT_MS, crate::rules::crm::Read::Body)
        .await
        .map_err(|e| Error::Upstream(format!("{} API: {e}", endpoint.id)))?;
    match reply.status {
        404 => Ok(None),
        200..=299 => Ok(crate::rules::feedback::contact_email(&reply.body)),
        status => Err(Error::Upstream(format!("{} API answered {status}", endpoint.id))),
    }
}
