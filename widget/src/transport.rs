//! Talking to the collector: one JSON POST with an idempotency key, retried with backoff on network errors
//! and 5xx answers so a flaky connection neither loses nor duplicates a lead.

use shared::Code;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{RequestInit, Response, Window};

/// How the collector answered.
pub enum Reply {
    /// 2xx with the lead's status (`new` or `pending`) and, for download gates, the download link.
    Accepted { status: String, download: Option<String> },
    /// 4xx: the collector's message and per-field messages (`(field, message)`), in the form's language.
    Rejected { message: String, fields: Vec<(String, String)> },
    /// No usable answer after all retries.
    Failed(Code),
}

/// Waits before retry n: 0.5 s, 1.5 s, 4 s.
const BACKOFF_MS: [i32; 3] = [500, 1500, 4000];

/// A fresh idempotency key: 128 random bits, hex.
pub fn new_key() -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut bytes = [0u8; 16];
    if let Some(c) = web_sys::window().and_then(|w| w.crypto().ok()) {
        let _ = c.get_random_values_with_u8_array(&mut bytes);
    }
    bytes.iter().flat_map(|b| [char::from(HEX[usize::from(b >> 4)]), char::from(HEX[usize::from(b & 15)])]).collect()
}

/// The page's `utm_*` parameters, without the prefix.
pub fn utm(window: &Window) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let Ok(search) = window.location().search() else { return out };
    let Ok(params) = web_sys::UrlSearchParams::new_with_str(&search) else { return out };
    for name in ["source", "medium", "campaign", "term", "content"] {
        if let Some(v) = params.get(&["utm_", name].concat()).filter(|v| !v.is_empty()) {
            // Campaign tags are not the visitor's to fix: an overlong one is cut, never a reason to refuse.
            out.push((name, v.chars().take(shared::wire::UTM_VALUE_MAX).collect()));
        }
    }
    out
}

/// Posts a submission's JSON `body`; retries network failures and 5xx with the same idempotency key.
pub async fn post(endpoint: &str, body: &str, key: &str) -> Reply {
    let url = [endpoint, "/v1/leads"].concat();
    let mut last = Code::Network;
    for attempt in 0..=BACKOFF_MS.len() {
        if attempt > 0 {
            sleep(BACKOFF_MS[attempt - 1]).await;
        }
        match send(&url, body, key).await {
            Ok(resp) if resp.ok() => {
                let body = json(&resp).await.unwrap_or(JsValue::NULL);
                return Reply::Accepted { status: text(&body, "status").unwrap_or_default(), download: text(&body, "download_url") };
            }
            Ok(resp) if resp.status() < 500 => {
                return match json(&resp).await.as_ref().and_then(rejection) {
                    Some(reply) => reply,
                    None => Reply::Failed(Code::Internal),
                };
            }
            Ok(_) => last = Code::Internal,
            Err(_) => last = Code::Network,
        }
    }
    Reply::Failed(last)
}

async fn send(url: &str, body: &str, key: &str) -> Result<Response, JsValue> {
    let window = web_sys::window().ok_or("no window")?;
    let headers = web_sys::Headers::new()?;
    headers.set("Content-Type", "application/json")?;
    headers.set("Idempotency-Key", key)?;
    let init = RequestInit::new();
    init.set_method("POST");
    init.set_body(&JsValue::from_str(body));
    init.set_headers(&headers);
    let resp = JsFuture::from(window.fetch_with_str_and_init(url, &init)).await?;
    Ok(resp.unchecked_into())
}

/// `o[k]`, if present and not null.
fn get(o: &JsValue, k: &str) -> Option<JsValue> {
    js_sys::Reflect::get(o, &JsValue::from_str(k)).ok().filter(|x| !x.is_undefined() && !x.is_null())
}

fn text(o: &JsValue, k: &str) -> Option<String> {
    get(o, k)?.as_string()
}

/// Reads the collector's error shape, `{"error": {"code", "message", "fields": {name: [{"code", "message"}]}}}`,
/// with `Reflect` rather than serde: a deserializer and its error messages would cost the widget more than
/// the whole form. The collector's messages are shown as they come (they are in the form's language), so
/// the widget needs no texts for codes only the collector gives.
pub fn rejection(v: &JsValue) -> Option<Reply> {
    let error = get(v, "error")?;
    let message = text(&error, "message")?;
    let mut fields = Vec::new();
    if let Some(f) = get(&error, "fields") {
        for entry in js_sys::Object::entries(f.unchecked_ref()).iter() {
            let entry: js_sys::Array = entry.unchecked_into();
            let first = js_sys::Array::from(&entry.get(1)).get(0);
            if let (Some(name), Some(problem)) = (entry.get(0).as_string(), text(&first, "message")) {
                fields.push((name, problem));
            }
        }
    }
    Some(Reply::Rejected { message, fields })
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
