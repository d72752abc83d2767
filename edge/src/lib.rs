//! Leadgate's collector: a Cloudflare Worker (built as two, the collector and the operator) that
//! validates, stores, qualifies and forwards leads.
//!
//! Five layers, each a folder, lowest first (`edge/tests/edge/layers.rs` holds the order):
//! - [`rules`]: pure decisions (parsing, the lead and its repeat rules, ids, signed links and receipts,
//!   payloads, pages, routes), unit-tested natively;
//! - [`protocol`]: the storage seam ([`protocol::backend::Backend`]), the ledger's commands and answers,
//!   the outbox record, KV keys and the funnel's arithmetic;
//! - [`services`]: each use case over the seam, tested natively over `platform::memory` with faults;
//! - [`platform`]: the seam over the Workers runtime (KV, the ledger's stub, fetch) and, natively, in
//!   memory;
//! - `glue` (wasm only): the entry points, request and response exchange, the routes, the cron's work
//!   and the ledger Durable Object.
//!
//! [`Error`] is below them all: one error enum, turned into responses in one place (`glue::exchange`).

// Request data is attacker-controlled: nothing in the collector may panic on it. A panic resets the wasm
// instance and fails every request in flight on it, so these are denied crate-wide outside tests.
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::string_slice))]
// A Worker built with one side's feature dispatches only that side's routes (see `entry`): the other
// side's handlers are left out of its bundle, and are not dead code in the product.
#![cfg_attr(all(target_arch = "wasm32", not(all(feature = "collector", feature = "operator"))), allow(dead_code, unused_imports))]

#[cfg(all(target_arch = "wasm32", not(any(feature = "collector", feature = "operator"))))]
compile_error!("build the edge with the feature `collector` or `operator` (or both, for one Worker that serves everything)");

pub mod error;
#[cfg(target_arch = "wasm32")]
pub mod glue;
pub mod platform;
pub mod protocol;
pub mod rules;
pub mod services;

pub use error::Error;
