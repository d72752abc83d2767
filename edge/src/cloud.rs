//! The storage seam over the Workers runtime: lead documents and the outbox in KV, the ledger Durable
//! Object, the Workers clock and `crypto.getRandomValues`. What the product runs on; `memory` is the
//! same seam for native tests.

use crate::ledger::Command;
use crate::ledger_object::LedgerStub;
use crate::outbox::Delivery;
use crate::storage::Backend;
use crate::{intake, store, Error};
use shared::lead::Lead;
use std::time::Duration;
use worker::kv::KvStore;
use worker::{Date, Env};

/// KV and the ledger of one collector.
pub struct Cloud {
    /// The KV namespace of leads and deliveries.
    pub kv: KvStore,
    ledger: LedgerStub,
}

impl Cloud {
    /// The collector's storage, from its bindings.
    pub fn of(env: &Env) -> Result<Cloud, Error> {
        Ok(Cloud { kv: kv(env)?, ledger: LedgerStub::of(env)? })
    }
}

/// The collector's KV namespace.
pub fn kv(env: &Env) -> Result<KvStore, Error> {
    env.kv(store::BINDING).map_err(|_| Error::Config(format!("the KV binding {} is missing", store::BINDING)))
}

impl Backend for Cloud {
    async fn lead(&self, id: &str) -> Result<Option<Lead>, Error> {
        store::get_lead(&self.kv, id).await
    }

    async fn put_lead(&self, lead: &Lead) -> Result<(), Error> {
        // The document first, then its index row: a document without one is invisible to lists, never
        // the other way round.
        store::put_lead(&self.kv, lead).await?;
        self.ledger.call::<serde_json::Value>(&Command::Index { entry: crate::ledger::Entry::of(lead), only_if_missing: false }).await.map(|_| ())
    }

    async fn delete_lead(&self, id: &str) -> Result<(), Error> {
        // The index row first: a lead being deleted disappears from lists before its document goes.
        self.ledger.call::<serde_json::Value>(&Command::Unindex { lead: id.to_owned() }).await?;
        store::delete_lead(&self.kv, id).await
    }

    async fn put_delivery(&self, delivery: &Delivery) -> Result<(), Error> {
        store::put_delivery(&self.kv, delivery).await
    }

    async fn delete_delivery(&self, id: &str) -> Result<(), Error> {
        self.kv.delete(&store::delivery_key(id)).await.map_err(|e| Error::Internal(format!("kv delete delivery: {e}")))
    }

    async fn legacy_email(&self, form: &str, email_hash: &str) -> Result<Option<String>, Error> {
        self.kv.get(&intake::legacy_email_key(form, email_hash)).text().await.map_err(|e| Error::Internal(format!("kv get email index: {e}")))
    }

    async fn count_bot(&self, form: &str, day: &str) {
        let key = format!("spam:{form}:{day}");
        let count = self.kv.get(&key).text().await.ok().flatten().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        if let Ok(put) = self.kv.put(&key, (count + 1).to_string()) {
            let _ = put.execute().await;
        }
        worker::console_log!("spam dropped form={form}");
    }

    async fn ledger(&self, command: &Command) -> Result<serde_json::Value, Error> {
        self.ledger.call(command).await
    }

    fn now_ms(&self) -> u64 {
        Date::now().as_millis()
    }

    async fn sleep(&self, ms: u64) {
        worker::Delay::from(Duration::from_millis(ms)).await;
    }

    fn fill_random(&self, buf: &mut [u8]) {
        // crypto.getRandomValues is always there in workerd; if it ever failed, a logged fault beats a panic
        // that would take every request in flight on this isolate with it.
        if let Err(e) = getrandom::getrandom(buf) {
            worker::console_error!("randomness unavailable: {e}");
        }
    }
}
