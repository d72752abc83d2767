//! Holding a stored lead in the ledger while a service reads and writes it, and waiting for another
//! request that holds it: the base every change of a stored lead stands on (see ARCHITECTURE.md, "One
//! write path for a lead").

use crate::protocol::backend::{ask, random, Backend};
use crate::protocol::ledger::cmd;
use crate::protocol::ledger::{Hold, Holder};
use crate::{rules::intake, Error};
use shared::lead::Lead;

/// How long a request waits for another that holds its address or its idempotency key.
pub const WAIT_FOR_OTHERS_MS: u64 = 10_000;

/// How often a waiting request looks again, on average (see [`look_delay`]).
pub const LOOK_EVERY_MS: u64 = 100;

/// How long a waiting request sleeps before it looks again: from half of [`LOOK_EVERY_MS`] to one and a
/// half times it, evenly spread. Requests that began to wait together (a burst for one address) would
/// otherwise look together: one of them takes the address and all the others sleep a whole round again, so
/// the burst gets through at about one request per round. Spread out, the next one looks soon after the
/// holder lets go. Measured with 50 requests for one address at once: 14 to 21 a second without the spread.
pub fn look_delay<B: Backend>(b: &B) -> u64 {
    let spread = u64::from(u16::from_le_bytes(random::<2, B>(b)));
    LOOK_EVERY_MS / 2 + spread * LOOK_EVERY_MS / u64::from(u16::MAX)
}

/// Proof that the ledger's hold on one lead is taken: only [`under_hold`] makes one, and the one way to
/// write a changed lead's document outside a submission or an import (`announcing::put_outbox_then_lead`)
/// asks for it. So a change that reads a lead and writes it back cannot compile without the hold that
/// keeps another change from overwriting it.
pub struct Holding {
    lead: String,
}

impl Holding {
    /// The lead held.
    pub fn lead(&self) -> &str {
        &self.lead
    }
}

/// Runs `work` while holding `lead` in the ledger, and releases the hold after it, whatever it returned.
/// `work` reads the lead again: under the hold, nobody else changes it meanwhile (confirmations,
/// withdrawals, stage moves, events, download counts; repeats take the same hold through their claim).
pub async fn under_hold<B: Backend, T>(b: &B, lead: &Lead, work: impl AsyncFnOnce(&Holding) -> Result<T, Error>) -> Result<T, Error> {
    let (form, email) = (lead.form.clone(), intake::address_of(lead));
    hold(b, &form, &email).await?;
    let outcome = work(&Holding { lead: lead.id.clone() }).await;
    // If the release is lost, the hold lapses by itself after `ledger::RESERVATION_MS`.
    let _ = b.send(cmd::Release { form, hold: Hold { email, lead: None, held: true }, key: None }).await;
    outcome
}

/// Takes the hold on a lead's address row, waiting while another request holds it.
async fn hold<B: Backend>(b: &B, form: &str, email: &str) -> Result<(), Error> {
    let started = b.now_ms();
    loop {
        let holder: Holder = ask(b, cmd::Hold { form: form.to_owned(), email: email.to_owned(), now: b.now_ms() }).await?;
        match holder {
            Holder::Lead { .. } => return Ok(()),
            // No stored lead for the address (a lead from before the ledger, not yet adopted, or one
            // being erased): nothing to serialise against in the ledger, so the change goes ahead.
            Holder::Nobody | Holder::Claimed => return Ok(()),
            Holder::Reserved if b.now_ms().saturating_sub(started) > WAIT_FOR_OTHERS_MS => return Err(Error::InProgress),
            Holder::Reserved => b.sleep(look_delay(b)).await,
        }
    }
}
