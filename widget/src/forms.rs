//! The forms this instance opened, each known to the page by its number: what the module's exports
//! (`abi`) do, as Rust functions (the widget's browser tests call them as they are).
//!
//! The view holds a number rather than a JavaScript object wrapping the Rust `Form`: a class's glue (a
//! wrapper per method, a finalization registry, a reference-counted cell with its borrow checks and their
//! error paths) cost every first visit more than these functions do. A form lives as long as its view:
//! until [`close`]. A number that names no open form is answered as a form with nothing to say.

use crate::Form;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::UnsafeCell;

/// The forms by number (index + 1; 0 is no form), `None` once closed. Numbers are not reused: a page opens
/// a handful of forms.
struct Forms(UnsafeCell<Vec<Option<Form>>>);

// SAFETY: wasm32-unknown-unknown without the atomics feature is single-threaded, so the list is never
// reached from two threads (the same reasoning as the allocator's `AssumeSingleThreaded` in `lib.rs`).
unsafe impl Sync for Forms {}

static FORMS: Forms = Forms(UnsafeCell::new(Vec::new()));

/// The list of forms.
///
/// # Safety
///
/// The reference must be gone before the next call. The functions below are the only callers and hold it
/// for their own call only: there is one thread (see `Forms`), JavaScript calls them (through `abi`'s
/// exports) one at a time, and nothing they run calls back into JavaScript, so no second call can begin
/// while one holds the list.
unsafe fn all() -> &'static mut Vec<Option<Form>> {
    // SAFETY: as this function's contract says.
    unsafe { &mut *FORMS.0.get() }
}

/// Form `n`, if it is open. Not inlined: one copy serves every function below.
///
/// # Safety
///
/// As for [`all`].
#[inline(never)]
unsafe fn form(n: u32) -> Option<&'static mut Form> {
    // SAFETY: as this function's contract says.
    unsafe { all() }.get_mut((n as usize).wrapping_sub(1))?.as_mut()
}

/// Opens the form of an encoded sheet (see [`Form::open`]): its number, or 0 when the sheet is damaged.
pub fn open(sheet: &str, shown: Option<String>) -> u32 {
    let Some(form) = Form::open(sheet, shown) else { return 0 };
    // SAFETY: held for this call only (see `all`).
    let forms = unsafe { all() };
    forms.push(Some(form));
    forms.len() as u32
}

/// Closes form `n`: its view is gone.
pub fn close(n: u32) {
    // SAFETY: held for this call only (see `all`).
    if let Some(form) = unsafe { all() }.get_mut((n as usize).wrapping_sub(1)) {
        *form = None;
    }
}

/// See [`Form::check`].
pub fn check(n: u32, i: usize, value: &str) -> Option<String> {
    // SAFETY: held for this call only (see `all`).
    unsafe { form(n) }.and_then(|f| f.check(i, value))
}

/// See [`Form::shown`].
pub fn shown(n: u32) -> u8 {
    // SAFETY: held for this call only (see `all`).
    unsafe { form(n) }.map(|f| f.shown()).unwrap_or(0)
}

/// See [`Form::set`].
pub fn set(n: u32, i: usize, value: String) {
    // SAFETY: held for this call only (see `all`).
    if let Some(f) = unsafe { form(n) } {
        f.set(i, value);
    }
}

/// See [`Form::tag`].
pub fn tag(n: u32, name: &str, value: &str) {
    // SAFETY: held for this call only (see `all`).
    if let Some(f) = unsafe { form(n) } {
        f.tag(name, value);
    }
}

/// See [`Form::submit`].
pub fn submit(n: u32, page: Option<String>, referrer: Option<String>, hp: String, elapsed_ms: f64, turnstile: Option<String>) -> Option<String> {
    // SAFETY: held for this call only (see `all`).
    unsafe { form(n) }.and_then(|f| f.submit(page, referrer, hp, elapsed_ms, turnstile))
}

/// See [`Form::say`].
pub fn say(n: u32, what: u8) -> String {
    // SAFETY: held for this call only (see `all`).
    unsafe { form(n) }.map(|f| f.say(what)).unwrap_or_default()
}

/// See [`Form::thanks`].
pub fn thanks(n: u32, status: &str, download: Option<String>) -> String {
    // SAFETY: held for this call only (see `all`).
    unsafe { form(n) }.map(|f| f.thanks(status, download)).unwrap_or_default()
}

/// For the widget's browser tests only (the entry knows what it showed): the tag of the language form `n`
/// speaks.
#[cfg(not(feature = "bundle"))]
pub fn lang(n: u32) -> String {
    // SAFETY: held for this call only (see `all`).
    unsafe { form(n) }.map(|f| f.lang().into()).unwrap_or_default()
}
