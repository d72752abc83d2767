//! Signed, expiring tokens for the links the collector sends out: double opt-in confirmations,
//! withdrawals and downloads.
//!
//! A token is `<payload>.<signature>`, base64url without padding: the payload is JSON `{"p": purpose,
//! "l": lead id, "e": expiry in Unix ms}`, the signature HMAC-SHA256 under a key derived from
//! `SIGNING_SECRET` for the token's purpose. A confirmation token therefore never opens a download and
//! vice versa, and no token is a consent receipt. Single use, where a purpose needs it, is the caller's
//! business (a confirmation is used once because the lead's status changes).

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// What a token is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// `GET /v1/confirm/<token>`.
    Confirm,
    /// `GET /v1/download/<token>`.
    Download,
    /// `/v1/withdraw/<token>`: "this was not me / withdraw", in every confirmation mail.
    Withdraw,
}

impl Purpose {
    fn name(self) -> &'static str {
        match self {
            Purpose::Confirm => "confirm",
            Purpose::Download => "download",
            Purpose::Withdraw => "withdraw",
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Claims {
    p: String,
    l: String,
    e: u64,
}

/// Why a token was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Problem {
    /// Not a token of ours: wrong shape, altered, or signed with another key or for another purpose.
    Invalid,
    /// Genuine, but past its expiry.
    Expired,
}

/// A MAC keyed for one use of the collector's signing secret: HMAC-SHA256 under HMAC(secret, label), the
/// label being the concatenated `parts`. Receipts and each kind of token use their own label, so nothing
/// signed for one use verifies for another.
pub fn derived_key(secret: &[u8], parts: &[&[u8]]) -> Hmac<Sha256> {
    let mut derive = mac(secret);
    for part in parts {
        derive.update(part);
    }
    mac(&derive.finalize().into_bytes())
}

/// HMAC-SHA256 under `key`. HMAC takes keys of any length, so the constructor cannot fail; the fallback
/// only exists so that no code path can panic.
pub fn mac(key: &[u8]) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(key).unwrap_or_else(|_| Hmac::<Sha256>::new(&Default::default()))
}

fn key(secret: &[u8], purpose: Purpose) -> Hmac<Sha256> {
    derived_key(secret, &[b"leadgate/token/v1/", purpose.name().as_bytes()])
}

/// A token for `purpose` on lead `lead`, valid until `expires_ms`.
pub fn sign(secret: &[u8], purpose: Purpose, lead: &str, expires_ms: u64) -> String {
    let claims = Claims { p: purpose.name().into(), l: lead.into(), e: expires_ms };
    let payload = B64URL.encode(serde_json::to_vec(&claims).unwrap_or_default());
    let mut mac = key(secret, purpose);
    mac.update(payload.as_bytes());
    [payload, B64URL.encode(mac.finalize().into_bytes())].join(".")
}

/// The collector's URL for a signed link: `{origin}/v1/<purpose>/<token>` (the routes are named like the
/// purposes: `/v1/confirm/`, `/v1/download/`, `/v1/withdraw/`).
pub fn link(origin: &str, secret: &[u8], purpose: Purpose, lead: &str, expires_ms: u64) -> String {
    format!("{origin}/v1/{}/{}", purpose.name(), sign(secret, purpose, lead, expires_ms))
}

/// The lead id a token for `purpose` was issued for, if it is genuine and not expired at `now_ms`.
pub fn verify(secret: &[u8], purpose: Purpose, token: &str, now_ms: u64) -> Result<String, Problem> {
    let (payload, signature) = token.split_once('.').ok_or(Problem::Invalid)?;
    let signature = B64URL.decode(signature).map_err(|_| Problem::Invalid)?;
    let mut mac = key(secret, purpose);
    mac.update(payload.as_bytes());
    // The signature is checked first, in constant time; nothing unsigned is even parsed.
    mac.verify_slice(&signature).map_err(|_| Problem::Invalid)?;
    let claims: Claims = serde_json::from_slice(&B64URL.decode(payload).map_err(|_| Problem::Invalid)?).map_err(|_| Problem::Invalid)?;
    if claims.p != purpose.name() {
        return Err(Problem::Invalid);
    }
    if now_ms > claims.e {
        return Err(Problem::Expired);
    }
    Ok(claims.l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_opens_its_own_door_until_it_expires() {
        let t = sign(b"s", Purpose::Confirm, "ld_1", 1_000);
        assert_eq!(verify(b"s", Purpose::Confirm, &t, 1_000), Ok("ld_1".into()));
        assert_eq!(verify(b"s", Purpose::Confirm, &t, 1_001), Err(Problem::Expired));
        assert_eq!(verify(b"s", Purpose::Download, &t, 0), Err(Problem::Invalid), "a confirmation is no download");
        assert_eq!(verify(b"s", Purpose::Withdraw, &t, 0), Err(Problem::Invalid), "nor a withdrawal");
        let w = sign(b"s", Purpose::Withdraw, "ld_1", 1_000);
        assert_eq!(verify(b"s", Purpose::Withdraw, &w, 0), Ok("ld_1".into()));
        assert_eq!(verify(b"s", Purpose::Confirm, &w, 0), Err(Problem::Invalid));
        let url = link("https://c.example", b"s", Purpose::Withdraw, "ld_1", 1_000);
        assert_eq!(url, format!("https://c.example/v1/withdraw/{w}"));
        let route = url.strip_prefix("https://c.example").unwrap();
        assert_eq!(crate::route::Route::parse("POST", route), Ok(crate::route::Route::Withdraw(w.clone())), "the link is the route");
        assert_eq!(verify(b"other", Purpose::Confirm, &t, 0), Err(Problem::Invalid));
    }

    #[test]
    fn altered_tokens_are_invalid() {
        let t = sign(b"s", Purpose::Download, "ld_1", 1_000);
        let (_, sig) = t.split_once('.').unwrap();
        let longer = [B64URL.encode(br#"{"p":"download","l":"ld_1","e":99999999999999}"#), sig.to_string()].join(".");
        assert_eq!(verify(b"s", Purpose::Download, &longer, 2_000), Err(Problem::Invalid), "extending the expiry breaks the signature");
        for junk in ["", "x", "a.b", "..", "%%.%%"] {
            assert_eq!(verify(b"s", Purpose::Download, junk, 0), Err(Problem::Invalid));
        }
    }
}
