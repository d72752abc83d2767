//! Storage in Workers KV: one key per lead and one per delivery. See ARCHITECTURE.md for the key layout
//! and what each write costs.

use crate::outbox::{Delivery, State};
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

/// The key of a delivery.
pub fn delivery_key(id: &str) -> String {
    format!("dlv:{id}")
}

/// What a delivery key carries as KV metadata, so the scheduled handler can find due deliveries with one
/// list call instead of one read per delivery.
#[derive(Serialize, Deserialize)]
pub struct DeliveryMeta {
    /// The delivery's state.
    pub s: State,
    /// When the next attempt is due (Unix ms).
    pub n: u64,
    /// Attempts made so far.
    #[serde(default)]
    pub a: u32,
    /// The form.
    #[serde(default)]
    pub f: String,
    /// The endpoint's id.
    #[serde(default)]
    pub e: String,
    /// The lead's id.
    #[serde(default)]
    pub l: String,
}

/// The key marking an endpoint as disabled (it answered 410 Gone).
pub fn endpoint_key(form: &str, endpoint: &str) -> String {
    format!("endpoint:{form}:{endpoint}")
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

/// Erases a lead and every key that refers to it: its stored deliveries (found in `index`, the
/// [`delivery_index`] the caller read once for all the leads it erases; their payloads hold the same
/// personal data), its email index and the lead itself. Returns how many deliveries were deleted.
pub async fn erase(kv: &KvStore, lead: &Lead, index: &[(String, DeliveryMeta)]) -> Result<usize, Error> {
    let deliveries: Vec<&String> = index.iter().filter(|(_, m)| m.l == lead.id).map(|(id, _)| id).collect();
    for id in &deliveries {
        kv.delete(&delivery_key(id)).await.map_err(kv_error("kv delete delivery"))?;
    }
    if let Some(email) = lead.fields.get("email") {
        kv.delete(&crate::intake::email_key(&lead.form, email)).await.map_err(kv_error("kv delete email index"))?;
    }
    delete_lead(kv, &lead.id).await?;
    Ok(deliveries.len())
}

/// Reads a lead.
pub async fn get_lead(kv: &KvStore, id: &str) -> Result<Option<Lead>, Error> {
    kv.get(&lead_key(id)).json().await.map_err(kv_error("kv get lead"))
}

/// Removes a lead (used to undo a half-finished intake).
pub async fn delete_lead(kv: &KvStore, id: &str) -> Result<(), Error> {
    kv.delete(&lead_key(id)).await.map_err(kv_error("kv delete lead"))
}

/// How long a delivered delivery stays listed. Pending and dead ones never expire; delivered ones would
/// otherwise make every scheduled run list the whole delivery history.
pub const DELIVERED_TTL_SECS: u64 = 30 * 86_400;

/// Writes a delivery with its state as metadata.
pub async fn put_delivery(kv: &KvStore, d: &Delivery) -> Result<(), Error> {
    let body = serde_json::to_string(d)?;
    let mut put = kv
        .put(&delivery_key(&d.id), body)
        .map_err(kv_error("kv put delivery"))?
        .metadata(DeliveryMeta { s: d.state, n: d.next_at_ms, a: d.attempts, f: d.form.clone(), e: d.endpoint.clone(), l: d.lead_id.clone() })
        .map_err(kv_error("kv put delivery metadata"))?;
    if d.state == State::Delivered {
        put = put.expiration_ttl(DELIVERED_TTL_SECS);
    }
    put.execute().await.map_err(kv_error("kv put delivery"))
}

/// Reads a delivery.
pub async fn get_delivery(kv: &KvStore, id: &str) -> Result<Option<Delivery>, Error> {
    kv.get(&delivery_key(id)).json().await.map_err(kv_error("kv get delivery"))
}

/// Every delivery's id and metadata, from list calls alone (no reads): what the scheduler, the admin API
/// and erasure filter on.
pub async fn delivery_index(kv: &KvStore) -> Result<Vec<(String, DeliveryMeta)>, Error> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = list(kv, "dlv:", 1000, cursor).await?;
        for key in page.keys {
            if let Some(meta) = key.metadata.and_then(|m| serde_json::from_value::<DeliveryMeta>(m).ok()) {
                out.push((key.name.strip_prefix("dlv:").unwrap_or(&key.name).to_owned(), meta));
            }
        }
        if page.list_complete || page.cursor.is_none() {
            return Ok(out);
        }
        cursor = page.cursor;
    }
}

/// Lists keys under `prefix`, a page at a time.
pub async fn list(kv: &KvStore, prefix: &str, limit: u64, cursor: Option<String>) -> Result<worker::kv::ListResponse, Error> {
    let mut q = kv.list().prefix(prefix.to_owned()).limit(limit);
    if let Some(c) = cursor {
        q = q.cursor(c);
    }
    q.execute().await.map_err(kv_error("kv list"))
}
