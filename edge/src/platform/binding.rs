//! Calls on the runtime's bindings made without the `worker` crate's wrappers, where those convert their
//! arguments and answers through `serde_wasm_bindgen`.

use worker::wasm_bindgen::JsValue;
use worker::Env;

/// Calls `method` of the binding `binding` with one options object made of `options` (name, value) and
/// awaits its answer, which the caller reads with `Reflect`, field by field.
///
/// For the KV list and the rate limiter, whose `worker` wrappers convert their options and answers through
/// `serde_wasm_bindgen`: about 11 KB of the collector's code (with the answers' derived readers) that
/// nothing else here uses, for an options object of one to three values.
pub async fn call(env: &Env, binding: &str, method: &str, options: &[(&str, JsValue)]) -> Result<JsValue, JsValue> {
    let arg = worker::js_sys::Object::new();
    for (name, value) in options {
        worker::js_sys::Reflect::set(&arg, &JsValue::from_str(name), value)?;
    }
    call_with(env, binding, method, &arg).await
}

/// Calls `method` of the binding `binding` with `arg` and awaits its answer.
async fn call_with(env: &Env, binding: &str, method: &str, arg: &JsValue) -> Result<JsValue, JsValue> {
    use worker::js_sys::{Function, Promise, Reflect};
    use worker::wasm_bindgen::JsCast;
    let target = Reflect::get(env, &JsValue::from_str(binding))?;
    let call = Reflect::get(&target, &JsValue::from_str(method))?;
    let call = call.dyn_ref::<Function>().ok_or_else(|| JsValue::from_str(&format!("the binding {binding} has no {method}()")))?;
    worker::wasm_bindgen_futures::JsFuture::from(Promise::resolve(&call.call1(&target, arg)?)).await
}

/// The binding of the collector's static assets (`www/`) in the wrangler config.
pub const ASSETS_BINDING: &str = "ASSETS";

/// The text of the static asset at `path` (`/w/...`), read through the [`ASSETS_BINDING`].
pub async fn asset_text(env: &Env, path: &str) -> Result<String, crate::Error> {
    use worker::wasm_bindgen::JsCast;
    if worker::js_sys::Reflect::get(env, &JsValue::from_str(ASSETS_BINDING)).map_or(true, |assets| assets.is_undefined()) {
        return Err(crate::Error::Config(format!("the static assets binding {ASSETS_BINDING} is missing")));
    }
    let failed = |e: JsValue| crate::Error::Internal(format!("static asset {path}: {}", worker::Error::from(e)));
    // The host is not looked at: the binding serves the assets by path.
    let url = JsValue::from_str(&["https://assets.invalid", path].concat());
    let response: worker::web_sys::Response = call_with(env, ASSETS_BINDING, "fetch", &url).await.map_err(failed)?.unchecked_into();
    if !response.ok() {
        return Err(crate::Error::Config(format!("the static asset {path} is missing ({}): deploy the assets of the same build", response.status())));
    }
    runtime_text(&response).await.map_err(failed)
}

/// A whole answer of the runtime's own response type as text, with its own `text()` (see
/// `cloud::answer_text`).
pub async fn runtime_text(resp: &worker::web_sys::Response) -> Result<String, JsValue> {
    let text = worker::wasm_bindgen_futures::JsFuture::from(resp.text()?).await?;
    Ok(text.as_string().unwrap_or_default())
}
