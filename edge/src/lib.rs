//! Leadgate's collector: a Cloudflare Worker that validates, stores and forwards leads.
//!
//! Three layers. Pure modules make every decision (parsing, validation via `shared`, ids, signatures,
//! retry schedule, routes, the ledger's protocol) and are unit-tested natively. Services (`submission`,
//! `confirmation`, `withdrawal`, `erasure`, `delivery`, `drawing`, `listing`, `qualification`, `import`, `handout`) orchestrate a use case over
//! the storage seam (`backend::Backend`) and are tested natively over `memory` with injected faults. The
//! wasm-only glue does the I/O against the Workers runtime: `entry` (entry points, dispatch, errors into
//! responses in one place), `exchange` (reading requests, building responses), `visitor`, `operator` and
//! `integration` (the public, the admin, and other systems' routes), `upkeep` (the cron's work), `cloud` (the seam over KV, the ledger,
//! fetch and the environment), `store` (KV keys and calls) and `ledger_object` (the ledger's SQL).

// Request data is attacker-controlled: nothing in the collector may panic on it. A panic resets the wasm
// instance and fails every request in flight on it, so these are denied crate-wide outside tests.
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
