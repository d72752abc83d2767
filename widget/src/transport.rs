//! Talking to the collector: the idempotency key, the page's campaign tags, and what the collector's answer
//! means. The HTTP exchange itself (one JSON POST, retried with backoff on network errors and 5xx) is
//! `js/transport.js`: it is nothing but browser calls, which cost far less as JavaScript than as Rust glue.

use alloc::string::String;
use alloc::vec::Vec;
use shared::Code;
use wasm_bindgen::prelude::*;
use web_sys::Window;

#[wasm_bindgen(module = "/js/transport.js")]
extern "C" {
    /// Posts `body`; calls `done(kind, status, download, message, names, messages)` once (see the JS).
    #[wasm_bindgen(js_name = post)]
    fn post_js(endpoint: &str, body: &str, key: &str, done: &JsValue);
}

/// How the collector answered.
pub enum Reply {
    /// 2xx with the lead's status (`new` or `pending`) and, for download gates, the download link.
    Accepted { status: String, download: Option<String> },
    /// 4xx: the collector's message and per-field messages (`(field, message)`), in the form's language.
    Rejected { message: String, fields: Vec<(String, String)> },
    /// No usable answer after all retries.
    Failed(Code),
}

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

/// Posts a submission's JSON `body` with its idempotency key and calls `done` with the collector's answer
/// once the exchange (retries included) is over.
pub fn post(endpoint: &str, body: &str, key: &str, done: impl FnOnce(Reply) + 'static) {
    let settle = Closure::once_into_js(move |kind: u8, status: String, download: Option<String>, message: String, names: js_sys::Array, messages: js_sys::Array| {
        done(match kind {
            0 => Reply::Accepted { status, download },
            1 => Reply::Rejected {
                message,
                fields: names.iter().zip(messages.iter()).filter_map(|(n, m)| Some((n.as_string()?, m.as_string()?))).collect(),
            },
            _ => Reply::Failed(if status == "network" { Code::Network } else { Code::Internal }),
        })
    });
    post_js(endpoint, body, key, &settle);
}
