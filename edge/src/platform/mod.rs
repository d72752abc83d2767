//! What the services run on: the storage seam implemented over the Workers runtime (`cloud`: KV, the
//! ledger's stub, fetch, secrets, the clock; `store`: the KV calls; `binding`: calls on bindings without
//! `worker`'s wrappers) for the product, and over maps (`memory`, with faults and counts) for the native
//! tests.
//!
//! May use: the protocols, the rules, and the Workers runtime. Never the services or the glue.

#[cfg(target_arch = "wasm32")]
pub(crate) mod binding;
#[cfg(target_arch = "wasm32")]
pub(crate) mod cloud;
#[cfg(not(target_arch = "wasm32"))]
pub mod memory;
#[cfg(target_arch = "wasm32")]
pub(crate) mod store;
