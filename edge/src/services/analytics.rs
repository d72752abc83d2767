//! Form analytics as use cases: a page view's report taken into the isolate's sums, the sums written to
//! each form's views object, and the report an owner reads, joined with the lead funnel (see
//! `protocol::analytics` for what is counted and why no page view is a write of its own).

use crate::protocol::analytics::{self, Buffer, By, Key, Kind, Report, Visit};
use crate::protocol::backend::{ask, Backend};
use crate::protocol::ledger::cmd;
use crate::rules::beacon::{self, Beacon};
use crate::Error;
use shared::form::FormDef;
use std::cell::RefCell;

/// Who sent a report, for the unique-visitor count of forms that keep one: the pseudonymous client (a
/// keyed hash of the IP address, `rules::pseudonym`) and the user agent. Neither is stored.
pub struct Sender<'a> {
    /// The pseudonymous client id.
    pub client: &'a str,
    /// The `User-Agent` header.
    pub user_agent: &'a str,
}

/// Adds a report to the isolate's sums at `now`. Returns whether a write must be scheduled (see
/// [`Buffer::schedule`]).
pub fn take(buffer: &RefCell<Buffer>, form: &FormDef, report: &Beacon, sender: &Sender<'_>, now: u64) -> Result<bool, Error> {
    let counts = beacon::counts(report, form, now)?;
    let mut buffer = buffer.borrow_mut();
    let viewed = counts.iter().find(|(k, n)| k.kind == Kind::View && *n > 0);
    if let (Some((key, _)), true) = (viewed, form.unique_visitors) {
        let digest = crate::rules::digest::sha256_hex(format!("{}\n{}\n{}", form.id, sender.client, sender.user_agent).as_bytes());
        buffer.visit(&form.id, Visit { day: key.day, digest, source: key.source.clone(), campaign: key.campaign.clone() });
    }
    for (key, n) in counts {
        buffer.add(&form.id, key, n);
    }
    Ok(buffer.schedule())
}

/// Adds one count of `kind` for `form` (an embed script's load, a plain form's submission). Returns whether
/// a write must be scheduled.
pub fn count(buffer: &RefCell<Buffer>, form: &str, kind: Kind, now: u64) -> bool {
    let mut buffer = buffer.borrow_mut();
    buffer.add(form, Key::new(now, "", "", kind), 1);
    buffer.schedule()
}

/// Writes the isolate's sums, one ledger request per form. A batch whose write fails goes back into the
/// buffer for the next write (and a new one is scheduled if the caller's answer says so); returns how many
/// batches were written and whether a write must be scheduled again.
pub async fn flush<B: Backend>(b: &B, buffer: &RefCell<Buffer>) -> (usize, bool) {
    let batches = buffer.borrow_mut().take();
    let mut written = 0;
    for batch in batches {
        let keys = batch.counts.len();
        match ask(b, cmd::Count { batch: batch.clone(), now: b.now_ms() }).await {
            Ok(_) => {
                written += 1;
                b.log(&format!("analytics flush: {} keys, {} visitors of {}", keys, batch.visits.len(), batch.form));
            }
            Err(e) => {
                b.log(&format!("analytics flush of {} failed, kept for the next: {}", batch.form, e.log_line().unwrap_or_default()));
                buffer.borrow_mut().put_back(batch);
            }
        }
    }
    let again = buffer.borrow_mut().schedule();
    (written, again)
}

/// The report of `form` over the days `[first, end)` (days since the Unix epoch), grouped `by`: its page-view
/// counts from its views object, and its lead funnel from its ledger objects over the same days.
pub async fn report<B: Backend>(b: &B, form: &FormDef, first: u64, end: u64, by: By) -> Result<Report, Error> {
    let sums = ask(b, cmd::Events { form: form.id.clone(), first, end, by }).await?;
    let funnel =
        cmd::Funnel { form: Some(form.id.clone()), from: Some(first * analytics::DAY_MS), to: Some(end.saturating_mul(analytics::DAY_MS)), by: by.funnel() };
    let groups = ask(b, funnel).await?.groups();
    let variants: Vec<&str> = form.variants.iter().map(|v| v.name.as_str()).collect();
    Ok(analytics::report(&form.id, by, form.unique_visitors, &variants, &sums, &groups))
}
