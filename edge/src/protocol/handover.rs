//! The collector's hand-over of a repeat to the operator: what the collector sends once the ledger has
//! given its request a stored lead (the address submitted this form before), what the operator answers,
//! and the seal that lets the operator tell the collector's hand-over from anybody else's request.
//!
//! Why: a first submission never reads a lead, but a repeat reads the stored one and merges the new
//! submission into it, and the code that reads a whole lead (serde's derived readers) and merges it is a
//! tenth of the collector's bundle. The collector keeps what every submission needs (checks, the claim,
//! a new lead's write and settle) and passes the rest of a repeat on, over the service binding through
//! which it already passes the operator's routes; the operator finishes it with the same service code
//! (`submission::finish_repeat`) and answers what the visitor is to be told.
//!
//! The operator's routes are public, so the hand-over is sealed: HMAC-SHA256 of its body under a key
//! derived from `SIGNING_SECRET` for this use only. A sealed one older than a reservation lives
//! ([`crate::protocol::ledger::RESERVATION_MS`]) is not finished: the hold it carries may have lapsed.

use crate::protocol::ledger::Answer;
use crate::protocol::ledger::RESERVATION_MS;
use crate::rules::digest;
use crate::Error;
use hmac::Mac;
use serde::{Deserialize, Serialize};
use shared::lead::Lead;

/// The header that carries a hand-over's seal.
pub const SEAL_HEADER: &str = "Leadgate-Seal";

/// The path the operator takes hand-overs at (`POST`).
pub const PATH: &str = "/v1/internal/repeat";

/// The most a hand-over's body may weigh: a lead made from a submission (which is at most
/// `rules::decoding::MAX_BODY`) with its consent record and the request's context.
pub const MAX_BODY: usize = 256 * 1024;

/// A repeat the collector passes on: where the submission stands once the ledger has given this request
/// the address's stored lead, and everything the rest of the intake needs that only the collector knew.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Handover {
    /// The form's id.
    pub form: String,
    /// The version of the form the submission was checked against (a page open during a publish sent
    /// what an older version asks for); none for a form without versions.
    pub version: Option<u32>,
    /// The collector's own origin, for the links a repeat's mails carry.
    pub origin: String,
    /// The address's index key, which this request holds.
    pub email: String,
    /// The stored lead the address belongs to, which this request holds.
    pub lead: String,
    /// The `Idempotency-Key` this request reserved, if it did: settled with the answer, or released.
    pub key: Option<String>,
    /// The submission as a fresh lead (validated, with its consent record), to merge into the stored one.
    pub fresh: Lead,
    /// The receipt the answer carries, signed over the fresh lead's consent record.
    pub receipt: String,
    /// When the collector took the submission, Unix ms: the time the repeat is recorded at.
    pub now: u64,
}

/// What the operator answers to a hand-over it took: the answer to give the visitor, or why there is none.
/// (Either way the operator has settled or released what the hand-over held.)
pub type Finished = Result<Answer, Failure>;

/// Why a handed-over repeat was not stored: the errors the rest of a repeat can end in, as they travel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    /// The lead was erased while the repeat was stored (`Error::NotFound`).
    NotFound,
    /// The deployment is misconfigured; the message names what.
    Config(String),
    /// Storage or runtime failure; the message is for the log.
    Internal(String),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        match e {
            Error::NotFound => Failure::NotFound,
            Error::Config(what) => Failure::Config(what),
            other => Failure::Internal(other.log_line().unwrap_or_else(|| format!("{other:?}"))),
        }
    }
}

impl From<Failure> for Error {
    fn from(f: Failure) -> Error {
        match f {
            Failure::NotFound => Error::NotFound,
            Failure::Config(what) => Error::Config(what),
            Failure::Internal(why) => Error::Internal(format!("the operator could not finish a repeat: {why}")),
        }
    }
}

/// The seal of a hand-over's body (hex).
pub fn seal(secret: &[u8], body: &[u8]) -> String {
    let mut mac = digest::derived_key(secret, &[b"leadgate handover v1"]);
    mac.update(body);
    digest::hex(&mac.finalize().into_bytes())
}

/// Whether `seal` is the seal of `body` under `secret`, compared in constant time.
pub fn is_sealed(secret: &[u8], body: &[u8], seal_hex: &str) -> bool {
    digest::same(seal(secret, body).as_bytes(), seal_hex.as_bytes())
}

/// Whether a hand-over made at `made` may still be finished at `now`: while the hold it carries lives.
/// (A little of the future is allowed, for clocks that differ between isolates.)
pub fn is_fresh(made: u64, now: u64) -> bool {
    now.saturating_sub(made) <= RESERVATION_MS && made.saturating_sub(now) <= 5_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seal_holds_its_body_under_its_secret_only() {
        let body = br#"{"form":"nl","lead":"ld_1"}"#;
        let s = seal(b"0123456789abcdef0123456789abcdef", body);
        assert_eq!(s.len(), 64);
        assert!(is_sealed(b"0123456789abcdef0123456789abcdef", body, &s));
        assert!(!is_sealed(b"0123456789abcdef0123456789abcdeF", body, &s), "another secret");
        assert!(!is_sealed(b"0123456789abcdef0123456789abcdef", br#"{"form":"nl","lead":"ld_2"}"#, &s), "another body");
        assert!(!is_sealed(b"0123456789abcdef0123456789abcdef", body, ""), "no seal");
        // Another use's MAC under the same secret does not pass for a seal.
        let receipt_like = digest::hex(&digest::derived_key(b"0123456789abcdef0123456789abcdef", &[b"receipt"]).finalize().into_bytes());
        assert!(!is_sealed(b"0123456789abcdef0123456789abcdef", b"", &receipt_like));
    }

    #[test]
    fn a_handover_is_fresh_while_its_hold_lives() {
        assert!(is_fresh(1_000_000, 1_000_000));
        assert!(is_fresh(1_000_000, 1_000_000 + RESERVATION_MS));
        assert!(!is_fresh(1_000_000, 1_000_001 + RESERVATION_MS));
        assert!(is_fresh(1_004_000, 1_000_000), "a clock a little ahead");
        assert!(!is_fresh(1_010_000, 1_000_000), "not from far in the future");
    }

    #[test]
    fn failures_travel_as_the_errors_they_were() {
        let there_and_back = |e: Error| Error::from(serde_json::from_str::<Failure>(&serde_json::to_string(&Failure::from(e)).unwrap()).unwrap());
        assert!(matches!(there_and_back(Error::NotFound), Error::NotFound));
        assert!(matches!(there_and_back(Error::Config("no [mail]".into())), Error::Config(m) if m == "no [mail]"));
        assert!(matches!(there_and_back(Error::Internal("kv down".into())), Error::Internal(m) if m.contains("kv down")));
        let finished: Finished = Ok(Answer { status: 201, body: serde_json::json!({"id": "ld_1"}) });
        assert_eq!(serde_json::from_str::<Finished>(&serde_json::to_string(&finished).unwrap()).unwrap(), finished);
    }
}
