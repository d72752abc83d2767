//! What kind of form a lead came from and whom it addresses: the two facts most rules branch on (validation,
//! consent, scoring, the lead definition), in a leaf module every other one may import.

use serde::{Deserialize, Serialize};

/// The three kinds of lead forms from the seeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FormKind {
    /// A newsletter sign-up.
    Newsletter,
    /// A download (e-book, whitepaper) given in exchange for contact data.
    DownloadGate,
    /// A giveaway entry.
    Giveaway,
}

/// Whether the form addresses consumers or businesses; it decides which legal bases marketing may rest on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Consumers: marketing needs an explicit, unticked-by-default consent (UWG §7, GDPR Art. 7).
    #[default]
    B2c,
    /// Businesses: marketing may rest on legitimate interest (GDPR Art. 6(1)(f)), recorded as such.
    B2b,
}
