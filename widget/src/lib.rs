//! Leadgate's widget: renders a lead form from its definition into a shadow root, checks it with the
//! `shared` rules, and posts it to the collector.
//!
//! The JavaScript entry (`widget/js/entry.js`) finds where to render and calls [`mount`] once per place;
//! everything else happens here. `JsValue` only appears at this boundary: inside, state is typed Rust.

#![no_std]

extern crate alloc;

mod listener;
mod transport;
mod view;

use alloc::string::String;
use shared::sheet::Sheet;
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

/// The bundle's panic handler: stop. A panic is a bug whose message no visitor could act on, and std's
/// handler would put the whole message-formatting machinery into every page's download. (Only the bundle
/// has it: the widget's browser tests link std, which brings its own.)
#[cfg(all(target_arch = "wasm32", feature = "bundle"))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

/// A mounted form. JavaScript keeps it alive as long as the form is on the page; dropping it (or calling
/// `free()`) removes the form's event listeners.
#[wasm_bindgen]
pub struct Mounted {
    _view: view::View,
}

/// Renders a form into `host`, posting to `endpoint`. `sheet` is the form's [`Sheet`] and `en`/`de` its
/// markup in each language it may be shown in, as the collector's embed script carries them; `page_lang`
/// is the page's `lang` attribute, used when the form has no language of its own.
#[wasm_bindgen]
pub fn mount(host: web_sys::Element, sheet: &str, en: Option<String>, de: Option<String>, endpoint: String, page_lang: Option<String>) -> Result<Mounted, JsValue> {
    let damaged = || JsValue::from_str("leadgate: the form definition is damaged");
    let sheet = Sheet::decode(sheet).ok_or_else(damaged)?;
    let lang = Lang::choose(sheet.lang, page_lang.as_deref().and_then(Lang::from_tag));
    let markup = match lang {
        Lang::En => en,
        Lang::De => de,
    };
    Ok(Mounted { _view: view::View::mount(&host, sheet, &markup.ok_or_else(damaged)?, lang, endpoint)? })
}
