//! Storage in Workers KV: one key per lead (and, read only for the upgrade, the delivery keys of the
//! KV-only layout). See ARCHITECTURE.md for the key layout and what each write costs.

use crate::protocol::keys::{Key, Prefix};
use crate::Error;
use shared::lead::Lead;
use worker::kv::KvStore;
use worker::wasm_bindgen::JsValue;
use worker::Env;

/// The KV binding's name in the wrangler config.
pub const BINDING: &str = "LEADS";

/// Writes a lead; resolves only once KV has accepted the write.
pub async fn put_lead(kv: &KvStore, lead: &Lead) -> Result<(), Error> {
    put_text(kv, &Key::lead(&lead.id), &serde_json::to_string(lead)?).await
}

/// Writes `text` under `key`; resolves only once KV has accepted the write.
///
/// As bytes, because `KvStore::put` takes any `Serialize` value through `serde_wasm_bindgen` and a branch
/// that prints numbers, which links float formatting into the Worker for text that is already a string.
pub async fn put_text(kv: &KvStore, key: &Key, text: &str) -> Result<(), Error> {
    Ok(kv.put_bytes(key.as_str(), text.as_bytes())?.execute().await?)
}

/// Reads a lead.
pub async fn get_lead(kv: &KvStore, id: &str) -> Result<Option<Lead>, Error> {
    get_json(kv, Key::lead(id).as_str()).await
}

/// Reads the JSON document under `key` into its type.
///
/// As text parsed in the wasm, because `get(..).json()` has JavaScript parse the document and then converts
/// the object value by value through `serde_wasm_bindgen`: calls between wasm and JavaScript for every
/// value of a lead, and a second copy of each document type's reading code in the bundle beside the one
/// that reads ledger answers and bulk reads.
pub async fn get_json<T: serde::de::DeserializeOwned>(kv: &KvStore, key: &str) -> Result<Option<T>, Error> {
    match kv.get(key).text().await? {
        Some(text) => Ok(Some(serde_json::from_str(&text)?)),
        None => Ok(None),
    }
}

/// Removes a lead (used to undo a half-finished intake).
pub async fn delete_lead(kv: &KvStore, id: &str) -> Result<(), Error> {
    Ok(kv.delete(Key::lead(id).as_str()).await?)
}

/// One page of the keys under a prefix.
pub struct Page {
    /// The keys' names.
    pub names: Vec<String>,
    /// Where the next page starts; none after the last.
    pub cursor: Option<String>,
}

/// Lists keys under `prefix`, a page at a time, through the binding's own `list` (see
/// [`binding::call`](crate::platform::binding::call) for why not `KvStore::list`).
pub async fn list(env: &Env, prefix: Prefix<'_>, limit: u64, cursor: Option<String>) -> Result<Page, Error> {
    use worker::js_sys::{Array, Reflect};
    use worker::wasm_bindgen::JsCast;
    let mut options = vec![("prefix", JsValue::from_str(&prefix.as_str())), ("limit", JsValue::from_f64(limit as f64))];
    options.extend(cursor.map(|c| ("cursor", JsValue::from_str(&c))));
    let answer = crate::platform::binding::call(env, BINDING, "list", &options).await.map_err(worker::Error::from)?;
    let field = |name: &str| Reflect::get(&answer, &JsValue::from_str(name)).map_err(worker::Error::from);
    // Checked, not `Array::from`: that calls `Array.from`, which throws on anything but an iterable.
    let keys: Array = field("keys")?.dyn_into().map_err(|_| Error::Internal("the KV list answered no keys".into()))?;
    let names = keys.iter().filter_map(|key| Reflect::get(&key, &JsValue::from_str("name")).ok()?.as_string()).collect();
    // KV answers a cursor only while the list is not complete.
    let cursor = if field("list_complete")?.as_bool() == Some(false) { field("cursor")?.as_string() } else { None };
    Ok(Page { names, cursor })
}
