//! The drawing service: a giveaway's winners, drawn among its eligible entries so anyone can re-check the
//! draw (`draw`), recorded in the ledger together with their announcements.
//!
//! The eligible ids come from the ledger's lead index alone (a draw among 10,000 entries reads no entry's
//! document); earlier winners of the giveaway are left out. The draw record, its `giveaway.winner`
//! announcements and, with an `Idempotency-Key`, the answer every retry gets are one ledger transaction:
//! no winner is announced for a draw that is not on record, no draw is on record without its
//! announcements, and a retried request gets the draw that was made instead of a second one.

use crate::protocol::backend::{ask, random, Backend};
use crate::protocol::keys::draw_scope;
use crate::protocol::ledger::cmd;
use crate::protocol::ledger::{Drawn, Hold, Replay};
use crate::rules::draw::{self, Draw};
use crate::rules::webhook::{self, EventType};
use crate::services::announcing::outbox_entries;
use crate::services::listing::{all_ids, Filter};
use crate::{rules::id, rules::intake, Error};
use shared::form::FormDef;
use shared::lead::Status;

/// Draws `wanted` winners on `form` (a giveaway), or answers a retried request (same `key`) with the draw
/// it made.
pub async fn draw<B: Backend>(b: &B, form: &FormDef, wanted: u64, key: Option<String>) -> Result<Draw, Error> {
    if let Some(key) = &key {
        match ask(b, cmd::Reserve { form: draw_scope(&form.id), key: key.clone(), now: b.now_ms() }).await? {
            Replay::Answered { answer } => return Ok(serde_json::from_str(&answer)?),
            Replay::InProgress => return Err(Error::InProgress),
            Replay::Fresh => {}
        }
    }
    let made = make(b, form, wanted, key.clone()).await;
    if made.is_err() {
        // The key is free again for a retry; if this is lost, the reservation lapses by itself.
        let release = cmd::Release { form: draw_scope(&form.id), hold: Hold::default(), key };
        let _ = b.send(release).await;
    }
    made
}

async fn make<B: Backend>(b: &B, form: &FormDef, wanted: u64, key: Option<String>) -> Result<Draw, Error> {
    let earlier = draws(b, &form.id).await?;
    let won: Vec<&String> = earlier.iter().flat_map(|d| &d.winners).collect();
    let filter =
        Filter { form: Some(form.id.clone()), status: form.double_opt_in.then(|| Status::Confirmed.as_str().to_owned()), since: None, ..Filter::default() };
    let mut eligible: Vec<String> = all_ids(b, &filter).await?.into_iter().filter(|id| !won.contains(&id)).collect();
    // Oldest first, as the draw's recorded list always was.
    eligible.reverse();
    let now = b.now_ms();
    let open = intake::check_open(form, now).is_ok();
    let wanted = usize::try_from(wanted).unwrap_or(usize::MAX);
    let made = draw::make(id::new("dr_", now, random(b)), &form.id, shared::time::rfc3339(now), open, random(b), eligible, wanted)
        .map_err(|draw::Refusal::Count { eligible }| Error::NotEnoughEntries { eligible })?;
    let mut announcements = Vec::new();
    for winner in &made.winners {
        if let Some(lead) = b.lead(winner).await? {
            let payload = webhook::winner_payload(&made.drawn_at, &lead, &made.id);
            announcements.extend(outbox_entries(
                || id::new("msg_", now, random(b)),
                &form.webhooks,
                &lead.id,
                &form.id,
                EventType::GiveawayWinner,
                &payload,
                now,
            ));
        }
    }
    let record = serde_json::to_string(&made)?;
    let drawn: Drawn = ask(b, cmd::Draw { form: form.id.clone(), id: made.id.clone(), record, announcements, key, now }).await?;
    Ok(serde_json::from_str(&drawn.record)?)
}

/// A giveaway's draws, oldest first: those in the ledger, and those a collector recorded in KV before it had
/// one.
pub async fn draws<B: Backend>(b: &B, form: &str) -> Result<Vec<Draw>, Error> {
    let mut out: Vec<Draw> = Vec::new();
    for record in b.legacy_draws(form).await? {
        out.push(serde_json::from_str(&record)?);
    }
    let recorded: Vec<String> = ask(b, cmd::Draws { form: form.to_owned() }).await?;
    for record in recorded {
        let d: Draw = serde_json::from_str(&record)?;
        if !out.iter().any(|o| o.id == d.id) {
            out.push(d);
        }
    }
    Ok(out)
}
