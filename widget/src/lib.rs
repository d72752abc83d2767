//! Leadgate's widget: puts a lead form into a shadow root, checks it with the `shared` rules, and posts it
//! to the collector.
//!
//! The JavaScript entry (`widget/js/entry.js`) finds where to render and calls [`mount`] once per place.
//! The collector has already written the form's markup (`shared::markup`) and its rules (`shared::sheet`)
//! into the embed script. [`form::Form`] is the form's mind: every check, message and submission body comes
//! from it. `js/view.js` is its hands in the page: DOM events, ARIA state and the HTTP exchange, which cost
//! far fewer bytes as JavaScript than as Rust glue.
#![no_std]

extern crate alloc;
#[cfg(test)]
extern crate std;

mod form;

use alloc::string::String;
use form::Form;
use shared::markup::CSS;
use shared::Lang;
use wasm_bindgen::prelude::*;

// A small free-list allocator instead of the default dlmalloc: the widget allocates little and briefly,
// and dlmalloc alone is about 7 KB of the download.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
// SAFETY: wasm32-unknown-unknown without the atomics feature is single-threaded, which is all
// `AssumeSingleThreaded` requires.
static ALLOCATOR: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

/// The bundle's panic handler: stop. A panic is a bug whose message no visitor could act on, and std's
/// handler would put the whole message-formatting machinery into every page's download. (Only the bundle
/// has it: the widget's browser tests link std, which brings its own.)
#[cfg(all(target_arch = "wasm32", feature = "bundle"))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

#[wasm_bindgen(module = "/js/view.js")]
extern "C" {
    /// Renders `markup` styled by `css` into a shadow root on `host` and wires it to `form`; returns the view.
    #[wasm_bindgen(catch, js_name = mount)]
    fn mount_view(host: &web_sys::Element, css: &str, markup: &str, form: Form, endpoint: &str) -> Result<JsValue, JsValue>;
}

/// Renders a form into `host`, posting to `endpoint`. `sheet` is the form's sheet and `en`/`de` its markup
/// in each language it may be shown in, as the collector's embed script carries them; `page_lang` is the
/// page's `lang` attribute, used when the form has no language of its own.
///
/// Returns the view: its `unmount()` removes the form's event listeners and frees its memory.
#[wasm_bindgen]
pub fn mount(
    host: web_sys::Element,
    sheet: &str,
    en: Option<String>,
    de: Option<String>,
    endpoint: String,
    page_lang: Option<String>,
) -> Result<JsValue, JsValue> {
    let damaged = || JsValue::from_str("leadgate: the form definition is damaged");
    let form = Form::open(sheet, page_lang.as_deref()).ok_or_else(damaged)?;
    let markup = match form.lang() {
        Lang::En => en,
        Lang::De => de,
    };
    mount_view(&host, CSS, &markup.ok_or_else(damaged)?, form, &endpoint)
}
