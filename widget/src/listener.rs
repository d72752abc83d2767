//! Event listeners that remove themselves when dropped, so a form's handlers live exactly as long as the form.
//!
//! A form registers one callback for all its events: every distinct Rust closure handed to JavaScript
//! costs the widget its own glue, and one `match` on the event type is cheaper than six of them.

use alloc::vec::Vec;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{Event, EventTarget};

/// One callback, registered for several event kinds on several targets until this value is dropped.
pub struct Listeners {
    callback: Closure<dyn FnMut(Event)>,
    registered: Vec<(EventTarget, &'static str)>,
}

impl Listeners {
    /// A callback that is not registered anywhere yet.
    pub fn new(f: impl FnMut(Event) + 'static) -> Listeners {
        Listeners { callback: Closure::<dyn FnMut(Event)>::new(f), registered: Vec::new() }
    }

    /// Registers the callback for `kind` events on `target`, in the capture phase, so that events which
    /// do not bubble (`blur`) still reach a listener on an ancestor.
    pub fn listen(&mut self, target: &EventTarget, kind: &'static str) {
        // Adding a listener only fails for an invalid target, which a freshly built form is not.
        let _ = target.add_event_listener_with_callback_and_bool(kind, self.callback.as_ref().unchecked_ref(), true);
        self.registered.push((target.clone(), kind));
    }
}

impl Drop for Listeners {
    fn drop(&mut self) {
        for (target, kind) in &self.registered {
            let _ = target.remove_event_listener_with_callback_and_bool(kind, self.callback.as_ref().unchecked_ref(), true);
        }
    }
}
