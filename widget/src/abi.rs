//! The module's exports to the page, with `js/rules.js` as the other side: the functions of `forms`, their
//! strings passed through one buffer.
//!
//! Nothing crosses but numbers and UTF-8 strings, so the exchange needs no binding generator: the page
//! asks for a buffer as long as the call's strings ([`io`]), writes them into it one after another, and
//! passes each as its length in bytes (negative: none). A call's answer is left in the same buffer
//! ([`answer`] says where) and the call returns its length (negative: none). wasm-bindgen's glue for the
//! same exports (a string encoder with a per-character fast path, a decoder that renews itself, a table of
//! JavaScript references this module never holds, an allocation and a free per string) was 967 bytes
//! brotli of every embed script; this exchange is a fraction of that, and every page loads it.
//!
//! A page's script may call these exports with anything: a length past the buffer, bytes that are not
//! UTF-8. Such a string counts as none; nothing here trusts the page further than `forms` does.

use crate::forms;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::UnsafeCell;

/// The buffer the page and the module exchange a call's strings through.
struct Buffer(UnsafeCell<Vec<u8>>);

// SAFETY: wasm32-unknown-unknown without the atomics feature is single-threaded (as for `forms::Forms`).
unsafe impl Sync for Buffer {}

static BUFFER: Buffer = Buffer(UnsafeCell::new(Vec::new()));

/// The buffer.
///
/// # Safety
///
/// The reference must be gone before the next call, as for `forms::all`: the exports below hold it for
/// their own call only, and nothing they run calls back into JavaScript.
unsafe fn buffer() -> &'static mut Vec<u8> {
    // SAFETY: as this function's contract says.
    unsafe { &mut *BUFFER.0.get() }
}

/// Makes the buffer `len` bytes long (zeroed) and returns where it starts, for the page to write a call's
/// strings into.
#[no_mangle]
pub extern "C" fn io(len: usize) -> *mut u8 {
    // SAFETY: held for this call only (see `buffer`).
    let buffer = unsafe { buffer() };
    buffer.clear();
    buffer.resize(len, 0);
    buffer.as_mut_ptr()
}

/// Where the last call's answer starts; the call returned its length.
#[no_mangle]
pub extern "C" fn answer() -> *const u8 {
    // SAFETY: held for this call only (see `buffer`).
    unsafe { buffer() }.as_ptr()
}

/// The strings the page wrote for a call, read in the order of its parameters.
struct Strings(usize);

impl Strings {
    /// The next string, `len` bytes long; none when `len` is negative, overruns the buffer or its bytes
    /// are not UTF-8.
    fn next(&mut self, len: i32) -> Option<String> {
        let start = self.0;
        let end = start.checked_add(usize::try_from(len).ok()?)?;
        self.0 = end;
        // SAFETY: held for this call only (see `buffer`).
        let bytes = unsafe { buffer() }.get(start..end)?;
        core::str::from_utf8(bytes).ok().map(String::from)
    }
}

/// Leaves `text` in the buffer for the page; its length, or -1 for none.
fn answer_with(text: Option<String>) -> i32 {
    let Some(text) = text else { return -1 };
    let len = text.len() as i32;
    // SAFETY: held for this call only (see `buffer`).
    *unsafe { buffer() } = text.into_bytes();
    len
}

/// See [`forms::open`].
#[no_mangle]
pub extern "C" fn open(sheet: i32, shown: i32) -> u32 {
    let mut strings = Strings(0);
    let sheet = strings.next(sheet).unwrap_or_default();
    forms::open(&sheet, strings.next(shown))
}

/// See [`forms::close`].
#[no_mangle]
pub extern "C" fn close(n: u32) {
    forms::close(n)
}

/// See [`forms::check`].
#[no_mangle]
pub extern "C" fn check(n: u32, i: usize, value: i32) -> i32 {
    let value = Strings(0).next(value).unwrap_or_default();
    answer_with(forms::check(n, i, &value))
}

/// See [`forms::shown`].
#[no_mangle]
pub extern "C" fn shown(n: u32) -> u32 {
    forms::shown(n).into()
}

/// See [`forms::set`].
#[no_mangle]
pub extern "C" fn set(n: u32, i: usize, value: i32) {
    forms::set(n, i, Strings(0).next(value).unwrap_or_default())
}

/// See [`forms::tag`].
#[no_mangle]
pub extern "C" fn tag(n: u32, name: i32, value: i32) {
    let mut strings = Strings(0);
    let name = strings.next(name).unwrap_or_default();
    forms::tag(n, &name, &strings.next(value).unwrap_or_default())
}

/// See [`forms::submit`].
#[no_mangle]
pub extern "C" fn submit(n: u32, page: i32, referrer: i32, hp: i32, elapsed_ms: f64, turnstile: i32) -> i32 {
    let mut strings = Strings(0);
    let (page, referrer, hp) = (strings.next(page), strings.next(referrer), strings.next(hp).unwrap_or_default());
    answer_with(forms::submit(n, page, referrer, hp, elapsed_ms, strings.next(turnstile)))
}

/// See [`forms::say`].
#[no_mangle]
pub extern "C" fn say(n: u32, what: u32) -> i32 {
    answer_with(Some(forms::say(n, u8::try_from(what).unwrap_or(u8::MAX))))
}

/// See [`forms::thanks`].
#[no_mangle]
pub extern "C" fn thanks(n: u32, status: i32, download: i32) -> i32 {
    let mut strings = Strings(0);
    let status = strings.next(status).unwrap_or_default();
    answer_with(Some(forms::thanks(n, &status, strings.next(download))))
}
