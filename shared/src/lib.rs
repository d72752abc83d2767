//! Leadgate's rule book: everything the widget and the edge must agree on, as pure functions and serde types.
//!
//! This crate does no I/O and knows nothing of browsers or Workers: the widget (wasm in the page) and the
//! edge (wasm in workerd) both call it, so a visitor never sees "valid" in the form and "rejected" from the
//! collector. Time, randomness and storage are passed in by the callers.
//!
//! The `server` feature adds what only the edge and the tooling need (the `validator` derive for the config
//! file, SHA-256 of consent texts); the widget builds without it to stay small.
#![deny(missing_docs)]
// No std: the widget's build has no use for std's I/O, threads or panic machinery, and leaving std out
// lets the widget replace the panic handler, which drops the message formatting from every page's wasm.
#![no_std]

extern crate alloc;
#[cfg(any(test, feature = "server"))]
extern crate std;

pub mod config;
pub mod consent;
pub mod email;
pub mod field;
pub mod form;
pub mod hours;
pub mod html;
pub mod kind;
pub mod lang;
pub mod lead;
pub mod markup;
pub mod message;
pub mod order;
pub mod owner;
pub mod phone;
pub mod problems;
pub mod score;
pub mod sheet;
pub mod stage;
pub mod text;
pub mod time;
pub mod validation;
pub mod wire;

pub use lang::Lang;
pub use message::Code;
