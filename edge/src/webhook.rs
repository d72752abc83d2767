//! Webhook payloads and their Standard Webhooks v1 signatures.
//!
//! Every delivery carries `webhook-id` (stable across retries of one delivery, so receivers can dedupe),
//! `webhook-timestamp` (seconds, of this attempt) and `webhook-signature`: `v1,` + base64 of
//! HMAC-SHA256(key, "{id}.{timestamp}.{body}"), where the key is the base64 part of a `whsec_` secret.
//! Several space-separated signatures are sent while a secret is being rotated.

use crate::Error;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use shared::lead::Lead;

/// The payload version; bump on any breaking change to `data`.
pub const PAYLOAD_VERSION: u32 = 1;

/// What happened to a lead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum EventType {
    /// A lead was stored.
    #[serde(rename = "lead.created")]
    LeadCreated,
    /// A stored lead submitted the form again; the data is the merged lead.
    #[serde(rename = "lead.updated")]
    LeadUpdated,
    /// A lead was erased (GDPR Art. 17); the data is only `{id, form, erased_at}`: delete it downstream too.
    #[serde(rename = "lead.erased")]
    LeadErased,
}

impl EventType {
    /// The type as it appears in payloads.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::LeadCreated => "lead.created",
            EventType::LeadUpdated => "lead.updated",
            EventType::LeadErased => "lead.erased",
        }
    }
}

/// The body of a delivery: `{"type", "timestamp", "version", "data"}`.
#[derive(Serialize)]
pub struct Payload<'a> {
    /// The event type.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// When the event happened (RFC 3339).
    pub timestamp: &'a str,
    /// The payload version.
    pub version: u32,
    /// The lead, with its consent record, source, score and stage.
    pub data: &'a Lead,
}

/// Serialises the payload for a lead event.
pub fn payload(kind: EventType, timestamp: &str, lead: &Lead) -> String {
    serde_json::to_string(&Payload { kind, timestamp, version: PAYLOAD_VERSION, data: lead })
        .expect("a lead always serialises")
}

/// The payload announcing an erasure: no personal data, only what a CRM needs to find and delete the lead.
pub fn erased_payload(timestamp: &str, id: &str, form: &str) -> String {
    serde_json::json!({
        "type": EventType::LeadErased, "timestamp": timestamp, "version": PAYLOAD_VERSION,
        "data": {"id": id, "form": form, "erased_at": timestamp},
    })
    .to_string()
}

/// A signing key decoded from its `whsec_` form.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Decodes `whsec_<base64>`; anything else is a configuration error, reported without the secret itself.
    pub fn parse(whsec: &str) -> Result<Secret, Error> {
        let encoded = whsec.trim().strip_prefix("whsec_").ok_or_else(|| Error::Config("a webhook secret must start with whsec_".into()))?;
        let key = B64.decode(encoded).map_err(|_| Error::Config("a webhook secret is not valid base64 after whsec_".into()))?;
        if key.len() < 16 {
            return Err(Error::Config("a webhook secret must hold at least 16 bytes".into()));
        }
        Ok(Secret(key))
    }

    /// Makes a secret from raw key bytes (what `cargo xtask` generates).
    pub fn from_bytes(key: Vec<u8>) -> Secret {
        Secret(key)
    }

    /// The secret in `whsec_` form.
    pub fn to_whsec(&self) -> String {
        format!("whsec_{}", B64.encode(&self.0))
    }

    /// `v1,<base64 signature>` over `{id}.{timestamp}.{body}`.
    pub fn sign(&self, id: &str, timestamp: u64, body: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body.as_bytes());
        format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
    }
}

/// The `webhook-signature` header for all active secrets (several during rotation), space-separated.
pub fn signature_header(secrets: &[Secret], id: &str, timestamp: u64, body: &str) -> String {
    secrets.iter().map(|s| s.sign(id, timestamp, body)).collect::<Vec<_>>().join(" ")
}

/// Parses a secret variable that may hold several `whsec_` secrets separated by spaces (rotation).
pub fn parse_secrets(value: &str) -> Result<Vec<Secret>, Error> {
    let secrets = value.split_whitespace().map(Secret::parse).collect::<Result<Vec<_>, _>>()?;
    if secrets.is_empty() {
        return Err(Error::Config("the webhook secret is empty".into()));
    }
    Ok(secrets)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example from the Standard Webhooks specification (standard-webhooks/spec, "Verifying signatures").
    #[test]
    fn signs_the_spec_example() {
        let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, r#"{"test": 2432232314}"#);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn rotation_sends_one_signature_per_secret() {
        let secrets = parse_secrets("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw  whsec_AAAAAAAAAAAAAAAAAAAAAAAA").unwrap();
        let header = signature_header(&secrets, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, r#"{"test": 2432232314}"#);
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert_ne!(parts[0], parts[1]);
    }

    #[test]
    fn bad_secrets_are_config_errors_that_do_not_echo_the_secret() {
        for bad in ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_!!!", "whsec_AAAA", ""] {
            match parse_secrets(bad) {
                Err(Error::Config(msg)) => assert!(bad.is_empty() || !msg.contains(bad), "{msg}"),
                other => panic!("{bad:?}: {:?}", other.map(|s| s.len())),
            }
        }
        let s = Secret::from_bytes(vec![7; 24]);
        assert_eq!(Secret::parse(&s.to_whsec()).unwrap().0, vec![7; 24]);
    }
}
