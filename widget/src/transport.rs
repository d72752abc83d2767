//! Talking to the collector: one JSON POST with an idempotency key, retried with backoff on network errors
//! and 5xx answers so a flaky connection neither loses nor duplicates a lead.

use serde::Serialize;
use shared::wire::{ApiError, ErrorBody, FieldError, Submission};
use shared::Code;
use std::collections::BTreeMap;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{RequestInit, Response, Window};

/// How the collector answered.
pub enum Reply {
    /// 2xx with the lead's status (`new` or `pending`) and, for download gates, the download link.
    Accepted(String, Option<String>),
    /// 4xx with the error body.
    Rejected(ErrorBody),
    /// No usable answer after all retries.
    Failed(Code),
}

/// Waits before retry n: 0.5 s, 1.5 s, 4 s.
const BACKOFF_MS: [i32; 3] = [500, 1500, 4000];

/// A fresh idempotency key: 128 random bits, hex.
pub fn new_key() -> String {
    let mut bytes = [0u8; 16];
    if let Some(c) = web_sys::window().and_then(|w| w.crypto().ok()) {
        let _ = c.get_random_values_with_u8_array(&mut bytes);
    }
    bytes.iter().flat_map(|b| [char::from_digit(u32::from(b >> 4), 16).unwrap(), char::from_digit(u32::from(b & 15), 16).unwrap()]).collect()
}

/// The page's `utm_*` parameters, without the prefix.
pub fn utm(window: &Window) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Ok(search) = window.location().search() else { return out };
    let Ok(params) = web_sys::UrlSearchParams::new_with_str(&search) else { return out };
    for name in ["source", "medium", "campaign", "term", "content"] {
        if let Some(v) = params.get(&["utm_", name].concat()).filter(|v| !v.is_empty()) {
            out.insert(name.to_owned(), v);
        }
    }
    out
}

/// Posts a submission; retries network failures and 5xx with the same idempotency key.
pub async fn post(endpoint: &str, sub: &Submission, key: &str) -> Reply {
    let Ok(body) = sub.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).and_then(|v| Ok(js_sys::JSON::stringify(&v)?)) else {
        return Reply::Failed(Code::Internal);
    };
    let url = [endpoint, "/v1/leads"].concat();
    let mut last = Code::Network;
    for attempt in 0..=BACKOFF_MS.len() {
        if attempt > 0 {
            sleep(BACKOFF_MS[attempt - 1]).await;
        }
        match send(&url, &body, key).await {
            Ok(resp) if resp.ok() => {
                let body = json(&resp).await.unwrap_or(JsValue::NULL);
                let text = |k: &str| js_sys::Reflect::get(&body, &JsValue::from_str(k)).ok().and_then(|s| s.as_string());
                return Reply::Accepted(text("status").unwrap_or_default(), text("download_url"));
            }
            Ok(resp) if resp.status() < 500 => {
                return match json(&resp).await.as_ref().and_then(error_body) {
                    Some(body) => Reply::Rejected(body),
                    None => Reply::Failed(Code::Internal),
                };
            }
            Ok(_) => last = Code::Internal,
            Err(_) => last = Code::Network,
        }
    }
    Reply::Failed(last)
}

async fn send(url: &str, body: &js_sys::JsString, key: &str) -> Result<Response, JsValue> {
    let window = web_sys::window().ok_or("no window")?;
    let headers = web_sys::Headers::new()?;
    headers.set("Content-Type", "application/json")?;
    headers.set("Idempotency-Key", key)?;
    let init = RequestInit::new();
    init.set_method("POST");
    init.set_body(body);
    init.set_headers(&headers);
    let resp = JsFuture::from(window.fetch_with_str_and_init(url, &init)).await?;
    resp.dyn_into()
}

/// Reads the collector's error shape, `{"error": {"code", "message", "fields": {name: [{"code", ...}]}}}`,
/// with `Reflect` rather than serde: serde's error messages would bring float formatting into the widget.
fn error_body(v: &JsValue) -> Option<ErrorBody> {
    let get = |o: &JsValue, k: &str| js_sys::Reflect::get(o, &JsValue::from_str(k)).ok().filter(|x| !x.is_undefined() && !x.is_null());
    let error = get(v, "error")?;
    let code = Code::from_name(&get(&error, "code")?.as_string()?)?;
    let message = get(&error, "message").and_then(|m| m.as_string()).unwrap_or_default();
    let mut fields = BTreeMap::new();
    if let Some(f) = get(&error, "fields") {
        for entry in js_sys::Object::entries(f.dyn_ref()?).iter() {
            let entry: js_sys::Array = entry.dyn_into().ok()?;
            let first = js_sys::Array::from(&entry.get(1)).get(0);
            if let (Some(name), Some(code)) = (entry.get(0).as_string(), get(&first, "code").and_then(|c| c.as_string()).and_then(|c| Code::from_name(&c))) {
                let message = get(&first, "message").and_then(|m| m.as_string()).unwrap_or_default();
                fields.insert(name, vec![FieldError { code, message }]);
            }
        }
    }
    Some(ErrorBody { error: ApiError { code, message, fields } })
}

async fn json(resp: &Response) -> Option<JsValue> {
    JsFuture::from(resp.json().ok()?).await.ok()
}

async fn sleep(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    });
    let _ = JsFuture::from(promise).await;
}
