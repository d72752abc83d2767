//! Cloudflare Turnstile: asking Cloudflare's siteverify whether a submission's challenge token is genuine.
//!
//! Cloudflare publishes test keys that behave predictably, for development and CI: secret
//! `1x0000000000000000000000000000000AA` always passes, `2x0000000000000000000000000000000AA` always
//! fails, `3x0000000000000000000000000000000AA` answers "token already spent"; site key
//! `1x00000000000000000000AA` always passes and `2x00000000000000000000AB` always blocks. A form's
//! `siteverify_url` can point at a local stand-in, which is how the tests run without the internet.

use crate::rules::crm::Outbound;
use crate::rules::decoding::form_urlencode;
use serde::Deserialize;
use shared::form::Turnstile;

/// The siteverify request for `token`, sent from the visitor's `ip` when known.
pub fn request(settings: &Turnstile, secret: &str, token: &str, ip: Option<&str>) -> Outbound {
    let mut pairs = vec![("secret", secret), ("response", token)];
    if let Some(ip) = ip {
        pairs.push(("remoteip", ip));
    }
    let body = form_urlencode(&pairs);
    Outbound {
        method: "POST",
        url: settings.siteverify_url.clone(),
        headers: vec![("Content-Type", "application/x-www-form-urlencoded".into())],
        body: Some(body),
    }
}

#[derive(Deserialize)]
struct Verdict {
    success: bool,
}

/// Whether siteverify's answer says the token is genuine. Anything unreadable is a no.
pub fn passed(answer: &str) -> bool {
    serde_json::from_str::<Verdict>(answer).is_ok_and(|v| v.success)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Turnstile {
        serde_json::from_value(serde_json::json!({})).unwrap()
    }

    #[test]
    fn the_request_is_the_documented_form_post() {
        let r = request(&settings(), "1x0000000000000000000000000000000AA", "XXXX.DUMMY.TOKEN.XXXX", Some("203.0.113.7"));
        assert_eq!(r.url, "https://challenges.cloudflare.com/turnstile/v0/siteverify");
        assert_eq!(r.body.as_deref(), Some("secret=1x0000000000000000000000000000000AA&response=XXXX.DUMMY.TOKEN.XXXX&remoteip=203.0.113.7"));
        assert_eq!(request(&settings(), "s", "a+b/c=", None).body.as_deref(), Some("secret=s&response=a%2Bb%2Fc%3D"));
    }

    #[test]
    fn only_a_clear_success_passes() {
        assert!(passed(r#"{"success":true,"challenge_ts":"2026-11-23T10:00:00.000Z","hostname":"example.com","error-codes":[]}"#));
        assert!(!passed(r#"{"success":false,"error-codes":["invalid-input-response"]}"#));
        assert!(!passed("<html>bad gateway</html>"));
        assert!(!passed(r#"{"success":"true"}"#));
    }
}
