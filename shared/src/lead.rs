//! The stored lead: who left which data on which form, with their consent record, source and score.

use alloc::{string::String, vec::Vec};

use crate::consent::ConsentRecord;
use crate::form::FormKind;
use crate::score::{Engagement, Score};
use serde::{Deserialize, Serialize};
use alloc::collections::BTreeMap;

/// Where a lead is in the opt-in process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Stored; no confirmation asked for (single opt-in forms).
    New,
    /// Waiting for the double opt-in link to be clicked.
    Pending,
    /// The double opt-in link was clicked.
    Confirmed,
}

impl Status {
    /// The status as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Pending => "pending",
            Status::Confirmed => "confirmed",
        }
    }
}

/// Where the visitor came from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// The page the form was on.
    #[serde(default)]
    pub page: Option<String>,
    /// The page's referrer.
    #[serde(default)]
    pub referrer: Option<String>,
    /// UTM parameters without the `utm_` prefix.
    #[serde(default)]
    pub utm: BTreeMap<String, String>,
}

/// A lead as stored in KV and sent in webhooks (version 1 of the payload's `data`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lead {
    /// A time-ordered id (`ld_` + 26 characters).
    pub id: String,
    /// The form's id.
    pub form: String,
    /// The form's kind.
    pub kind: FormKind,
    /// The opt-in status.
    pub status: Status,
    /// When the lead was first stored (RFC 3339).
    pub created_at: String,
    /// When the lead last changed (RFC 3339).
    pub updated_at: String,
    /// Cleaned field values by name.
    pub fields: BTreeMap<String, String>,
    /// The proof of consent given with the latest submission.
    pub consent: ConsentRecord,
    /// The records of earlier submissions, oldest first: a later submission can withdraw or extend
    /// consent, and every earlier statement stays provable.
    #[serde(default)]
    pub consent_history: Vec<ConsentRecord>,
    /// Page, referrer and UTM parameters.
    pub source: Source,
    /// What the lead did after leaving its data.
    pub engagement: Engagement,
    /// Score, reasons and stage.
    pub score: Score,
    /// The double opt-in confirmation: when, and from which pseudonymous client (proof of the second step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmation: Option<Confirmation>,
}

/// Proof of a double opt-in confirmation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    /// When the link was clicked (server time, RFC 3339).
    pub at: String,
    /// The pseudonymous client id of the click (keyed HMAC of the IP address), if one could be made.
    #[serde(default)]
    pub client_id: Option<String>,
}
