//! Leadgate's widget: puts a lead form into a shadow root, checks it with the `shared` rules, and posts it
//! to the collector.
//!
//! The collector has already written the form's markup (`shared::markup`) and its rules (`shared::sheet`)
//! into the embed script, with the style sheet. The JavaScript entry (`widget/js/entry.js`) finds where to
//! render, opens a [`Form`] from the rules, and hands it, its markup and the style sheet to the view
//! (`js/view.js`). The `Form` is the form's mind: its language, every check, message and submission body
//! come from it. The view is its hands in the page: shadow root, DOM events, ARIA state and the HTTP
//! exchange, which cost far fewer bytes as JavaScript than as Rust glue.
//!
//! Nothing crosses from the page into Rust but strings and numbers: no DOM object, no JavaScript function,
//! no exception, not even a JavaScript object for the form (the view holds its number, see `forms`). So
//! the module needs no binding generator: `abi` is its exports, `js/rules.js` their page side, and no
//! table of JavaScript references, exception glue, class wrapper or `web-sys` is in the download.
#![no_std]

extern crate alloc;
#[cfg(test)]
extern crate std;

// Only where the module runs: the exports and the list of forms are shared by a single thread (see there).
#[cfg(target_arch = "wasm32")]
mod abi;
mod form;
#[cfg(target_arch = "wasm32")]
mod forms;

pub use form::Form;
#[cfg(target_arch = "wasm32")]
pub use forms::*;

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
