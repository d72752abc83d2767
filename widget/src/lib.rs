//! Leadgate's widget: renders a lead form from its definition into a shadow root, checks it with the
//! `shared` rules, and posts it to the collector.
//!
//! The JavaScript entry (`widget/js/entry.js`) finds where to render and calls [`mount`] once per place;
//! everything else happens here. `JsValue` only appears at this boundary: inside, state is typed Rust.

mod listener;
mod style;
mod template;
mod transport;
mod view;

use shared::form::PublicForm;
use shared::Lang;
use wasm_bindgen::prelude::*;

// A small free-list allocator instead of std's dlmalloc: the widget allocates little and briefly, and
// dlmalloc alone is about 7 KB of the download.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
// SAFETY: wasm32-unknown-unknown without the atomics feature is single-threaded, which is all
// `AssumeSingleThreaded` requires.
static ALLOCATOR: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

/// A mounted form. JavaScript keeps it alive as long as the form is on the page; dropping it (or calling
/// `free()`) removes the form's event listeners.
#[wasm_bindgen]
pub struct Mounted {
    _view: view::View,
}

/// Renders `form` (a [`PublicForm`] in postcard, as the collector's embed script carries it) into `host`,
/// posting to `endpoint`. `page_lang` is the page's `lang` attribute, used when the form has no language of
/// its own.
#[wasm_bindgen]
pub fn mount(host: web_sys::Element, form: &[u8], endpoint: String, page_lang: Option<String>) -> Result<Mounted, JsValue> {
    let form: PublicForm = postcard::from_bytes(form).map_err(|_| JsValue::from_str("leadgate: the form definition is damaged"))?;
    let lang = form.lang_for(page_lang.as_deref().and_then(Lang::from_tag));
    Ok(Mounted { _view: view::View::mount(&host, form, lang, endpoint)? })
}
