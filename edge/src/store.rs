//! Storage in Workers KV: one key per lead (and, read only for the upgrade, the delivery keys of the
//! KV-only layout). See ARCHITECTURE.md for the key layout and what each write costs.

use crate::Error;
use serde::{Deserialize, Serialize};
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

/// A lead's list metadata: enough for the scheduled handler to find unconfirmed leads past their time
/// without reading any lead.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LeadMeta {
    /// The status (`new`, `pending`, `confirmed`).
    pub s: String,
    /// Created, Unix ms.
    pub c: u64,
}

/// Writes a lead; resolves only once KV has accepted the write.
pub async fn put_lead(kv: &KvStore, lead: &Lead) -> Result<(), Error> {
    let body = serde_json::to_string(lead)?;
    let meta = LeadMeta { s: lead.status.as_str().to_owned(), c: shared::time::parse(&lead.created_at).unwrap_or(0) };
    kv.put(&lead_key(&lead.id), body)
        .map_err(kv_error("kv put lead"))?
        .metadata(meta)
        .map_err(kv_error("kv put lead metadata"))?
        .execute()
        .await
        .map_err(kv_error("kv put lead"))
}

/// Ids of leads that are still `pending` and were created before `before_ms`, from list calls alone.
pub async fn unconfirmed_before(kv: &KvStore, before_ms: u64) -> Result<Vec<String>, Error> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = list(kv, "lead:", 1000, cursor).await?;
        for key in page.keys {
            let meta = key.metadata.and_then(|m| serde_json::from_value::<LeadMeta>(m).ok());
            if meta.is_some_and(|m| m.s == "pending" && m.c <= before_ms) {
                out.push(key.name.strip_prefix("lead:").unwrap_or(&key.name).to_owned());
            }
        }
        if page.list_complete || page.cursor.is_none() {
            return Ok(out);
        }
        cursor = page.cursor;
    }
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
