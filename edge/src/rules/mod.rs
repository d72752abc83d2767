//! Pure rules: every decision the collector makes that needs no I/O, unit-tested natively. Parsing requests
//! and URLs, the lead built from a submission and the repeat rules, ids, signed links and receipts, the
//! payloads and signatures of webhooks and CRM calls, mails, pages, routes, draws and imports' rows.
//!
//! May use: `shared`, `crate::error`, and other rules (without a cycle). Never storage, services or the
//! Workers runtime.

pub mod access;
pub mod address;
pub mod beacon;
pub mod crm;
pub mod decoding;
pub mod digest;
pub mod disposition;
pub mod draw;
pub mod embed;
pub mod export;
pub mod feedback;
pub mod id;
pub mod intake;
pub mod mail;
pub mod memo;
pub mod page;
pub mod pseudonym;
pub mod receipt;
pub mod repeats;
pub mod route;
pub mod rows;
pub mod speed;
pub mod token;
pub mod turnstile;
pub mod webhook;
