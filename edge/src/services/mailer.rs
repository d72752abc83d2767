//! The mail provider as the services hand it a mail: Cloudflare's Email Service through the Worker's
//! binding, or a provider's HTTP API with its key, and what became of the mail. The one way a mail leaves,
//! whether it waited in the outbox (confirmations, owners' alerts: `delivery`) or goes at once (sign-in
//! links: `sales`).

use crate::protocol::backend::Backend;
use crate::protocol::outbox::{self, Outcome};
use crate::rules::crm::Read;
use crate::rules::mail;

/// What became of a mail handed to the mail provider.
#[derive(Debug)]
pub enum Handed {
    /// Accepted, with the API's status (202 from Cloudflare's binding).
    Accepted(u16),
    /// Refused for good: no retry can change it.
    Refused {
        /// The API's status, if it answered with one.
        status: Option<u16>,
        /// Why, in a line.
        why: String,
    },
    /// Not accepted this time.
    Failed {
        /// The API's status, if it answered.
        status: Option<u16>,
        /// Why, when a status does not say it.
        why: Option<String>,
        /// When the API asks to be asked again (seconds).
        retry_after: Option<u64>,
    },
}

impl Handed {
    /// One line for a log.
    pub fn why(&self) -> String {
        match self {
            Handed::Accepted(status) => format!("accepted ({status})"),
            Handed::Refused { why, .. } | Handed::Failed { why: Some(why), .. } => why.clone(),
            Handed::Failed { status, .. } => format!("the mail API answered {}", status.map_or_else(|| "nothing".into(), |s| s.to_string())),
        }
    }
}

/// Hands `message` to the configured mail provider, `id` as its idempotency key, waiting at most
/// `timeout_ms` for an HTTP API's answer.
pub async fn hand_over<B: Backend>(b: &B, settings: &shared::form::MailConfig, message: &mail::Mail, id: &str, timeout_ms: u64) -> Handed {
    if settings.provider == shared::config::MailProvider::Cloudflare {
        return match b.send_email(message).await {
            Ok(()) => Handed::Accepted(202),
            Err(refusal) if refusal.is_final() => Handed::Refused {
                status: None,
                why: format!("Cloudflare's Email Service refused the mail for good ({}: {})", refusal.code.as_deref().unwrap_or("?"), refusal.message),
            },
            Err(refusal) => {
                Handed::Failed { status: None, why: Some([refusal.code.as_deref().unwrap_or("no code"), ": ", &refusal.message].concat()), retry_after: None }
            }
        };
    }
    let failed = |why: String| Handed::Failed { status: None, why: Some(why), retry_after: None };
    let Some(key) = b.secret(&settings.key) else { return failed(format!("secret {} is not set", settings.key)) };
    let Some(request) = mail::request(settings, &key, message, id) else { return failed("this provider takes no request".into()) };
    match b.call(&request, timeout_ms, Read::Status).await {
        Ok(reply) => match outbox::classify_mail(reply.status) {
            Outcome::Delivered => Handed::Accepted(reply.status),
            Outcome::Gone => Handed::Refused { status: Some(reply.status), why: "the mail API refused the mail for good".into() },
            Outcome::Retry => Handed::Failed { status: Some(reply.status), why: None, retry_after: reply.retry_after },
        },
        Err(why) => failed(why),
    }
}
