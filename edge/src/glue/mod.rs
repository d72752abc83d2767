//! The Workers glue, wasm only and as thin as the runtime allows: the entry points and dispatch
//! (`entry`), reading requests and building responses in one place (`exchange`), the lead behind a mailed link (`links`), the routes a visitor's
//! browser calls (`visitor`) with the hand-over of a repeat to the operator (`handover`) and the isolate's page-view sums (`counting`), the admin API (`operator`, and the forms' editor: `editor`), other systems' calls (`integration`), the owners' links (`sales`), the cron's
//! work (`upkeep`) and the ledger Durable Object (`ledger_object`) with its SQL read as JSON (`sql`). Tested end to end.
//!
//! May use: every layer below.

pub(crate) mod context;
pub(crate) mod counting;
pub(crate) mod editor;
pub(crate) mod entry;
pub(crate) mod exchange;
pub(crate) mod handover;
pub(crate) mod integration;
pub(crate) mod ledger_object;
pub(crate) mod links;
pub(crate) mod operator;
pub(crate) mod sales;
pub(crate) mod sql;
pub(crate) mod upkeep;
pub(crate) mod visitor;
