//! The storage seam: what the services need from the world (lead documents, the ledger, outbound HTTP,
//! secrets, a clock, randomness), as one trait. The Worker implements it over KV, the ledger Durable
//! Object, fetch and the Workers clock (`cloud`); `memory` implements it natively for the services' tests,
//! with injected faults, scripted HTTP answers and an operation count.

use crate::protocol::ledger::{Asks, Command};
use crate::protocol::shard::Routed;
use crate::rules::crm::{Outbound, Read, Reply};
use crate::Error;
use shared::lead::Lead;

/// Everything a service may do outside itself. Every method that can fail says so; none panics.
#[allow(async_fn_in_trait)] // The services are generic over one backend at a time; nothing needs `dyn`.
pub trait Backend {
    /// Reads a lead document.
    async fn lead(&self, id: &str) -> Result<Option<Lead>, Error>;
    /// Reads many lead documents at once (a page of a list): those that exist, in the order asked. Over KV
    /// a bulk read of up to 100 keys is one operation.
    async fn leads(&self, ids: &[String]) -> Result<Vec<Lead>, Error>;
    /// Writes a lead document; returns once it is durable.
    async fn put_lead(&self, lead: &Lead) -> Result<(), Error>;
    /// Writes lead documents without their index rows (an import writes those in its settle), side by side;
    /// one outcome per document.
    async fn put_documents(&self, leads: &[Lead]) -> Vec<Result<(), Error>>;
    /// Deletes a lead: its index row, then its document.
    async fn delete_lead(&self, id: &str) -> Result<(), Error>;
    /// Deletes a document whose lead was never indexed (written for an admission the ledger did not
    /// grant), without asking the ledger about an index row it cannot have.
    async fn delete_document(&self, id: &str) -> Result<(), Error>;
    /// The lead the KV-only layout indexed for this form and address hash (see `ledger`'s upgrade path).
    async fn legacy_email(&self, form: &str, email_hash: &str) -> Result<Option<String>, Error>;
    /// [`Backend::legacy_email`] for many addresses at once (bulk reads).
    async fn legacy_emails(&self, form: &str, email_hashes: &[String]) -> Result<Vec<Option<String>>, Error>;
    /// Deletes the KV-only layout's email index key of an erased lead, if there is one.
    async fn delete_legacy_email(&self, form: &str, email_hash: &str) -> Result<(), Error>;
    /// The giveaway draws a collector recorded in KV before it had a ledger (JSON records).
    async fn legacy_draws(&self, form: &str) -> Result<Vec<String>, Error>;
    /// Counts a dropped bot submission on a form and day (in the ledger). Best effort: a lost count fails
    /// nothing.
    async fn count_bot(&self, form: &str, day: &str);
    /// The ledger object that holds `form`'s address with this index key (see `shard`): a new lead's id
    /// ends in it.
    async fn home(&self, form: &str, email_hash: &str) -> Result<crate::protocol::shard::Home, Error>;
    /// Sends one command to the ledger (to the objects `shard::route` names) and returns its answer as JSON
    /// text, which [`ask`] reads straight into the answer's type: no `serde_json::Value` in between, whose
    /// tree costs a parse and a copy and whose deserializer would be a second copy of every answer type's
    /// reading code in the bundle.
    async fn ledger(&self, command: &Command) -> Result<String, Error>;
    /// Sends one command of a known type, as [`Backend::ledger`] does (and by default through it). The
    /// Worker's seam routes and writes it by its type's own code (`Routed`, `ledger::wire`), so a Worker
    /// links the routing and writing of the commands it sends and no others: the collector sends a
    /// handful of the ledger's fifty.
    async fn send<C: Asks + Routed>(&self, command: C) -> Result<String, Error> {
        self.ledger(&command.into()).await
    }
    /// Sends one HTTP request with a timeout, without following redirects: `Err(reason)` when no answer
    /// came (network error, timeout).
    async fn call(&self, out: &Outbound, timeout_ms: u64, read: Read) -> Result<Reply, String>;
    /// Hands a mail to Cloudflare's Email Service through the Worker's `send_email` binding
    /// ([`crate::rules::mail::BINDING`]): `Err` with the error's code when it did not take it.
    async fn send_email(&self, mail: &crate::rules::mail::Mail) -> Result<(), crate::rules::mail::Refusal>;
    /// A secret from the environment, if it is set and not empty.
    fn secret(&self, name: &str) -> Option<String>;
    /// Now, in Unix milliseconds.
    fn now_ms(&self) -> u64;
    /// Waits `ms` milliseconds (while another request holds what this one needs).
    async fn sleep(&self, ms: u64);
    /// Fills `buf` with cryptographically secure random bytes.
    fn fill_random(&self, buf: &mut [u8]);
    /// Writes a line to the log (ids, counts and outcomes only, never personal data).
    fn log(&self, line: &str);
}

/// The most keys one bulk read of KV takes.
pub const BULK_READ: usize = 100;

/// `N` random bytes from the backend.
pub fn random<const N: usize, B: Backend>(b: &B) -> [u8; N] {
    let mut buf = [0u8; N];
    b.fill_random(&mut buf);
    buf
}

/// Sends a ledger command and reads its answer, of the type the command names: a command cannot be read
/// as another command's answer.
pub async fn ask<C: Asks + Routed, B: Backend>(b: &B, command: C) -> Result<C::Answer, Error> {
    let text = b.send(command).await?;
    Ok(serde_json::from_str(&text)?)
}
