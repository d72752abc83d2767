//! What the cron trigger runs every minute: wake the ledger (its alarm delivers; this is the watchdog),
//! erase unconfirmed leads, fold counted downloads into their leads, and finish the upgrades of older
//! layouts (the KV-only layout's leads indexed and deliveries moved into the outbox; the leads of a ledger
//! made before the funnel's aggregates tallied into them).

use crate::glue::context::Cx;
use crate::platform::store::{self, Kv};
use crate::protocol::backend::{ask, Backend};
use crate::protocol::keys::{Key, Prefix};
use crate::protocol::ledger;
use crate::protocol::ledger::cmd;
use crate::{services::erasure, services::handout, Error};
use serde_json::json;

/// The watchdog: the ledger's alarm delivers at each delivery's due time; this sets it again in case it
/// was lost, and drops delivered deliveries older than 30 days.
/// Answers whether the funnel's aggregates hold every lead.
pub(crate) async fn wake_ledger(cx: &Cx<'_>) -> Result<bool, Error> {
    let backlog: ledger::Backlog = ask(cx.cloud()?, cmd::Wake { now: cx.now }).await?;
    if backlog.pending > 0 {
        worker::console_log!("ledger woken: {} deliveries waiting, next at {:?}", backlog.pending, backlog.next_at_ms);
    }
    Ok(backlog.tallied)
}

/// How many [`cmd::Tally`] batches one scheduled run asks for: 10,000 leads a minute, each batch a few
/// milliseconds of the ledger's time, with intake served in between.
pub(crate) const TALLIES_PER_RUN: u32 = 20;

/// Adds the leads of a ledger made before the funnel's aggregates to them, a batch at a time, until every
/// lead is in them (asked only while the watchdog's answer says they are not).
pub(crate) async fn tally_funnel(cx: &Cx<'_>) -> Result<(), Error> {
    let cloud = cx.cloud()?;
    let mut added = 0;
    for _ in 0..TALLIES_PER_RUN {
        let tallied = ask(cloud, cmd::Tally { limit: ledger::TALLY_BATCH }).await?;
        added += tallied.added;
        if tallied.done {
            break;
        }
    }
    if added > 0 {
        worker::console_log!("funnel aggregates: {added} leads tallied");
    }
    Ok(())
}

/// How many stored leads one scheduled run indexes: a few KV reads and ledger requests a minute, well
/// within an invocation's limits, and about 57,000 leads a day.
pub(crate) const BACKFILL_PER_RUN: u64 = 40;

/// Builds the ledger's lead index from the lead documents a collector stored before it had one (the
/// upgrade from the KV-only layout), a page per scheduled run until every document has been seen once.
/// Idempotent: indexing a lead again writes the same row, and erased leads are never indexed.
pub(crate) async fn backfill_index(cx: &Cx<'_>) -> Result<(), Error> {
    let kv = Kv::of(cx.env)?;
    let state: Option<serde_json::Value> = store::get_json(&kv, Key::index_backfill().as_str()).await?;
    if state.as_ref().and_then(|s| s.get("done")).and_then(serde_json::Value::as_bool) == Some(true) {
        return Ok(());
    }
    let cursor = state.as_ref().and_then(|s| s.get("cursor")).and_then(|c| c.as_str()).map(str::to_owned);
    let page = store::list(cx.env, Prefix::Leads, BACKFILL_PER_RUN, cursor).await?;
    let cloud = cx.cloud()?;
    for name in &page.names {
        if let Some(lead) = store::get_lead(&kv, Prefix::Leads.rest(name).unwrap_or(name)).await? {
            cloud.send(cmd::Index { entry: ledger::Entry::of(&lead), only_if_missing: true }).await?;
        }
    }
    let done = page.cursor.is_none();
    store::put_text(&kv, &Key::index_backfill(), &json!({"cursor": page.cursor, "done": done}).to_string()).await?;
    if !page.names.is_empty() {
        worker::console_log!("lead index backfill: {} leads indexed, done={done}", page.names.len());
    }
    Ok(())
}

/// How many deliveries of the KV-only layout one scheduled run moves into the ledger's outbox.
pub(crate) const OUTBOX_BACKFILL_PER_RUN: u64 = 40;

/// Moves the pending and dead deliveries a collector stored in KV before it had a ledger into the ledger's
/// outbox (keeping their state, attempts and due time), then deletes their KV keys; delivered ones are only
/// deleted. Idempotent: the outbox keeps a delivery it already has, and a key is deleted only after its
/// delivery is queued.
pub(crate) async fn backfill_outbox(cx: &Cx<'_>) -> Result<(), Error> {
    let kv = Kv::of(cx.env)?;
    // Once nothing is left, a flag saves the KV list a minute (the free plan allows 1,000 lists a day).
    if kv.text(Key::outbox_backfill().as_str()).await?.is_some() {
        return Ok(());
    }
    let page = store::list(cx.env, Prefix::LegacyDeliveries, OUTBOX_BACKFILL_PER_RUN, None).await?;
    if page.names.is_empty() {
        store::put_text(&kv, &Key::outbox_backfill(), "done").await?;
        return Ok(());
    }
    let mut moved = Vec::new();
    for name in &page.names {
        if let Some(d) = store::get_json::<crate::protocol::outbox::Delivery>(&kv, name).await? {
            if d.state != crate::protocol::outbox::State::Delivered {
                moved.push(d);
            }
        }
    }
    let count = moved.len();
    if !moved.is_empty() {
        cx.cloud()?.send(cmd::Queue { deliveries: moved }).await?;
    }
    for name in &page.names {
        kv.delete(name).await?;
    }
    worker::console_log!("outbox backfill: {count} deliveries moved into the ledger, {} keys removed", page.names.len());
    Ok(())
}

/// Erases double opt-in leads nobody confirmed in time (see `erasure::erase_unconfirmed`).
pub(crate) async fn erase_unconfirmed(cx: &Cx<'_>) -> Result<(), Error> {
    let erased = erasure::erase_unconfirmed(cx.cloud()?, cx.config()?).await?;
    if erased > 0 {
        worker::console_log!("unconfirmed leads erased: {erased}");
    }
    Ok(())
}

/// Folds downloads the ledger counted into their leads' documents (see `handout::fold_due`).
pub(crate) async fn fold_downloads(cx: &Cx<'_>) -> Result<(), Error> {
    let folded = handout::fold_due(cx.cloud()?, cx.config()?).await?;
    if folded > 0 {
        worker::console_log!("downloads folded into {folded} leads");
    }
    Ok(())
}
