//! The protocols between the services and what they run on: the storage seam (`backend::Backend`), the
//! ledger's commands and answers, its outbox records, funnel arithmetic, form analytics and the forms' catalog, and every KV key. Pure, like
//! the rules, but these are the contracts the platform implements.
//!
//! May use: the rules, `shared`, `crate::error`. Never services or the Workers runtime.

pub mod analytics;
pub mod backend;
pub mod catalog;
pub mod funnel;
pub mod handover;
pub mod keys;
pub mod ledger;
pub mod outbox;
pub mod shard;
