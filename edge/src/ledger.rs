//! The ledger's protocol: what the Worker asks the ledger (a SQLite Durable Object) and what it answers.
//!
//! KV is eventually consistent, so whatever must hold strictly lives in the ledger instead: one lead per
//! address and form (the email index, which is also the giveaway's one-entry rule), the first answer to
//! each `Idempotency-Key`, and erasure tombstones. One object serves the collector; every command runs in
//! the object without an `await` between its statements, so commands never interleave and each is one
//! transaction. This module is pure (the wire types and the rules for stale reservations); the object's
//! SQL is in `ledger_object`, the Worker's calls in `app`.

use serde::{Deserialize, Serialize};
use shared::lead::Lead;

/// How long a reservation (an address being written, an idempotent request in progress) holds without
/// being settled. A Worker that dies between claiming and settling leaves one behind; after this it is
/// taken as abandoned, so the address is never locked out.
pub const RESERVATION_MS: u64 = 60_000;

/// How long an `Idempotency-Key`'s first answer is kept.
pub const ANSWER_MS: u64 = 86_400_000;

/// A command to the ledger.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Command {
    /// Claims an address on a form for a new lead, and reserves an idempotency key if one was sent.
    Claim {
        /// The form.
        form: String,
        /// The address's index key (`intake::email_hash`).
        email: String,
        /// The id the new lead would get.
        lead: String,
        /// The request's `Idempotency-Key`, if any.
        key: Option<String>,
        /// The lead the old KV email index names for this address, when there is one: the ledger adopts
        /// it if it has no row yet (the upgrade from the KV-only layout).
        legacy: Option<String>,
        /// Now, Unix ms (the Worker's clock).
        now: u64,
    },
    /// The lead (new or repeated) is durably stored: the claim becomes the address's lead, a repeat's hold
    /// on the lead ends, and the idempotency key remembers the answer.
    Settle {
        /// The form.
        form: String,
        /// The address's index key.
        email: String,
        /// The lead claimed, if this request claimed the address.
        lead: Option<String>,
        /// Whether this request held the stored lead for a repeat.
        #[serde(default)]
        held: bool,
        /// The idempotency key, if any.
        key: Option<String>,
        /// The answer to give every retry with that key: `{"status", "body"}`.
        answer: Option<String>,
    },
    /// The request failed before the lead was stored: drop its reservations, so a retry meets a clean slate.
    Release {
        /// The form.
        form: String,
        /// The address's index key.
        email: String,
        /// The lead claimed, if this request claimed the address.
        lead: Option<String>,
        /// Whether this request held the stored lead for a repeat.
        #[serde(default)]
        held: bool,
        /// The idempotency key, if any.
        key: Option<String>,
    },
    /// What the ledger knows now about an address and an idempotency key (asked while another request
    /// holds a reservation).
    Look {
        /// The form.
        form: String,
        /// The address's index key.
        email: String,
        /// The idempotency key, if any.
        key: Option<String>,
        /// Now, Unix ms.
        now: u64,
    },
    /// Reserves an idempotency key for a request that has no address (an admin's draw): answered with
    /// its [`Replay`]. The answer is kept with a `Settle`, the reservation dropped with a `Release`, each
    /// naming the key and an empty `email`.
    Reserve {
        /// The key's namespace (e.g. `draw:<form>`).
        form: String,
        /// The idempotency key.
        key: String,
        /// Now, Unix ms.
        now: u64,
    },
    /// Takes the hold on a stored lead (its address row) for a change that reads and writes its document:
    /// a confirmation, a withdrawal. Answered with [`Holder::Lead`] when this request now holds it,
    /// [`Holder::Reserved`] while another does, [`Holder::Nobody`] when the address has no stored lead.
    /// Released with a `Settle` or `Release` that says `held`.
    Hold {
        /// The form.
        form: String,
        /// The address's index key.
        email: String,
        /// Now, Unix ms.
        now: u64,
    },
    /// Writes a lead's row in the lead index (after every write of its document).
    Index {
        /// The row.
        entry: Entry,
        /// Only add the row if the lead has none (the backfill: a row written since is newer).
        #[serde(default)]
        only_if_missing: bool,
    },
    /// A page of lead ids, newest first, filtered in the index.
    List {
        /// Only this form's leads.
        form: Option<String>,
        /// Only leads with this status.
        status: Option<String>,
        /// Only leads created at or after this time (Unix ms).
        since: Option<u64>,
        /// Only leads older than this one (the previous page's `cursor`).
        before: Option<String>,
        /// How many at most.
        limit: u32,
    },
    /// Removes a lead's row from the lead index (before its document is deleted).
    Unindex {
        /// The lead.
        lead: String,
    },
    /// An erasure: the lead's address rows go, a tombstone stays.
    Forget {
        /// The lead.
        lead: String,
        /// Now, Unix ms.
        now: u64,
    },
    /// Whether a lead has been erased (asked before a late write could bring its data back).
    Erased {
        /// The lead.
        lead: String,
    },
}

/// Who holds an address on a form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Holder {
    /// Nobody: the address is new on the form.
    Nobody,
    /// This request: it may store a new lead.
    Claimed,
    /// A stored lead, which this request now holds for its repeat (after a [`Command::Claim`]) or which is
    /// free to be claimed (after a [`Command::Look`]). A lead is held by one repeat at a time, so repeats
    /// that race never overwrite each other's changes.
    Lead {
        /// Its id.
        lead: String,
    },
    /// Another request is storing a new lead for it, or holds its lead for a repeat, right now.
    Reserved,
}

/// What an idempotency key holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Replay {
    /// No key was sent, or the key is new (and now reserved for this request).
    Fresh,
    /// The first request with the key was answered: give this answer again.
    Answered {
        /// `{"status", "body"}` as settled.
        answer: String,
    },
    /// The first request with the key is still in progress.
    InProgress,
}

/// The ledger's answer to [`Command::Claim`] and [`Command::Look`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Standing {
    /// Who holds the address.
    pub holder: Holder,
    /// What the idempotency key holds.
    pub replay: Replay,
}

/// A lead as the ledger's index knows it: what admin lists and draws filter and sort on, no personal data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The lead's id (time-ordered, so ordering by id is ordering by creation).
    pub id: String,
    /// The form.
    pub form: String,
    /// `new`, `pending` or `confirmed`.
    pub status: String,
    /// The score's stage.
    pub stage: String,
    /// The score.
    pub score: i64,
    /// When the lead was created, Unix ms.
    pub created: u64,
    /// The campaign source (`utm_source`), if any.
    pub source: Option<String>,
}

impl Entry {
    /// The index row of `lead`.
    pub fn of(lead: &Lead) -> Entry {
        Entry {
            id: lead.id.clone(),
            form: lead.form.clone(),
            status: lead.status.as_str().to_owned(),
            stage: serde_json::to_value(lead.score.stage).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
            score: i64::from(lead.score.total),
            created: shared::time::parse(&lead.created_at).unwrap_or(0),
            source: lead.source.utm.get("source").cloned(),
        }
    }
}

/// The ledger's answer to [`Command::List`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    /// Lead ids, newest first.
    pub ids: Vec<String>,
    /// Pass as `before` for the next page; absent on the last one.
    pub cursor: Option<String>,
}

/// The most ids one [`Command::List`] answers (a draw asks for all of a giveaway's entries at once).
pub const MAX_LIST: u32 = 100_000;

/// The ledger's answer to [`Command::Erased`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tombstone {
    /// Whether the lead was erased.
    pub erased: bool,
}

/// Whether a reservation made at `at` (a claim, a hold, a key in progress) is still held at `now`.
pub fn reservation_holds(at: u64, now: u64) -> bool {
    now.saturating_sub(at) < RESERVATION_MS
}

/// Whether an answer settled at `at` is still given at `now`.
pub fn answer_holds(at: u64, now: u64) -> bool {
    now.saturating_sub(at) < ANSWER_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_answers_travel_as_tagged_json() {
        let claim = Command::Claim { form: "nl".into(), email: "ab".into(), lead: "ld_1".into(), key: None, legacy: None, now: 5 };
        let settle: Command = serde_json::from_str(r#"{"op":"settle","form":"nl","email":"ab","lead":null,"key":null,"answer":null}"#).unwrap();
        assert_eq!(settle, Command::Settle { form: "nl".into(), email: "ab".into(), lead: None, held: false, key: None, answer: None });
        let json = serde_json::to_string(&claim).unwrap();
        assert!(json.starts_with(r#"{"op":"claim","form":"nl""#), "{json}");
        assert_eq!(serde_json::from_str::<Command>(&json).unwrap(), claim);
        let standing = Standing { holder: Holder::Lead { lead: "ld_0".into() }, replay: Replay::InProgress };
        let json = serde_json::to_string(&standing).unwrap();
        assert_eq!(json, r#"{"holder":{"state":"lead","lead":"ld_0"},"replay":{"state":"in_progress"}}"#);
        assert_eq!(serde_json::from_str::<Standing>(&json).unwrap(), standing);
        assert!(serde_json::from_str::<Command>(r#"{"op":"drop_tables"}"#).is_err());
    }

    #[test]
    fn reservations_lapse_and_answers_expire() {
        assert!(reservation_holds(1_000, 1_000 + RESERVATION_MS - 1));
        assert!(!reservation_holds(1_000, 1_000 + RESERVATION_MS));
        assert!(reservation_holds(5_000, 1_000), "a clock behind the reservation still holds it");
        assert!(answer_holds(0, ANSWER_MS - 1) && !answer_holds(0, ANSWER_MS));
    }
}
