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
    use worker::js_sys::{Function, Object, Promise, Reflect};
    use worker::wasm_bindgen::JsCast;
    let target = Reflect::get(env, &JsValue::from_str(binding))?;
    let call = Reflect::get(&target, &JsValue::from_str(method))?;
    let call = call.dyn_ref::<Function>().ok_or_else(|| JsValue::from_str(&format!("the binding {binding} has no {method}()")))?;
    let arg = Object::new();
    for (name, value) in options {
        Reflect::set(&arg, &JsValue::from_str(name), value)?;
    }
    worker::wasm_bindgen_futures::JsFuture::from(Promise::resolve(&call.call1(&target, &arg)?)).await
}
