//! The edge's native tests, one binary with a module per service (and the source-reading tests of the
//! layout, the prose and the write path), sharing their fixtures: one link of the edge instead of one per
//! file.

mod fixtures;

mod analytics;
mod catalog;
mod confirmation;
mod delivery;
mod docs;
mod erasure;
mod funnel;
mod giveaway;
mod handout;
mod import;
mod layers;
mod listing;
mod qualification;
mod sales;
mod shards;
mod strangers;
mod submission;
mod withdrawal;
mod write_path;
