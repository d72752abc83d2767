//! Storage in Workers KV: one key per lead (and, read only for the upgrade, the delivery keys of the
//! KV-only layout). See ARCHITECTURE.md for the key layout and what each write costs.

use crate::Error;
use shared::lead::Lead;
use worker::kv::KvStore;

/// The KV binding's name in the wrangler config.
pub const BINDING: &str = "LEADS";

/// The key of a lead.
pub fn lead_key(id: &str) -> String {
    format!("lead:{id}")
}

fn kv_error(what: &str) -> impl Fn(worker::kv::KvError) -> Error + '_ {
    move |e| Error::Internal(format!("{what}: {e}"))
}

/// Writes a lead; resolves only once KV has accepted the write.
pub async fn put_lead(kv: &KvStore, lead: &Lead) -> Result<(), Error> {
    let body = serde_json::to_string(lead)?;
    kv.put(&lead_key(&lead.id), body)
        .map_err(kv_error("kv put lead"))?
        .execute()
        .await
        .map_err(kv_error("kv put lead"))
}

/// Reads a lead.
pub async fn get_lead(kv: &KvStore, id: &str) -> Result<Option<Lead>, Error> {
    kv.get(&lead_key(id)).json().await.map_err(kv_error("kv get lead"))
}

/// Removes a lead (used to undo a half-finished intake).
pub async fn delete_lead(kv: &KvStore, id: &str) -> Result<(), Error> {
    kv.delete(&lead_key(id)).await.map_err(kv_error("kv delete lead"))
}

/// Lists keys under `prefix`, a page at a time.
pub async fn list(kv: &KvStore, prefix: &str, limit: u64, cursor: Option<String>) -> Result<worker::kv::ListResponse, Error> {
    let mut q = kv.list().prefix(prefix.to_owned()).limit(limit);
    if let Some(c) = cursor {
        q = q.cursor(c);
    }
    q.execute().await.map_err(kv_error("kv list"))
}
