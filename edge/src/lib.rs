//! Leadgate's collector: a Cloudflare Worker that validates, stores and forwards leads.
//!
//! The crate is split the way matklad's "How to Test" suggests: every decision (parsing, validation via
//! `shared`, ids, signatures, retry schedule, access control, embed script) is a pure function in a module
//! that is unit-tested natively; `app` is the thin wasm-only glue that does the I/O against the Workers
//! runtime (KV, outbound fetch, clock, randomness) and turns [`Error`] into responses in one place.

// Request data is attacker-controlled: nothing in the collector may panic on it. A panic resets the wasm
// instance and fails every request in flight on it, so these are denied crate-wide outside tests.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::string_slice))]

pub mod admin;
pub mod crm;
pub mod download;
pub mod draw;
pub mod embed;
pub mod error;
pub mod export;
pub mod id;
pub mod intake;
pub mod ledger;
pub mod mail;
pub mod outbox;
pub mod page;
pub mod pseudonym;
pub mod receipt;
pub mod route;
pub mod storage;
pub mod submission;
pub mod token;
pub mod turnstile;
pub mod webhook;

#[cfg(not(target_arch = "wasm32"))]
pub mod memory;

#[cfg(target_arch = "wasm32")]
mod app;
#[cfg(target_arch = "wasm32")]
mod cloud;
#[cfg(target_arch = "wasm32")]
mod ledger_object;
#[cfg(target_arch = "wasm32")]
mod store;

pub use error::Error;
