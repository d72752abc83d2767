//! The download service: a gated file handed to the holder of a valid link is counted in the ledger, and
//! the count is folded into the lead's document under the ledger's hold, over the storage seam.
//!
//! A download is counted by one ledger command ([`Command::Download`]), which also enforces the form's
//! hourly limit per lead; it writes nothing to KV. The lead's document learns of its downloads when they
//! are folded in: by the download that comes after a quiet minute ([`crate::protocol::ledger::FOLD_MS`]), and by the cron
//! for the rest ([`fold_due`]). A fold holds the lead like every other change of it (a confirmation, a
//! withdrawal, a stage move), reads it again, adds what the ledger counted since the last fold, scores the
//! downloads as one behaviour event, and writes it with its announcements. So racing downloads never lose
//! a count, a withdrawal meanwhile is never overwritten, and a burst of downloads costs one KV write.

use crate::protocol::backend::{ask, Backend};
use crate::protocol::ledger::cmd;
use crate::protocol::ledger::{Counted, Downloads};
use crate::services::announcing::put_outbox_then_lead;
use crate::services::holding::under_hold;
use crate::Error;
use shared::form::FormsConfig;
use shared::lead::Lead;

/// Whether the file may be served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handout {
    /// Counted: serve it.
    Serve,
    /// The lead's links made the form's hourly number of downloads; try again after this many seconds.
    Limited {
        /// Seconds until the next clock hour.
        retry_after_secs: u32,
    },
}

/// Counts a download of `lead`'s file (as read by the caller) and, when no fold began in the last minute,
/// folds the count into the lead's document now. A failed fold fails nothing: the count is in the ledger,
/// and the cron folds it later.
pub async fn count<B: Backend>(b: &B, config: &FormsConfig, lead: &Lead) -> Result<Handout, Error> {
    let per_hour =
        config.form(&lead.form).and_then(|f| f.asset.as_ref()).map_or(shared::form::Asset::DOWNLOADS_PER_HOUR, shared::form::Asset::downloads_per_hour);
    let counted: Counted = ask(b, cmd::Download { lead: lead.id.clone(), now: b.now_ms(), per_hour }).await?;
    if !counted.allowed {
        let retry_after_secs = u32::try_from(counted.retry_after_ms.div_ceil(1000)).unwrap_or(u32::MAX).max(1);
        return Ok(Handout::Limited { retry_after_secs });
    }
    if counted.fold {
        let _ = fold(b, config, &lead.id).await;
    }
    Ok(Handout::Serve)
}

/// Folds the downloads the ledger counted for lead `id` into its document, under the ledger's hold.
/// Returns how many were added (0 when the document held them all, or the lead is gone).
pub async fn fold<B: Backend>(b: &B, config: &FormsConfig, id: &str) -> Result<u64, Error> {
    let Some(lead) = b.lead(id).await? else { return Ok(0) };
    under_hold(b, &lead, async |held| {
        // Read again under the hold: what another change wrote meanwhile is kept.
        let Some(mut lead) = b.lead(id).await? else { return Ok(0) };
        let Downloads { total } = ask(b, cmd::Downloads { lead: id.to_owned(), folded: None }).await?;
        let added = total.saturating_sub(lead.downloads_folded);
        if added > 0 {
            let now = b.now_ms();
            lead.engagement.downloads = lead.engagement.downloads.saturating_add(u32::try_from(added).unwrap_or(u32::MAX));
            lead.downloads_folded = total;
            // The downloads since the last fold are one behaviour: a burst of them is worth one download's
            // points, so a link reloaded in a loop does not make an MQL.
            let form = config.form(&lead.form);
            let moved = form.and_then(|f| lead.note(shared::score::DOWNLOAD, &f.scoring, now));
            let deliveries = crate::services::sales::follow_up(b, config, &mut lead, moved.as_ref(), now).await?;
            put_outbox_then_lead(b, held, &deliveries, &lead).await?;
        }
        // A lost note only makes the cron look at this lead again; the fold itself finds nothing to add.
        let _ = b.send(cmd::Downloads { lead: id.to_owned(), folded: Some(total) }).await;
        Ok(added)
    })
    .await
}

/// How many leads one cron run folds at most: each is a few ledger requests and one KV write.
pub const FOLDS_PER_RUN: u32 = 20;

/// The cron's part: folds the counted downloads of leads whose last fold began a minute ago or more.
/// Returns how many leads were folded; a lead whose fold fails is tried again a minute later.
pub async fn fold_due<B: Backend>(b: &B, config: &FormsConfig) -> Result<usize, Error> {
    let ids: Vec<String> = ask(b, cmd::Unfolded { now: b.now_ms(), limit: FOLDS_PER_RUN }).await?;
    let mut folded = 0;
    for id in &ids {
        if fold(b, config, id).await.is_ok() {
            folded += 1;
        }
    }
    Ok(folded)
}

/// The downloads of `leads` as they stand, counted ones not yet folded into their documents included:
/// what the admin API shows. One ledger request for a page of leads.
pub async fn as_counted<B: Backend>(b: &B, leads: &mut [Lead]) -> Result<(), Error> {
    if leads.is_empty() {
        return Ok(());
    }
    let totals: Vec<(String, u64)> = ask(b, cmd::DownloadTotals { leads: leads.iter().map(|l| l.id.clone()).collect() }).await?;
    for lead in leads.iter_mut() {
        let total = totals.iter().find(|(id, _)| *id == lead.id).map_or(0, |(_, t)| *t);
        let pending = total.saturating_sub(lead.downloads_folded);
        lead.engagement.downloads = lead.engagement.downloads.saturating_add(u32::try_from(pending).unwrap_or(u32::MAX));
    }
    Ok(())
}
