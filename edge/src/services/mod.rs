//! The services: each use case (a submission, a confirmation, a withdrawal, a download, an erasure, a
//! delivery, a draw, qualification, an import, the admin lists) orchestrated over the storage seam, and
//! tested natively over the memory backend with injected faults.
//!
//! May use: the protocols and the rules, and the services' own base (`holding`, `announcing`, `mailer`) and one
//! another without a cycle. Never the platform or the Workers runtime: everything outside comes through
//! `protocol::backend::Backend`.

pub mod analytics;
pub mod announcing;
pub mod catalog;
pub mod confirmation;
pub mod delivery;
pub mod erasure;
pub mod giveaway;
pub mod handout;
pub mod holding;
pub mod import;
pub mod listing;
pub mod mailer;
pub mod qualification;
pub mod sales;
pub mod submission;
pub mod withdrawal;
