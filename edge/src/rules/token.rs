//! Signed, expiring tokens for the links the collector sends out: double opt-in confirmations,
//! withdrawals and downloads.
//!
//! A token is `<payload>.<signature>`, base64url without padding: the payload is JSON `{"p": purpose,
//! "s": sealed lead id, "e": expiry in Unix ms}` (and `"h"`, the hash of the change a confirmation link
//! was mailed for), the signature HMAC-SHA256 under a key derived from `SIGNING_SECRET` for the token's
//! purpose. A confirmation token therefore never opens a download and vice versa, and no token is a
//! consent receipt. Single use, where a purpose needs it, is the caller's business (a confirmation is used
//! once because the lead's status changes).
//!
//! The lead id is sealed, not written: a download link is in the answer to anyone who submits an address,
//! and a readable id would tell a stranger that the address is known and when it signed up (ids are
//! time-ordered). Sealing is deterministic (an SIV: the keystream's nonce is a MAC of what is sealed), so
//! signing stays a pure function, and every sealed id of the same length looks alike. Tokens from before
//! sealing (`"l"`: the id in clear) are still honoured until they expire.

use crate::rules::digest::derived_key;
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
    /// `/v1/work/<token>`: an owner's link to one lead of theirs (its `h` is the owner's id).
    Work,
    /// `/v1/mine/<token>`: an owner's sign-in link to their leads (what it seals is the owner's id).
    Mine,
}

impl Purpose {
    fn name(self) -> &'static str {
        match self {
            Purpose::Confirm => "confirm",
            Purpose::Download => "download",
            Purpose::Withdraw => "withdraw",
            Purpose::Work => "work",
            Purpose::Mine => "mine",
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Claims {
    p: String,
    /// The lead id in clear: tokens signed before ids were sealed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    l: Option<String>,
    /// The lead id, sealed (see [`seal`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    s: Option<String>,
    e: u64,
    /// The hash of the change a confirmation link confirms (see [`Link::change`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    h: Option<String>,
}

/// What a genuine, unexpired token says.
#[derive(Debug, PartialEq, Eq)]
pub struct Link {
    /// The lead it was issued for.
    pub lead: String,
    /// For a confirmation link mailed to confirm a repeat's changes: the hash of exactly those changes
    /// (`repeats::held_hash`). A link confirms what it was mailed for, never what a later repeat asked.
    pub change: Option<String>,
}

/// Why a token was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Problem {
    /// Not a token of ours: wrong shape, altered, or signed with another key or for another purpose.
    Invalid,
    /// Genuine, but past its expiry.
    Expired,
}

fn key(secret: &[u8], purpose: Purpose) -> Hmac<Sha256> {
    derived_key(secret, &[b"leadgate/token/v1/", purpose.name().as_bytes()])
}

/// A token for `purpose` on lead `lead`, valid until `expires_ms`.
pub fn sign(secret: &[u8], purpose: Purpose, lead: &str, expires_ms: u64) -> String {
    sign_change(secret, purpose, lead, None, expires_ms)
}

/// A token for `purpose` on lead `lead` that also names the change it confirms, valid until `expires_ms`.
pub fn sign_change(secret: &[u8], purpose: Purpose, lead: &str, change: Option<&str>, expires_ms: u64) -> String {
    let claims = Claims { p: purpose.name().into(), l: None, s: Some(seal(secret, purpose, lead, expires_ms)), e: expires_ms, h: change.map(str::to_owned) };
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

/// [`link`] for a confirmation of the change whose hash is `change`.
pub fn change_link(origin: &str, secret: &[u8], lead: &str, change: Option<&str>, expires_ms: u64) -> String {
    format!("{origin}/v1/{}/{}", Purpose::Confirm.name(), sign_change(secret, Purpose::Confirm, lead, change, expires_ms))
}

/// An owner's link to the lead `lead`: it names the owner (`owner`, sealed into the signature), so it opens
/// that lead for them only, and only while it is theirs (the caller checks that).
pub fn work_link(origin: &str, secret: &[u8], lead: &str, owner: &str, expires_ms: u64) -> String {
    format!("{origin}/v1/{}/{}", Purpose::Work.name(), sign_change(secret, Purpose::Work, lead, Some(owner), expires_ms))
}

/// The lead id a token for `purpose` was issued for, if it is genuine and not expired at `now_ms`.
pub fn verify(secret: &[u8], purpose: Purpose, token: &str, now_ms: u64) -> Result<String, Problem> {
    open(secret, purpose, token, now_ms).map(|link| link.lead)
}

/// What a token for `purpose` says, if it is genuine and not expired at `now_ms`.
pub fn open(secret: &[u8], purpose: Purpose, token: &str, now_ms: u64) -> Result<Link, Problem> {
    let (payload, signature) = token.split_once('.').ok_or(Problem::Invalid)?;
    let signature = B64URL.decode(signature).map_err(|_| Problem::Invalid)?;
    let mut mac = key(secret, purpose);
    mac.update(payload.as_bytes());
    // The signature is checked first, in constant time; nothing unsigned is even parsed.
    mac.verify_slice(&signature).map_err(|_| Problem::Invalid)?;
    // As text, like all JSON the edge reads (see `decoding::json_text`).
    let payload = B64URL.decode(payload).map_err(|_| Problem::Invalid)?;
    let claims: Claims = std::str::from_utf8(&payload).ok().and_then(|text| serde_json::from_str(text).ok()).ok_or(Problem::Invalid)?;
    if claims.p != purpose.name() {
        return Err(Problem::Invalid);
    }
    if now_ms > claims.e {
        return Err(Problem::Expired);
    }
    let lead = match (claims.l, claims.s) {
        (_, Some(sealed)) => unseal(secret, purpose, &sealed).ok_or(Problem::Invalid)?,
        (Some(lead), None) => lead,
        (None, None) => return Err(Problem::Invalid),
    };
    Ok(Link { lead, change: claims.h })
}

/// How many bytes of nonce a sealed id starts with.
const NONCE: usize = 16;

/// Seals `lead` for a token of `purpose` that expires at `expires_ms`: a nonce (a MAC of all three), then
/// the id XORed with a keystream of MACs of the nonce. Deterministic, so equal inputs seal alike; a
/// stranger without the key learns only the id's length, which is the same for every lead.
fn seal(secret: &[u8], purpose: Purpose, lead: &str, expires_ms: u64) -> String {
    let mut nonce = derived_key(secret, &[b"leadgate/token/v1/nonce/", purpose.name().as_bytes()]);
    nonce.update(lead.as_bytes());
    nonce.update(&expires_ms.to_be_bytes());
    let nonce = nonce.finalize().into_bytes();
    let nonce = nonce.get(..NONCE).unwrap_or_default();
    let mut out = nonce.to_vec();
    out.extend(lead.bytes().zip(keystream(secret, purpose, nonce, lead.len())).map(|(a, b)| a ^ b));
    B64URL.encode(out)
}

/// The id [`seal`] sealed, if `sealed` is well formed.
fn unseal(secret: &[u8], purpose: Purpose, sealed: &str) -> Option<String> {
    let bytes = B64URL.decode(sealed).ok()?;
    let (nonce, body) = (bytes.get(..NONCE)?, bytes.get(NONCE..)?);
    String::from_utf8(body.iter().zip(keystream(secret, purpose, nonce, body.len())).map(|(a, b)| a ^ b).collect()).ok()
}

/// `len` bytes of keystream for `nonce`: HMAC blocks of the nonce and a counter.
fn keystream(secret: &[u8], purpose: Purpose, nonce: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    let mut block = 0u32;
    while out.len() < len {
        let mut mac = derived_key(secret, &[b"leadgate/token/v1/seal/", purpose.name().as_bytes()]);
        mac.update(nonce);
        mac.update(&block.to_be_bytes());
        out.extend_from_slice(&mac.finalize().into_bytes());
        block += 1;
    }
    out.truncate(len);
    out
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
        assert_eq!(crate::rules::route::Route::parse("POST", route), Ok(crate::rules::route::Route::Withdraw(w.clone())), "the link is the route");
        assert_eq!(verify(b"other", Purpose::Confirm, &t, 0), Err(Problem::Invalid));
    }

    #[test]
    fn a_token_does_not_show_its_lead() {
        let (a, b) = ("ld_01jc0000000000000000000001", "ld_01jd9999999999999999999999");
        for purpose in [Purpose::Download, Purpose::Confirm, Purpose::Withdraw] {
            let t = sign(b"s", purpose, a, 5_000);
            let payload = String::from_utf8(B64URL.decode(t.split_once('.').unwrap().0).unwrap()).unwrap();
            assert!(!payload.contains("ld_") && !payload.contains("01jc"), "no id, no time in the payload: {payload}");
            assert_eq!(verify(b"s", purpose, &t, 0), Ok(a.to_owned()));
            // Tokens of two leads look alike: same length, nothing in common but the purpose and expiry.
            let u = sign(b"s", purpose, b, 5_000);
            assert_eq!(t.len(), u.len());
            assert_ne!(t, u);
            assert_eq!(verify(b"other", purpose, &t, 0), Err(Problem::Invalid));
        }
        // A token from before sealing still opens its door.
        let payload = B64URL.encode(br#"{"p":"withdraw","l":"ld_1","e":1000}"#);
        let mut mac = key(b"s", Purpose::Withdraw);
        mac.update(payload.as_bytes());
        let old = [payload, B64URL.encode(mac.finalize().into_bytes())].join(".");
        assert_eq!(verify(b"s", Purpose::Withdraw, &old, 0), Ok("ld_1".into()));
        // A confirmation names the change it was mailed for.
        let c = sign_change(b"s", Purpose::Confirm, a, Some("abc"), 5_000);
        assert_eq!(open(b"s", Purpose::Confirm, &c, 0), Ok(Link { lead: a.into(), change: Some("abc".into()) }));
        assert_eq!(open(b"s", Purpose::Confirm, &sign(b"s", Purpose::Confirm, a, 5_000), 0).unwrap().change, None);
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
