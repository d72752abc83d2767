//! Storage in Workers KV: one key per lead (and, read only for the upgrade, the delivery keys of the
//! KV-only layout). See ARCHITECTURE.md for the key layout and what each write costs.

use crate::protocol::keys::{Key, Prefix};
use crate::Error;
use shared::lead::Lead;
use wasm_bindgen::prelude::wasm_bindgen;
use worker::js_sys::{Array, Map, Promise, Reflect};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::Env;

/// The KV binding's name in the wrangler config.
pub const BINDING: &str = "LEADS";

#[wasm_bindgen]
extern "C" {
    /// A KV namespace as the runtime hands it to the Worker.
    pub type Namespace;

    #[wasm_bindgen(method, catch, js_name = get)]
    fn get_one(this: &Namespace, key: &str, kind: &str) -> Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch, js_name = get)]
    fn get_many(this: &Namespace, keys: &Array, kind: &str) -> Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch, js_name = put)]
    fn put_one(this: &Namespace, key: &str, value: &str) -> Result<Promise, JsValue>;
    #[wasm_bindgen(method, catch, js_name = delete)]
    fn delete_one(this: &Namespace, key: &str) -> Result<Promise, JsValue>;
}

/// Workers KV, called through the binding's own methods with strings in and out.
///
/// Not `worker::kv::KvStore`: its builders convert every call's options (and a bulk read's answer) through
/// `serde_wasm_bindgen`, a dozen calls between the wasm and JavaScript per operation and code the collector
/// links for nothing else (`cargo xtask size`).
pub struct Kv {
    namespace: Namespace,
}

impl Kv {
    /// The collector's namespace, from its bindings.
    pub fn of(env: &Env) -> Result<Kv, Error> {
        let binding = Reflect::get(env, &JsValue::from_str(BINDING)).unwrap_or(JsValue::UNDEFINED);
        if binding.is_undefined() || binding.is_null() {
            return Err(Error::Config(format!("the KV binding {BINDING} is missing")));
        }
        Ok(Kv { namespace: binding.unchecked_into() })
    }

    /// The text under `key`, if there is one.
    pub async fn text(&self, key: &str) -> Result<Option<String>, Error> {
        Ok(answer(self.namespace.get_one(key, "text")).await?.as_string())
    }

    /// The texts under `keys` (at most [`BULK_READ`](crate::protocol::backend::BULK_READ)), in their
    /// order: one KV operation.
    pub async fn texts(&self, keys: &[String]) -> Result<Vec<Option<String>>, Error> {
        let asked: Array = keys.iter().map(|k| JsValue::from_str(k)).collect();
        let found: Map =
            answer(self.namespace.get_many(&asked, "text")).await?.dyn_into().map_err(|_| Error::Internal("kv: a bulk read answered no map".into()))?;
        Ok(keys.iter().map(|k| found.get(&JsValue::from_str(k)).as_string()).collect())
    }

    /// Writes `text` under `key`; resolves only once KV has accepted the write.
    pub async fn put(&self, key: &str, text: &str) -> Result<(), Error> {
        answer(self.namespace.put_one(key, text)).await.map(|_| ())
    }

    /// Removes `key`.
    pub async fn delete(&self, key: &str) -> Result<(), Error> {
        answer(self.namespace.delete_one(key)).await.map(|_| ())
    }
}

/// The settled value of a KV call's promise, or its failure as a KV error.
async fn answer(called: Result<Promise, JsValue>) -> Result<JsValue, Error> {
    let failed = |e: JsValue| Error::Internal(format!("kv: {}", worker::Error::from(e)));
    JsFuture::from(called.map_err(failed)?).await.map_err(failed)
}

/// Writes a lead; resolves only once KV has accepted the write.
pub async fn put_lead(kv: &Kv, lead: &Lead) -> Result<(), Error> {
    put_text(kv, &Key::lead(&lead.id), &serde_json::to_string(lead)?).await
}

/// Writes `text` under `key`; resolves only once KV has accepted the write.
pub async fn put_text(kv: &Kv, key: &Key, text: &str) -> Result<(), Error> {
    kv.put(key.as_str(), text).await
}

/// Reads a lead.
pub async fn get_lead(kv: &Kv, id: &str) -> Result<Option<Lead>, Error> {
    get_json(kv, Key::lead(id).as_str()).await
}

/// Reads the JSON document under `key` into its type.
///
/// As text parsed in the wasm, because `get(..).json()` has JavaScript parse the document and then converts
/// the object value by value through `serde_wasm_bindgen`: calls between wasm and JavaScript for every
/// value of a lead, and a second copy of each document type's reading code in the bundle beside the one
/// that reads ledger answers and bulk reads.
pub async fn get_json<T: serde::de::DeserializeOwned>(kv: &Kv, key: &str) -> Result<Option<T>, Error> {
    match kv.text(key).await? {
        Some(text) => Ok(Some(serde_json::from_str(&text)?)),
        None => Ok(None),
    }
}

/// Removes a lead (used to undo a half-finished intake).
pub async fn delete_lead(kv: &Kv, id: &str) -> Result<(), Error> {
    kv.delete(Key::lead(id).as_str()).await
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
