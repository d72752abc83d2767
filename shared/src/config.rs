//! The configuration file as a whole: its forms, and the collector-wide tables (mail, rate limit, owners,
//! integrations, feedback endpoints), with the secrets a config needs. Its checks are in `problems`.

use alloc::{borrow::ToOwned, format, string::String, vec::Vec};

use crate::form::{Adapter, FormDef};
use serde::{Deserialize, Serialize};
#[cfg(feature = "server")]
use validator::Validate;

/// The whole configuration file: a list of forms. The default has no forms and no settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(validator::Validate))]
#[serde(deny_unknown_fields)]
pub struct FormsConfig {
    /// The forms, each `[[forms]]` table in the file: they seed the catalog, where the editor keeps forms
    /// (none is fine: every form can be made in the editor). At most 100 forms are served at once.
    #[serde(default)]
    #[cfg_attr(feature = "server", validate(length(max = 100), nested))]
    pub forms: Vec<FormDef>,
    /// How confirmation emails are sent; needed when any form asks for double opt-in.
    #[serde(default)]
    #[cfg_attr(feature = "server", validate(nested))]
    pub mail: Option<MailConfig>,
    /// Submissions allowed per form and pseudonymous client; none when absent.
    #[serde(default)]
    #[cfg_attr(feature = "server", validate(nested))]
    pub rate_limit: Option<RateLimit>,
    /// Tools that record behaviour events on leads (`POST /v1/leads/<id>/events`) with their own key
    /// instead of the admin token (a mail tool's click tracking, a webinar platform, the website).
    #[serde(default)]
    #[cfg_attr(feature = "server", validate(length(max = 20)))]
    pub integrations: Vec<Integration>,
    /// Endpoints where the CRM (or a mail tool) tells the collector what became of a lead:
    /// `POST /v1/feedback/<id>`.
    #[serde(default)]
    #[cfg_attr(feature = "server", validate(length(max = 20)))]
    pub feedback: Vec<Feedback>,
    /// The people leads are assigned to.
    #[serde(default)]
    #[cfg_attr(feature = "server", validate(length(max = 200)))]
    pub owners: Vec<crate::owner::Owner>,
}

/// A feedback endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Feedback {
    /// The endpoint's id (its URL is `/v1/feedback/<id>`; moves it makes are recorded as by this id).
    pub id: String,
    /// Who calls it, which decides how it is verified and read.
    pub source: FeedbackSource,
    /// The name of the environment secret that verifies calls: a `whsec_` secret (standard), the app's
    /// client secret (HubSpot), or `user:password` of the webhook's basic auth (Pipedrive).
    pub secret: String,
    /// HubSpot and Pipedrive: the name of the secret holding an API token, to ask for the address of the
    /// contact or person a call names.
    #[serde(default)]
    pub token: Option<String>,
    /// The API's base URL (default `https://api.hubapi.com` or `https://api.pipedrive.com`).
    #[serde(default)]
    pub api: Option<String>,
    /// Only leads of these forms (default: every form).
    #[serde(default)]
    pub forms: Vec<String>,
}

/// Who calls a feedback endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeedbackSource {
    /// Any tool, signing per Standard Webhooks: `{"lead", "stage", "reason", "consent_withdrawn"}`.
    Standard,
    /// HubSpot's webhooks (v3 signature), `contact.propertyChange` on `lifecyclestage`.
    Hubspot,
    /// Pipedrive's webhooks (basic auth) on deals.
    Pipedrive,
}

impl Feedback {
    /// The API's base URL, without a trailing `/`.
    pub fn api_base(&self) -> String {
        let default = match self.source {
            FeedbackSource::Hubspot => "https://api.hubapi.com",
            FeedbackSource::Pipedrive => "https://api.pipedrive.com",
            FeedbackSource::Standard => "",
        };
        self.api.as_deref().unwrap_or(default).trim_end_matches('/').to_owned()
    }

    /// Whether this endpoint may change leads of `form`.
    pub fn covers(&self, form: &str) -> bool {
        self.forms.is_empty() || self.forms.iter().any(|f| f == form)
    }
}

/// A tool allowed to record behaviour events, with the key it sends as `Authorization: Bearer <key>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Integration {
    /// The integration's id, recorded with nothing personal (lowercase letters, digits, `-`, `_`).
    pub id: String,
    /// The name of the environment secret holding its key (at least 32 characters), never the key itself.
    pub key: String,
    /// The forms whose leads it may record events on; empty: every form. A webinar tool that only knows
    /// the e-book's readers gets `["ebook"]`, so a leaked key reaches nothing else.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forms: Vec<String>,
    /// The event types it may record; empty: every type the forms score. A mail tool gets
    /// `["email_open", "email_click"]` and cannot claim a meeting.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
}

impl Integration {
    /// Whether the integration may record an event of type `kind` on a lead of `form`.
    pub fn allows(&self, form: &str, kind: &str) -> bool {
        (self.forms.is_empty() || self.forms.iter().any(|f| f == form)) && (self.events.is_empty() || self.events.iter().any(|e| e == kind))
    }
}

/// The most event types a form's scoring may name (each is one line of a score's reasons).
pub const MAX_EVENT_TYPES: usize = 30;

/// A rate limit by the Workers rate limiting binding: `limit` submissions per `period` seconds for each
/// form and pseudonymous client (keyed HMAC of the IP address).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(validator::Validate))]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Submissions allowed per period.
    #[cfg_attr(feature = "server", validate(range(min = 1, max = 10000)))]
    pub limit: u32,
    /// The period in seconds: 10 or 60, the two the binding offers.
    pub period: u32,
}

/// The HTTP mail API for double opt-in emails: `{from, to, subject, text, html}` is POSTed as JSON with
/// `Authorization: Bearer <key>` (the shape Resend and similar APIs take).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(validator::Validate))]
#[serde(deny_unknown_fields)]
pub struct MailConfig {
    /// Whose API sends the mails (default `http`: a JSON `{from, to, subject, text, html}` with a bearer key,
    /// to `url`).
    #[serde(default)]
    pub provider: MailProvider,
    /// Where mails are POSTed: needed for `http`; for a provider its API's address unless set (a proxy, a
    /// regional endpoint, a local stand-in).
    #[serde(default)]
    #[cfg_attr(feature = "server", validate(custom(function = "crate::form::web_url"), length(max = 2048)))]
    pub url: Option<String>,
    /// Postmark's message stream (default `outbound`).
    #[serde(default)]
    #[cfg_attr(feature = "server", validate(length(min = 1, max = 100)))]
    pub stream: Option<String>,
    /// The name of the environment secret holding the API key (never the key itself).
    #[serde(default = "default_mail_key")]
    pub key: String,
    /// The sender, e.g. `Beispiel GmbH <news@example.com>`.
    #[cfg_attr(feature = "server", validate(length(min = 3, max = 200)))]
    pub from: String,
    /// How long a confirmation link works, in hours (default 48).
    #[serde(default)]
    #[cfg_attr(feature = "server", validate(range(min = 1, max = 720)))]
    pub confirm_within_hours: Option<u32>,
    /// After how many days an unconfirmed lead is erased (default 30; 0 erases at the next scheduled run,
    /// which only tests want).
    #[serde(default)]
    #[cfg_attr(feature = "server", validate(range(max = 365)))]
    pub erase_unconfirmed_after_days: Option<u32>,
    /// The shortest time between two confirmation mails to one address on one form, in minutes (default
    /// 10): repeats of a pending address re-send the mail no more often, so the collector cannot be used to
    /// flood someone's inbox.
    #[serde(default)]
    #[cfg_attr(feature = "server", validate(range(max = 1440)))]
    pub resend_after_minutes: Option<u32>,
    /// How many times a day repeats may re-send the mail to one address on one form (default 3).
    #[serde(default)]
    #[cfg_attr(feature = "server", validate(range(max = 24)))]
    pub resends_per_day: Option<u32>,
}

fn default_mail_key() -> String {
    "MAIL_API_KEY".into()
}

/// A mail API, each with its own request shape (`edge::rules::mail::request`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailProvider {
    /// Any API that takes `{from, to, subject, text, html}` as JSON with `Authorization: Bearer <key>`
    /// (Resend's shape with a single recipient, and the local mailbox's).
    #[default]
    Http,
    /// Resend: `POST /emails`, bearer key, the delivery id as `Idempotency-Key`.
    Resend,
    /// Postmark: `POST /email`, `X-Postmark-Server-Token`, `{From, To, Subject, TextBody, HtmlBody,
    /// MessageStream}`.
    Postmark,
    /// SendGrid: `POST /v3/mail/send`, bearer key, `personalizations`.
    Sendgrid,
    /// Brevo: `POST /v3/smtp/email`, `api-key` header, `{sender, to, subject, htmlContent, textContent}`.
    Brevo,
    /// Cloudflare's Email Service through the Workers' `send_email` binding named `EMAIL` (the pinned
    /// `worker` crate has it): no key, no url; the deploy config gets the binding.
    Cloudflare,
}

impl MailProvider {
    /// The provider's API address.
    pub fn default_url(self) -> Option<&'static str> {
        match self {
            MailProvider::Http => None,
            MailProvider::Resend => Some("https://api.resend.com/emails"),
            MailProvider::Postmark => Some("https://api.postmarkapp.com/email"),
            MailProvider::Sendgrid => Some("https://api.sendgrid.com/v3/mail/send"),
            MailProvider::Brevo => Some("https://api.brevo.com/v3/smtp/email"),
            MailProvider::Cloudflare => None,
        }
    }
}

impl MailConfig {
    /// Where the mails go: `url`, else the provider's API (empty for `http` without one, which the
    /// config's checks refuse).
    pub fn endpoint(&self) -> &str {
        self.url.as_deref().or(self.provider.default_url()).unwrap_or_default()
    }

    /// How long a confirmation link works, in milliseconds.
    pub fn confirm_within_ms(&self) -> u64 {
        u64::from(self.confirm_within_hours.unwrap_or(48)) * 3_600_000
    }

    /// The shortest time between two confirmation mails to one address on one form, in milliseconds.
    pub fn resend_after_ms(&self) -> u64 {
        u64::from(self.resend_after_minutes.unwrap_or(10)) * 60_000
    }

    /// How many re-sends a day repeats may cause.
    pub fn resends_per_day(&self) -> usize {
        self.resends_per_day.unwrap_or(3) as usize
    }

    /// After how long an unconfirmed lead is erased, in milliseconds.
    pub fn erase_unconfirmed_after_ms(&self) -> u64 {
        u64::from(self.erase_unconfirmed_after_days.unwrap_or(30)) * 86_400_000
    }
}

impl FormsConfig {
    /// The form with this id.
    pub fn form(&self, id: &str) -> Option<&FormDef> {
        self.forms.iter().find(|f| f.id == id)
    }

    /// Every environment secret this config needs, with what needs it, sorted by name: the collector's own
    /// (`ADMIN_TOKEN`, `SIGNING_SECRET`, and `CLIENT_ID_SECRET` with a rate limit) and those the forms name
    /// (webhook signing keys, CRM tokens, Turnstile and mail API keys). `cargo xtask check-config` lists
    /// them; the collector answers requests that need a missing one with a `misconfigured` error.
    pub fn secrets(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        let mut need = |name: &str, why: String| match out.iter_mut().find(|(n, _)| n == name) {
            Some((_, w)) if !w.contains(why.as_str()) => {
                w.push_str("; ");
                w.push_str(&why);
            }
            Some(_) => {}
            None => out.push((name.to_owned(), why)),
        };
        need("ADMIN_TOKEN", "the admin API and page (at least 32 characters)".into());
        need("SIGNING_SECRET", "consent receipts and signed links".into());
        for integration in &self.integrations {
            need(&integration.key, format!("behaviour events from {}", integration.id));
        }
        for f in &self.feedback {
            need(&f.secret, format!("verifying feedback from {}", f.id));
            if let Some(token) = &f.token {
                need(token, format!("looking up the contacts feedback from {} names", f.id));
            }
        }
        if self.rate_limit.is_some() {
            need("CLIENT_ID_SECRET", "the rate limit's pseudonymous client ids".into());
        }
        if let Some(mail) = self.mail.as_ref().filter(|m| m.provider != MailProvider::Cloudflare) {
            need(&mail.key, "the mail API (double opt-in)".into());
        }
        for form in &self.forms {
            for hook in &form.webhooks {
                match hook.adapter {
                    Adapter::Standard => need(&hook.secret, format!("signing webhooks of {}", form.id)),
                    Adapter::Pipedrive => need(hook.token.as_deref().unwrap_or_default(), format!("Pipedrive deliveries of {}", form.id)),
                    Adapter::Hubspot | Adapter::Salesforce => {}
                }
            }
            if let Some(t) = &form.turnstile {
                need(&t.secret, format!("Turnstile on {}", form.id));
            }
        }
        out.retain(|(n, _)| !n.is_empty());
        out.sort();
        out
    }
}
