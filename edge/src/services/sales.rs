//! Speed to lead: an owner hears of a lead the moment it is theirs, works it from the mail's link (first
//! contact, "not mine", disqualify), and a lead nobody touched within its response-time agreement is taken
//! over at its due time.
//!
//! The agreement's check is an outbox entry (`_sla`) due exactly at the lead's due time, in the urgent lane:
//! the ledger's alarm fires for it as it fires for a webhook, so escalation needs no cron and no scan of
//! stored leads. The check changes nothing when the lead was touched or given to someone else meanwhile.
//!
//! Who gets a lead by the form's rule, and when (at creation, at MQL: `assign_due`, `follow_up`), lives
//! here too: every assignment leads to [`on_assigned`].

use crate::protocol::backend::{random, Backend};
use crate::protocol::ledger::cmd;
use crate::protocol::outbox::Delivery;
use crate::rules::webhook::{self, EventType};
use crate::rules::{id, mail, token};
use crate::services::announcing::{announce, announce_owner, outbox_entries, put_outbox_then_lead, MAIL_ENDPOINT};
use crate::services::holding::under_hold;
use crate::Error;
use shared::form::FormsConfig;
use shared::lead::{Lead, Status};
use shared::owner::{Assigned, Moment, Sla};
use shared::stage::{Change, Mover, Refusal, Stage};
use shared::time::rfc3339;
use shared::Code;

/// The outbox "endpoint" of response-time checks.
pub const SLA_ENDPOINT: &str = "_sla";

/// The variable holding the collector's public address (`https://leads.example.com`), for the links in
/// mails sent outside a visitor's request (an owner's mail after an escalation, say).
pub const ORIGIN: &str = "LEADGATE_ORIGIN";

/// How long an owner's link to a lead works.
pub const WORK_LINK_MS: u64 = 14 * 86_400_000;

/// What follows a lead becoming `lead.owner`'s: under a response-time agreement, the agreement (on the
/// lead) and its check at the due time; the owner's mail. A lead still waiting for its double opt-in is
/// nobody's to call yet: its owner hears of it when the address is confirmed.
pub fn on_assigned<B: Backend>(b: &B, config: &FormsConfig, lead: &mut Lead, now: u64) -> Vec<Delivery> {
    let Some(owner) = lead.owner.clone() else { return Vec::new() };
    if lead.status == Status::Pending {
        return Vec::new();
    }
    let mut out = Vec::new();
    let rule = config.form(&lead.form).and_then(|f| f.assign.as_ref());
    if let Some((rule, span)) = rule.and_then(|r| r.respond_within_ms().map(|ms| (r, ms))).filter(|_| lead.first_touch.is_none()) {
        let due = shared::hours::due_at(rule.hours.as_ref(), now, span);
        lead.sla = Some(Sla { owner: owner.clone(), since: rfc3339(now), due: rfc3339(due), breached: None });
        let payload = serde_json::json!({ "owner": owner }).to_string();
        out.push(Delivery::pending(id::new("msg_", now, random(b)), &lead.id, &lead.form, SLA_ENDPOINT, "lead.sla_due", &payload, due).urgent());
    }
    out.extend(notice(b, config, lead, &owner, mail::Notice::Assigned, now));
    out
}

/// Gives `lead` to `next` (by `by`, for `why`) and what follows: `lead.assigned`, and the new owner's
/// agreement and mail. Nothing when it is theirs already.
fn hand_over<B: Backend>(b: &B, config: &FormsConfig, lead: &mut Lead, next: &str, by: &str, why: &str, now: u64) -> Vec<Delivery> {
    let Some(record) = lead.assign(next, by, why, now) else { return Vec::new() };
    let mut out = announce_owner(b, config, lead, &record, now);
    out.extend(on_assigned(b, config, lead, now));
    out
}

/// The mail telling `to` (an owner's id) about `lead`, with their link to it; none when mail, the owner's
/// address, the signing secret or the collector's public address is missing (the last is logged).
fn notice<B: Backend>(b: &B, config: &FormsConfig, lead: &Lead, to: &str, kind: mail::Notice, now: u64) -> Option<Delivery> {
    let settings = config.mail.as_ref()?;
    let card = config.owners.iter().find(|o| o.id == to)?;
    let address = card.email.as_deref()?;
    let (Some(origin), Some(signing)) = (b.secret(ORIGIN), b.secret("SIGNING_SECRET")) else {
        b.log(&format!("owner mail for {} not sent: set {ORIGIN} (the collector's public address) and SIGNING_SECRET", lead.id));
        return None;
    };
    let open = token::work_link(origin.trim_end_matches('/'), signing.as_bytes(), &lead.id, to, now + WORK_LINK_MS);
    let form = config.form(&lead.form);
    let lang = card.lang.unwrap_or(shared::Lang::De);
    let what = form.and_then(|f| f.title.as_ref()).map_or(lead.form.as_str(), |t| t.get(lang));
    let due = lead.sla.as_ref().filter(|s| s.owner == to && s.breached.is_none()).map(|s| s.due.as_str());
    let message = mail::owner_notice(settings, (&card.name, address, lang), lead, what, due, kind, &mail::WorkLinks { open: &open });
    let payload = serde_json::to_string(&message).ok()?;
    Some(Delivery::pending(id::new("msg_", now, random(b)), &lead.id, &lead.form, MAIL_ENDPOINT, "mail.owner", &payload, now).urgent())
}

/// The check of a response-time agreement at its due time (`d`, an [`SLA_ENDPOINT`] entry): if the lead is
/// still its owner's and untouched, the agreement is broken: recorded on the lead, announced as
/// `lead.sla_breached`, the lead given to the next owner present (round-robin) or the fallback, and the
/// fallback told. Otherwise nothing changes.
pub async fn check<B: Backend>(b: &B, config: &FormsConfig, d: &Delivery) -> Result<(), Error> {
    let payload = serde_json::from_str::<serde_json::Value>(&d.payload)?;
    let owner = payload.get("owner").and_then(serde_json::Value::as_str).unwrap_or_default().to_owned();
    let Some(lead) = b.lead(&d.lead_id).await? else { return Ok(()) };
    under_hold(b, &lead, async |held| {
        let Some(mut lead) = b.lead(&d.lead_id).await? else { return Ok(()) };
        let now = b.now_ms();
        let running = lead.sla.as_ref().is_some_and(|s| s.owner == owner && s.breached.is_none());
        if lead.first_touch.is_some() || lead.owner.as_deref() != Some(owner.as_str()) || !running {
            return Ok(());
        }
        if let Some(sla) = lead.sla.as_mut() {
            sla.breached = Some(rfc3339(now));
        }
        lead.updated_at = rfc3339(now);
        let form = config.form(&lead.form);
        let rule = form.and_then(|f| f.assign.as_ref());
        let payload = webhook::payload(EventType::LeadSlaBreached, &lead.updated_at, &lead);
        let endpoints = form.map(|f| f.webhooks.as_slice()).unwrap_or_default();
        let mut deliveries = outbox_entries(|| id::new("msg_", now, random(b)), endpoints, &lead.id, &lead.form, EventType::LeadSlaBreached, &payload, now);
        if let Some(next) = rule.and_then(|r| r.next_after(&config.owners, &owner, now)) {
            let seconds = rule.and_then(|r| r.respond_within_ms()).unwrap_or_default() / 1000;
            let span = if seconds.is_multiple_of(60) { format!("{} minutes", seconds / 60) } else { format!("{seconds} seconds") };
            let why = format!("no first contact by {owner} within {span} of working time");
            deliveries.extend(hand_over(b, config, &mut lead, &next, "sla", &why, now));
        }
        if let Some(fallback) = rule.and_then(|r| r.fallback.as_deref()).filter(|f| lead.owner.as_deref() != Some(*f)) {
            deliveries.extend(notice(b, config, &lead, fallback, mail::Notice::Breached, now));
        }
        put_outbox_then_lead(b, held, &deliveries, &lead).await
    })
    .await
}

/// Records the first touch of the lead `id` as reported by a CRM (`by`, the feedback endpoint), for `what`
/// it logged (a call, a deal created). `Some(true)` when it was the first, `Some(false)` when there was one
/// already, `None` when the lead is gone.
pub async fn touch<B: Backend>(b: &B, id: &str, by: &str, what: &str) -> Result<Option<bool>, Error> {
    let Some(lead) = b.lead(id).await? else { return Ok(None) };
    if lead.first_touch.is_some() {
        return Ok(Some(false));
    }
    under_hold(b, &lead, async |held| {
        let Some(mut lead) = b.lead(id).await? else { return Ok(None) };
        let now = b.now_ms();
        if !lead.touch(by, "crm", now) {
            return Ok(Some(false));
        }
        if let Some(touch) = lead.first_touch.as_mut() {
            touch.what = Some(what.to_owned());
        }
        lead.updated_at = rfc3339(now);
        put_outbox_then_lead(b, held, &[], &lead).await?;
        Ok(Some(true))
    })
    .await
}

/// What an owner does with a lead from its link or their page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// They reached the lead: the first touch.
    Contacted,
    /// Not theirs: to the next owner by the rule.
    NotMine,
    /// Out of the funnel, with the reason.
    Disqualify(String),
}

/// What an action did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Acted {
    /// The first touch was recorded (`true`), or there was one already (`false`).
    Touched(bool),
    /// The lead went to this owner (none: nobody else may take it, and it stays).
    Passed(Option<String>),
    /// The lead is disqualified.
    Disqualified,
    /// The lead is not (or no longer) theirs: nothing changed.
    NotYours,
}

/// Does `action` on the lead `id` for `by` (an owner's id, from their signed link), who must be its owner
/// or its form's fallback owner. `Ok(None)` when the lead is gone.
pub async fn act<B: Backend>(b: &B, config: &FormsConfig, id: &str, by: &str, action: &Action, via: &str) -> Result<Option<(Lead, Acted)>, Error> {
    if let Action::Disqualify(reason) = action {
        if reason.trim().is_empty() || reason.chars().count() > shared::stage::MAX_REASON {
            let code = if reason.trim().is_empty() { Code::Required } else { Code::TooLong };
            return Err(Error::Validation([("reason".to_owned(), code)].into()));
        }
    }
    let Some(lead) = b.lead(id).await? else { return Ok(None) };
    under_hold(b, &lead, async |held| {
        let Some(mut lead) = b.lead(id).await? else { return Ok(None) };
        let now = b.now_ms();
        let form = config.form(&lead.form);
        let rule = form.and_then(|f| f.assign.as_ref());
        let fallback = rule.and_then(|r| r.fallback.as_deref());
        if lead.owner.as_deref() != Some(by) && fallback != Some(by) {
            return Ok(Some((lead, Acted::NotYours)));
        }
        let actor = format!("owner:{by}");
        let (acted, deliveries) = match action {
            Action::Contacted => (Acted::Touched(lead.touch(by, via, now)), Vec::new()),
            Action::NotMine => {
                let current = lead.owner.clone().unwrap_or_default();
                match rule.and_then(|r| r.next_after(&config.owners, &current, now)) {
                    None => return Ok(Some((lead, Acted::Passed(None)))),
                    Some(next) => {
                        let out = hand_over(b, config, &mut lead, &next, &actor, "not mine", now);
                        (Acted::Passed(Some(next)), out)
                    }
                }
            }
            Action::Disqualify(reason) => {
                let scoring = form.map(|f| f.scoring.clone()).unwrap_or_default();
                match lead.move_to(Stage::Disqualified, &Mover::Endpoint(&actor), reason, &scoring, now) {
                    Ok(change) => (Acted::Disqualified, follow_up(b, config, &mut lead, Some(&change), now).await?),
                    Err(Refusal::Unchanged) => return Ok(Some((lead, Acted::Disqualified))),
                    Err(_) => return Err(Error::Validation([("reason".to_owned(), Code::Required)].into())),
                }
            }
        };
        if acted == Acted::Touched(false) {
            return Ok(Some((lead, acted)));
        }
        lead.updated_at = rfc3339(now);
        put_outbox_then_lead(b, held, &deliveries, &lead).await?;
        Ok(Some((lead, acted)))
    })
    .await
}

/// Gives `lead` an owner if its form's rule assigns at `moment` and it has none yet (round-robin takes its
/// turn from the ledger, so racing leads never get the same one). Returns the record.
pub async fn assign_due<B: Backend>(b: &B, config: &FormsConfig, lead: &mut Lead, moment: Moment, now: u64) -> Result<Option<Assigned>, Error> {
    let Some(rule) = config.form(&lead.form).and_then(|f| f.assign.as_ref()) else { return Ok(None) };
    if rule.at != moment || lead.owner.is_some() {
        return Ok(None);
    }
    let turn = if rule.needs_turn() {
        let turn = crate::protocol::backend::ask(b, cmd::Turn { name: format!("assign:{}", lead.form), count: 1, until: None }).await?;
        turn.turn
    } else {
        0
    };
    let Some((owner, why)) = rule.pick(&config.owners, &lead.fields, turn, now) else { return Ok(None) };
    Ok(lead.assign(&owner, "rule", &why, now))
}

/// What follows a stage change: the owner due when a lead becomes an MQL, then the announcements of the
/// move (`lead.stage_changed`, with the owner in its data) and of the assignment (`lead.assigned`).
pub async fn follow_up<B: Backend>(b: &B, config: &FormsConfig, lead: &mut Lead, change: Option<&Change>, now: u64) -> Result<Vec<Delivery>, Error> {
    let Some(change) = change else { return Ok(Vec::new()) };
    let assigned = if change.to == Stage::Mql { assign_due(b, config, lead, Moment::Mql, now).await? } else { None };
    let mut out = announce(b, config, lead, change, now);
    if let Some(a) = &assigned {
        out.extend(announce_owner(b, config, lead, a, now));
        out.extend(on_assigned(b, config, lead, now));
    }
    Ok(out)
}

/// The most leads one speed-to-lead report reads (newest first); a report that stops there says so.
pub const SPEED_MAX_LEADS: usize = 20_000;

/// The speed-to-lead numbers of the leads `filter` names (newest first, at most [`SPEED_MAX_LEADS`]),
/// grouped `by`; and how many leads were read, and whether that was all of them. Runs in the operator
/// Worker over the lead index and bulk document reads, as the CSV export does: never in a ledger object.
pub async fn speed<B: Backend>(
    b: &B,
    config: &FormsConfig,
    filter: &crate::services::listing::Filter,
    by: crate::rules::speed::By,
) -> Result<(Vec<crate::rules::speed::Line>, usize, bool), Error> {
    let mut leads = Vec::new();
    let mut cursor = None;
    loop {
        let (page, next) = crate::services::listing::page(b, filter, cursor, 500).await?;
        leads.extend(page);
        match next {
            Some(next) if leads.len() < SPEED_MAX_LEADS => cursor = Some(next),
            Some(_) => return Ok((crate::rules::speed::report(config, &leads, by, b.now_ms()), leads.len(), false)),
            None => return Ok((crate::rules::speed::report(config, &leads, by, b.now_ms()), leads.len(), true)),
        }
    }
}

/// How long an owner's sign-in link works.
pub const SIGN_IN_MS: u64 = 12 * 3_600_000;

/// How often an owner can be sent a sign-in link: once per this window, however often it is asked for.
pub const SIGN_IN_WINDOW_MS: u64 = 300_000;

/// Sends the owner whose address is `email` (if any) a link to their leads, at most once per
/// [`SIGN_IN_WINDOW_MS`]. Whether a mail went out is for the log only: the person asking is told the same
/// either way, so the form tells no stranger which addresses belong to owners.
pub async fn sign_in<B: Backend>(b: &B, config: &FormsConfig, email: &str) -> Result<bool, Error> {
    let email = email.trim();
    let Some(owner) = config.owners.iter().find(|o| o.email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(email))) else { return Ok(false) };
    let (Some(settings), Some(origin), Some(signing)) = (config.mail.as_ref(), b.secret(ORIGIN), b.secret("SIGNING_SECRET")) else {
        b.log(&format!("sign-in link for {} not sent: set [mail], {ORIGIN} and SIGNING_SECRET", owner.id));
        return Ok(false);
    };
    let now = b.now_ms();
    let window = now / SIGN_IN_WINDOW_MS;
    // The window's counter is dropped by the watchdog once the window is over.
    let until = Some((window + 1) * SIGN_IN_WINDOW_MS);
    let turn = crate::protocol::backend::ask(b, cmd::Turn { name: format!("signin:{}:{window}", owner.id), count: 1, until }).await?;
    if turn.turn > 0 {
        return Ok(false);
    }
    let link = token::link(origin.trim_end_matches('/'), signing.as_bytes(), token::Purpose::Mine, &owner.id, now + SIGN_IN_MS);
    let address = owner.email.as_deref().unwrap_or(email);
    let message = mail::sign_in(settings, (&owner.name, address, owner.lang.unwrap_or(shared::Lang::De)), &link, SIGN_IN_MS / 3_600_000);
    let id = id::new("msg_", now, random(b));
    match send_now(b, settings, &message, &id).await {
        Ok(()) => Ok(true),
        Err(why) => {
            b.log(&format!("sign-in link for {} not sent: {why}", owner.id));
            Ok(false)
        }
    }
}

/// The leads of `owner` (the newest 200), the most urgent first: those whose agreement runs, by due time,
/// then the rest, newest first.
pub async fn mine<B: Backend>(b: &B, owner: &str) -> Result<Vec<Lead>, Error> {
    let mut filter = crate::services::listing::Filter::default();
    filter.qualified.owner = Some(owner.to_owned());
    let (mut leads, _) = crate::services::listing::page(b, &filter, None, 200).await?;
    let due =
        |l: &Lead| l.sla.as_ref().filter(|s| s.breached.is_none() && l.first_touch.is_none() && s.owner == owner).and_then(|s| shared::time::parse(&s.due));
    // Stable: within each part the listing's newest-first order stays.
    leads.sort_by_key(|l| due(l).unwrap_or(u64::MAX));
    Ok(leads)
}

/// How long a sign-in mail may take to hand over.
const MAIL_TIMEOUT_MS: u64 = 10_000;

/// Sends `message` at once, outside the outbox (a sign-in link, which belongs to no lead and is asked for
/// again if it does not arrive): through the configured provider, `id` as its idempotency key.
async fn send_now<B: Backend>(b: &B, settings: &shared::form::MailConfig, message: &mail::Mail, id: &str) -> Result<(), String> {
    match crate::services::mailer::hand_over(b, settings, message, id, MAIL_TIMEOUT_MS).await {
        crate::services::mailer::Handed::Accepted(_) => Ok(()),
        other => Err(other.why()),
    }
}
