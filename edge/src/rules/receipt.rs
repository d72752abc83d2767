//! Consent receipts: what the collector recorded about a visitor's consent, signed, handed to the visitor
//! in the `201` answer, and checkable later at `GET /v1/consent/verify`.
//!
//! A receipt is `<payload>.<signature>`, both base64url without padding. The payload is JSON naming the
//! lead, the form, the time, and each purpose granted or refused with the version and SHA-256 of the text
//! shown; no personal data, so a receipt can be stored or forwarded freely. The signature is HMAC-SHA256
//! under a key derived from `SIGNING_SECRET` for this one use, so a receipt can never pass as any other
//! signed token of the collector.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use shared::consent::ConsentRecord;
use shared::lead::Lead;

/// One purpose as the receipt states it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purpose {
    /// The purpose id.
    pub purpose: String,
    /// The version of the text shown.
    pub version: u32,
    /// SHA-256 of the exact text shown, hex.
    pub text_sha256: String,
}

/// What a receipt certifies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The receipt format.
    pub v: u32,
    /// The lead's id.
    pub lead: String,
    /// The form's id.
    pub form: String,
    /// When the collector recorded the consent (RFC 3339).
    pub recorded_at: String,
    /// Purposes granted (ticked, or legitimate interest).
    pub granted: Vec<Purpose>,
    /// Purposes offered and not ticked.
    pub refused: Vec<Purpose>,
}

impl Receipt {
    /// The receipt for a lead's first consent record.
    pub fn of(lead: &Lead) -> Receipt {
        Receipt::of_record(&lead.id, &lead.form, &lead.consent)
    }

    /// The receipt for one submission's consent record: `id` is the lead's, or a repeat's own id.
    pub fn of_record(id: &str, form: &str, record: &ConsentRecord) -> Receipt {
        let pick = |granted: bool| {
            record
                .entries
                .iter()
                .filter(|e| e.granted == granted)
                .map(|e| Purpose { purpose: e.purpose.clone(), version: e.version, text_sha256: e.text_sha256.clone() })
                .collect()
        };
        Receipt { v: 1, lead: id.to_owned(), form: form.to_owned(), recorded_at: record.recorded_at.clone(), granted: pick(true), refused: pick(false) }
    }
}

/// The key for receipts, derived from the collector's signing secret.
fn key(secret: &[u8]) -> Hmac<Sha256> {
    crate::rules::digest::derived_key(secret, &[b"leadgate/consent-receipt/v1"])
}

/// Signs a receipt.
pub fn sign(secret: &[u8], receipt: &Receipt) -> String {
    let payload = B64URL.encode(serde_json::to_vec(receipt).unwrap_or_default());
    let mut mac = key(secret);
    mac.update(payload.as_bytes());
    [payload, B64URL.encode(mac.finalize().into_bytes())].join(".")
}

/// Why a receipt was not accepted.
#[derive(Debug, PartialEq, Eq)]
pub enum Problem {
    /// Not a receipt at all: wrong shape, encoding or content.
    Malformed,
    /// Well-formed, but the signature is not the collector's: forged or altered.
    NotGenuine,
}

/// Checks a receipt's signature (in constant time) and returns what it certifies.
pub fn verify(secret: &[u8], receipt: &str) -> Result<Receipt, Problem> {
    let (payload, signature) = receipt.trim().split_once('.').ok_or(Problem::Malformed)?;
    let signature = B64URL.decode(signature).map_err(|_| Problem::Malformed)?;
    let body = B64URL.decode(payload).map_err(|_| Problem::Malformed)?;
    // As text, like all JSON the edge reads (see `decoding::json_text`).
    let content: Receipt = std::str::from_utf8(&body).ok().and_then(|text| serde_json::from_str(text).ok()).ok_or(Problem::Malformed)?;
    let mut mac = key(secret);
    mac.update(payload.as_bytes());
    mac.verify_slice(&signature).map_err(|_| Problem::NotGenuine)?;
    Ok(content)
}

/// What a dropped bot gets instead of a receipt: a well-formed receipt for what it sent, signed under a
/// random key nobody keeps. It looks exactly like a person's, and verifying it answers exactly like any
/// forged receipt (`genuine: false`), so a bot learns nothing from either; the collector never vouches
/// for a lead it did not store.
pub fn decoy(receipt: &Receipt, random_key: [u8; 32]) -> String {
    sign(&random_key, receipt)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt() -> Receipt {
        Receipt {
            v: 1,
            lead: "ld_01".into(),
            form: "newsletter".into(),
            recorded_at: "2026-11-23T10:00:00.000Z".into(),
            granted: vec![Purpose { purpose: "marketing_email".into(), version: 2, text_sha256: "ab".repeat(32) }],
            refused: vec![Purpose { purpose: "partner_offers".into(), version: 1, text_sha256: "cd".repeat(32) }],
        }
    }

    #[test]
    fn a_signed_receipt_verifies_and_says_what_was_signed() {
        let signed = sign(b"secret", &receipt());
        assert_eq!(verify(b"secret", &signed), Ok(receipt()));
        assert!(!signed.contains('=') && !signed.contains('+') && !signed.contains('/'), "URL-safe: {signed}");
    }

    #[test]
    fn altered_forged_and_foreign_receipts_do_not() {
        let signed = sign(b"secret", &receipt());
        assert_eq!(verify(b"other secret", &signed), Err(Problem::NotGenuine));
        let mut granted_more = receipt();
        granted_more.granted.push(granted_more.refused.remove(0));
        let (_, signature) = signed.split_once('.').unwrap();
        let altered = [B64URL.encode(serde_json::to_vec(&granted_more).unwrap()), signature.to_string()].join(".");
        assert_eq!(verify(b"secret", &altered), Err(Problem::NotGenuine));
        let bot = decoy(&receipt(), [7; 32]);
        assert_eq!(verify(b"secret", &bot), Err(Problem::NotGenuine), "a decoy verifies like any forgery");
        assert_eq!(bot.split('.').next(), signed.split('.').next(), "and looks like a real one");
        for junk in ["", "abc", "a.b", "!!!.???", &[B64URL.encode(b"[1,2]"), "AA".into()].join(".")] {
            assert_eq!(verify(b"secret", junk), Err(Problem::Malformed), "{junk:?}");
        }
    }

    #[test]
    fn the_key_is_not_the_secret_itself() {
        // A plain HMAC of the payload under the secret must not verify: the receipt key is derived per use.
        let payload = B64URL.encode(serde_json::to_vec(&receipt()).unwrap());
        let mut plain = Hmac::<Sha256>::new_from_slice(b"secret").unwrap();
        plain.update(payload.as_bytes());
        let token = [payload, B64URL.encode(plain.finalize().into_bytes())].join(".");
        assert_eq!(verify(b"secret", &token), Err(Problem::NotGenuine));
    }
}
