//! Form definitions: what the website owner configures per form, and the public part the widget receives.
//!
//! [`FormDef`] is one `[[forms]]` entry of the config file. It holds secrets-adjacent data (webhook URLs,
//! allowed origins, scoring weights) that must never reach a visitor's browser, so the widget gets a
//! [`PublicForm`] built from it: the fields, consent purposes and display data, nothing else.

use alloc::{borrow::ToOwned, format, string::String, vec::Vec};
#[cfg(feature = "server")]
use alloc::string::ToString;

use crate::consent::Purpose;
pub use crate::kind::{FormKind, Mode};
use crate::field::{FieldDef, FieldType};
use crate::lang::{Lang, Texts};
use crate::score::ScoringRules;
use serde::{Deserialize, Serialize};
#[cfg(feature = "server")]
use validator::Validate;

/// Giveaway settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(validator::Validate))]
#[serde(deny_unknown_fields)]
pub struct Giveaway {
    /// When entries open (RFC 3339 or `YYYY-MM-DD`).
    pub starts_at: String,
    /// When entries close (RFC 3339 or `YYYY-MM-DD`).
    pub ends_at: String,
    /// Where the rules (Teilnahmebedingungen) are published.
    #[cfg_attr(feature = "server", validate(length(min = 1, max = 2048)))]
    pub rules_url: String,
}

/// The gated file of a download gate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(validator::Validate))]
#[serde(deny_unknown_fields)]
pub struct Asset {
    /// The object key in the R2 bucket.
    #[cfg_attr(feature = "server", validate(length(min = 1, max = 512)))]
    pub key: String,
    /// The file name offered to the visitor.
    #[cfg_attr(feature = "server", validate(length(min = 1, max = 200)))]
    pub filename: String,
    /// The MIME type the file is served with.
    #[serde(default = "default_content_type")]
    pub content_type: String,
    /// How long a download link works, in hours (default 24).
    #[serde(default)]
    #[cfg_attr(feature = "server", validate(range(min = 1, max = 720)))]
    pub link_valid_hours: Option<u32>,
}

impl Asset {
    /// How long a download link works, in milliseconds.
    pub fn link_valid_ms(&self) -> u64 {
        u64::from(self.link_valid_hours.unwrap_or(24)) * 3_600_000
    }
}

fn default_content_type() -> String {
    "application/pdf".into()
}

/// Where a form's leads are delivered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(validator::Validate))]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    /// A stable id for the admin API and delivery records.
    pub id: String,
    /// The URL deliveries are POSTed to.
    #[cfg_attr(feature = "server", validate(url, length(max = 2048)))]
    pub url: String,
    /// The name of the environment secret holding the `whsec_` signing secret (never the secret itself).
    #[serde(default = "default_secret_name")]
    pub secret: String,
    /// Retry delays in seconds after the first attempt; default 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h,
    /// 20 h, 24 h. After the last one a delivery is dead-lettered.
    #[serde(default)]
    #[cfg_attr(feature = "server", validate(length(min = 1, max = 30)))]
    pub schedule: Option<Vec<u64>>,
    /// How long one attempt may take, in milliseconds (default 15000).
    #[serde(default)]
    #[cfg_attr(feature = "server", validate(range(min = 100, max = 60000)))]
    pub timeout_ms: Option<u64>,
    /// What the endpoint speaks: a Standard Webhooks receiver (the default) or a CRM's own intake API.
    #[serde(default)]
    pub adapter: Adapter,
    /// Field mapping for CRM adapters: our field name to the CRM's. Added to the adapter's defaults; an
    /// empty name leaves a field out. Fields mapped nowhere are not sent to a CRM.
    #[serde(default)]
    #[cfg_attr(feature = "server", validate(length(max = 60)))]
    pub map: alloc::collections::BTreeMap<String, String>,
    /// HubSpot: the subscription type id for each consent purpose, for `legalConsentOptions`.
    #[serde(default)]
    pub subscriptions: alloc::collections::BTreeMap<String, u64>,
    /// Salesforce: the organisation id (`oid`) Web-to-Lead needs.
    #[serde(default)]
    #[cfg_attr(feature = "server", validate(length(min = 1, max = 64)))]
    pub oid: Option<String>,
    /// Pipedrive: the name of the environment secret holding the API token (never the token itself).
    #[serde(default)]
    pub token: Option<String>,
}

/// The protocol of a delivery endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Adapter {
    /// Our event JSON with Standard Webhooks signatures; what Zapier and Make catch hooks take too.
    #[default]
    Standard,
    /// HubSpot Forms API v3 submission (`url` is the form's submit URL with portal id and form GUID).
    Hubspot,
    /// Salesforce Web-to-Lead form post (`url` is the Web-to-Lead servlet, `oid` the organisation).
    Salesforce,
    /// Pipedrive: find or create the person, then create a lead (`url` is the company's API base).
    Pipedrive,
}

fn default_secret_name() -> String {
    "WEBHOOK_SECRET".into()
}

/// One form as configured by the website owner.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(validator::Validate))]
#[serde(deny_unknown_fields)]
pub struct FormDef {
    /// The form's id: lowercase letters, digits, `-` and `_` (it appears in URLs and keys).
    pub id: String,
    /// Newsletter, download gate or giveaway.
    pub kind: FormKind,
    /// The form's language; when absent the page's `lang` decides, else English.
    #[serde(default)]
    pub lang: Option<Lang>,
    /// B2C (default) or B2B.
    #[serde(default)]
    pub mode: Mode,
    /// A heading shown above the fields.
    #[serde(default)]
    pub title: Option<Texts>,
    /// The fields, in display order. Every form has an `email` field.
    #[cfg_attr(feature = "server", validate(length(min = 1, max = 40), nested))]
    pub fields: Vec<FieldDef>,
    /// The consent purposes asked for, in display order.
    #[serde(default)]
    #[cfg_attr(feature = "server", validate(length(max = 10), nested))]
    pub consents: Vec<Purpose>,
    /// Whether the email address must be confirmed by a link before marketing starts.
    #[serde(default)]
    pub double_opt_in: bool,
    /// Page origins allowed to submit (`https://www.example.com`; `http://localhost:*` for any port).
    #[serde(default)]
    #[cfg_attr(feature = "server", validate(length(max = 50)))]
    pub allowed_origins: Vec<String>,
    /// Where leads are delivered.
    #[serde(default)]
    #[cfg_attr(feature = "server", validate(length(max = 10), nested))]
    pub webhooks: Vec<Endpoint>,
    /// The gated file (download gates).
    #[serde(default)]
    #[cfg_attr(feature = "server", validate(nested))]
    pub asset: Option<Asset>,
    /// Dates and rules (giveaways).
    #[serde(default)]
    #[cfg_attr(feature = "server", validate(nested))]
    pub giveaway: Option<Giveaway>,
    /// Lead-score weights, the MQL threshold and the behaviour half-life.
    #[serde(default)]
    pub scoring: ScoringRules,
    /// What this form calls a lead ("Das ist ein Lead, weil ..."); without it, the default of the form's
    /// kind and mode (`stage::default_definition`).
    #[serde(default)]
    pub lead_definition: Option<crate::stage::LeadDefinition>,
    /// Who gets this form's leads, and when (none: they stay unassigned until a person assigns them).
    #[serde(default)]
    pub assign: Option<crate::owner::Assignment>,
    /// Where the no-JavaScript form is redirected after a successful submission (else a built-in page).
    #[serde(default)]
    pub thank_you_url: Option<String>,
    /// Where the no-JavaScript form is redirected after a rejected submission, with `?code=...` added
    /// (else a built-in page lists the problems).
    #[serde(default)]
    pub error_url: Option<String>,
    /// Submissions sent faster than this after the form was shown are treated as bots (default 2000 ms).
    #[serde(default)]
    pub min_fill_ms: Option<u64>,
    /// Cloudflare Turnstile: when set, every submission needs a token that siteverify accepts.
    #[serde(default)]
    #[cfg_attr(feature = "server", validate(nested))]
    pub turnstile: Option<Turnstile>,
}

/// Cloudflare Turnstile verification for a form.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(validator::Validate))]
#[serde(deny_unknown_fields)]
pub struct Turnstile {
    /// The name of the environment secret holding the Turnstile secret key (never the key itself).
    #[serde(default = "default_turnstile_secret")]
    pub secret: String,
    /// Where tokens are verified; a local stand-in in tests.
    #[serde(default = "default_siteverify")]
    #[cfg_attr(feature = "server", validate(url))]
    pub siteverify_url: String,
}

fn default_turnstile_secret() -> String {
    "TURNSTILE_SECRET".into()
}

fn default_siteverify() -> String {
    "https://challenges.cloudflare.com/turnstile/v0/siteverify".into()
}

/// The part of a form the widget needs to render and check it; delivered inside the embed script.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PublicForm {
    /// The form's id.
    pub id: String,
    /// Its kind.
    pub kind: FormKind,
    /// Its configured language, if any.
    #[serde(default)]
    pub lang: Option<Lang>,
    /// B2C or B2B.
    #[serde(default)]
    pub mode: Mode,
    /// The heading.
    #[serde(default)]
    pub title: Option<Texts>,
    /// The fields.
    pub fields: Vec<FieldDef>,
    /// The consent purposes.
    #[serde(default)]
    pub consents: Vec<Purpose>,
    /// Whether double opt-in is on (the thank-you text differs).
    #[serde(default)]
    pub double_opt_in: bool,
    /// Giveaway dates and rules link.
    #[serde(default)]
    pub giveaway: Option<Giveaway>,
}

impl From<&FormDef> for PublicForm {
    fn from(f: &FormDef) -> Self {
        PublicForm {
            id: f.id.clone(),
            kind: f.kind,
            lang: f.lang,
            mode: f.mode,
            title: f.title.clone(),
            fields: f.fields.clone(),
            consents: f.consents.clone(),
            double_opt_in: f.double_opt_in,
            giveaway: f.giveaway.clone(),
        }
    }
}

impl FormDef {
    /// Whether a page at `origin` (scheme://host[:port], as in the `Origin` header) may submit to this form.
    /// A pattern ending in `:*` allows any port of that host, for local development.
    pub fn allows_origin(&self, origin: &str) -> bool {
        let Ok(origin) = normalize_origin(origin) else { return false };
        self.allowed_origins.iter().filter_map(|p| normalize_origin(p).ok()).any(|pattern| match pattern.strip_suffix(":*") {
            Some(base) => origin == base || origin.strip_prefix(base).and_then(|p| p.strip_prefix(':')).is_some_and(|port| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())),
            None => pattern == origin,
        })
    }
}

/// The whole configuration file: a list of forms.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(validator::Validate))]
#[serde(deny_unknown_fields)]
pub struct FormsConfig {
    /// The forms, each `[[forms]]` table in the file.
    #[cfg_attr(feature = "server", validate(length(min = 1, max = 100), nested))]
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
    /// Where mails are POSTed.
    #[cfg_attr(feature = "server", validate(url, length(max = 2048)))]
    pub url: String,
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

impl MailConfig {
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
        if let Some(mail) = &self.mail {
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

    /// Every problem that would make the config misbehave at run time, as `(path, problem)` pairs; empty when
    /// the config is sound. Run at start (by `cargo xtask` and the edge) so a broken config never reaches a
    /// visitor.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        // The static shape first (counts, lengths, URL syntax), by the `validator` derive.
        #[cfg(feature = "server")]
        if let Err(e) = self.validate() {
            flatten_validation("", &e, &mut out);
        }
        let mut push = |path: String, msg: &str| out.push((path, msg.to_owned()));
        if self.forms.is_empty() {
            push("forms".into(), "at least one form is needed");
        }
        for (i, form) in self.forms.iter().enumerate() {
            let at = |rest: &str| format!("forms[{i}] ({}){rest}", form.id);
            if !is_slug(&form.id) {
                push(at(".id"), "use 1 to 64 lowercase letters, digits, '-' or '_'");
            }
            if self.forms.iter().filter(|f| f.id == form.id).count() > 1 {
                push(at(".id"), "another form has the same id");
            }
            match form.fields.iter().find(|f| f.name == "email") {
                None => push(at(".fields"), "every form needs an `email` field: a lead must be reachable"),
                Some(f) if !f.required => push(at(".fields.email"), "the email field must be required"),
                Some(_) => {}
            }
            for (j, field) in form.fields.iter().enumerate() {
                let fat = |rest: &str| at(&format!(".fields[{j}] ({}){rest}", field.name));
                if !is_slug(&field.name) || field.name.contains('-') {
                    push(fat(".name"), "use lowercase letters, digits and '_'");
                }
                if form.fields.iter().filter(|f| f.name == field.name).count() > 1 {
                    push(fat(".name"), "the form declares this field twice");
                }
                if field.standard().is_none() && field.ty.is_none() {
                    push(fat(".type"), "a custom field needs a type (text, textarea, select, checkbox, number, url, phone)");
                }
                if field.standard().is_none() && field.label.as_ref().is_none_or(Texts::is_empty) {
                    push(fat(".label"), "a custom field needs a label (en and/or de)");
                }
                if field.kind() == FieldType::Select && field.options.is_empty() {
                    push(fat(".options"), "a select field needs options");
                }
                if field.kind() != FieldType::Select && !field.options.is_empty() {
                    push(fat(".options"), "only select fields have options");
                }
                if field.kind() == FieldType::Email && field.name != "email" {
                    push(fat(".type"), "only the `email` field may be an email field");
                }
            }
            for (j, purpose) in form.consents.iter().enumerate() {
                let pat = |rest: &str| at(&format!(".consents[{j}] ({}){rest}", purpose.id));
                if !is_slug(&purpose.id) {
                    push(pat(".id"), "use lowercase letters, digits, '-' or '_'");
                }
                if form.consents.iter().filter(|p| p.id == purpose.id).count() > 1 {
                    push(pat(".id"), "the form declares this purpose twice");
                }
                if purpose.text.is_empty() {
                    push(pat(".text"), "the exact consent text is needed (en and/or de): it is what the record proves");
                }
                if purpose.basis == crate::consent::Basis::LegitimateInterest && form.mode != Mode::B2b {
                    push(pat(".basis"), "legitimate interest is only available to B2B forms; B2C marketing needs consent");
                }
                if purpose.basis == crate::consent::Basis::LegitimateInterest && purpose.required {
                    push(pat(".required"), "a legitimate-interest notice cannot be required: nothing is ticked");
                }
                if form.kind == FormKind::Giveaway && purpose.required && purpose.id != crate::consent::GIVEAWAY_RULES {
                    push(pat(".required"), "a giveaway may only require accepting its rules (GDPR Art. 7(4): no coupling)");
                }
            }
            match (form.kind, &form.giveaway) {
                (FormKind::Giveaway, None) => push(at(".giveaway"), "a giveaway needs starts_at, ends_at and rules_url"),
                (FormKind::Giveaway, Some(g)) => {
                    let (start, end) = (crate::time::parse(&g.starts_at), crate::time::parse(&g.ends_at));
                    if start.is_none() {
                        push(at(".giveaway.starts_at"), "not a date (use 2026-12-01 or 2026-12-01T09:00:00+01:00)");
                    }
                    if end.is_none() {
                        push(at(".giveaway.ends_at"), "not a date (use 2026-12-24 or 2026-12-24T23:59:59+01:00)");
                    }
                    if let (Some(s), Some(e)) = (start, end) {
                        if e <= s {
                            push(at(".giveaway.ends_at"), "the giveaway must end after it starts");
                        }
                    }
                    if !is_http_url(&g.rules_url) && !g.rules_url.starts_with('/') {
                        push(at(".giveaway.rules_url"), "use an http(s) URL or a path starting with /");
                    }
                    let rules = form.consents.iter().find(|p| p.id == crate::consent::GIVEAWAY_RULES);
                    if !rules.is_some_and(|p| p.required) {
                        push(at(".consents"), "a giveaway needs a required `giveaway_rules` purpose");
                    }
                }
                (_, Some(_)) => push(at(".giveaway"), "only giveaway forms have giveaway settings"),
                (_, None) => {}
            }
            if form.kind == FormKind::DownloadGate && form.asset.is_none() {
                push(at(".asset"), "a download gate needs an asset (key, filename)");
            }
            for (name, url) in [("thank_you_url", &form.thank_you_url), ("error_url", &form.error_url)] {
                if url.as_ref().is_some_and(|u| !is_redirect_target(u)) {
                    push(at(&format!(".{name}")), "use an absolute http(s) URL or a path starting with a single / (not //host or /\\host)");
                }
            }
            for (j, origin) in form.allowed_origins.iter().enumerate() {
                if let Err(problem) = normalize_origin(origin) {
                    push(at(&format!(".allowed_origins[{j}]")), problem);
                }
            }
            if i == 0 && self.rate_limit.is_some_and(|r| r.period != 10 && r.period != 60) {
                push("rate_limit.period".into(), "the Workers rate limiting binding counts per 10 or per 60 seconds");
            }
            let rules = &form.scoring;
            if rules.events.len() > MAX_EVENT_TYPES {
                push(at(".scoring.events"), "name at most 30 event types");
            }
            for kind in rules.events.keys() {
                if !is_slug(kind) || kind.len() > 40 || [crate::score::CONFIRMED, crate::score::DOWNLOAD, crate::score::REPEAT].contains(&kind.as_str()) {
                    push(at(&format!(".scoring.events.{kind}")), "use 1 to 40 lowercase letters, digits, '-' or '_' (confirmed, download and repeat are built in)");
                }
            }
            if rules.half_life_days == 0 || rules.half_life_days > 3650 {
                push(at(".scoring.half_life_days"), "use 1 to 3650 days");
            }
            if let Some(def) = &form.lead_definition {
                for name in &def.requires {
                    if !form.fields.iter().any(|f| &f.name == name) {
                        push(at(".lead_definition.requires"), "require only fields this form declares");
                    }
                }
                if def.because.as_ref().is_some_and(|b| b.chars().count() > crate::stage::MAX_REASON) {
                    push(at(".lead_definition.because"), "say why in at most 500 characters");
                }
            }
            if form.double_opt_in && self.mail.is_none() {
                push(at(".double_opt_in"), "double opt-in sends confirmation emails: add a [mail] table (url, from, key)");
            }
            for (j, hook) in form.webhooks.iter().enumerate() {
                let hat = |rest: &str| at(&format!(".webhooks[{j}] ({}){rest}", hook.id));
                if !is_slug(&hook.id) {
                    push(hat(".id"), "use lowercase letters, digits, '-' or '_'");
                }
                if !is_http_url(&hook.url) {
                    push(hat(".url"), "use an http(s) URL");
                }
                if !is_secret_name(&hook.secret) {
                    push(hat(".secret"), "name an environment secret in UPPER_SNAKE_CASE, not the secret itself");
                }
                match hook.adapter {
                    Adapter::Salesforce if hook.oid.is_none() => push(hat(".oid"), "Salesforce Web-to-Lead needs your organisation id (oid)"),
                    Adapter::Pipedrive if !hook.token.as_deref().is_some_and(is_secret_name) => {
                        push(hat(".token"), "name the environment secret holding the Pipedrive API token, in UPPER_SNAKE_CASE")
                    }
                    _ => {}
                }
                if hook.map.keys().any(|k| !form.fields.iter().any(|f| &f.name == k)) {
                    push(hat(".map"), "map only fields this form declares");
                }
            }
        }
        for (i, owner) in self.owners.iter().enumerate() {
            let at = |rest: &str| format!("owners[{i}] ({}){rest}", owner.id);
            if !is_slug(&owner.id) || self.owners.iter().filter(|o| o.id == owner.id).count() > 1 {
                push(at(".id"), "use a unique id of lowercase letters, digits, '-' or '_'");
            }
            if owner.name.trim().is_empty() || owner.name.chars().count() > 200 {
                push(at(".name"), "give a name of 1 to 200 characters");
            }
            if owner.email.as_deref().is_some_and(|e| crate::email::check(e).is_err()) {
                push(at(".email"), "not an email address");
            }
        }
        for (i, form) in self.forms.iter().enumerate() {
            let Some(assign) = &form.assign else { continue };
            let at = |rest: &str| format!("forms[{i}] ({}).assign{rest}", form.id);
            let known = |id: &String| self.owners.iter().any(|o| &o.id == id);
            let named: Vec<&String> = assign.owners.iter().chain(assign.map.values()).chain(assign.owner.iter()).collect();
            if named.iter().any(|id| !known(id)) {
                push(at(""), "name only owners of the [[owners]] list");
            }
            match assign.rule {
                crate::owner::Rule::Fixed if assign.owner.is_none() => push(at(".owner"), "a fixed assignment needs its owner"),
                crate::owner::Rule::Field if !assign.field.as_ref().is_some_and(|f| form.fields.iter().any(|d| &d.name == f)) => {
                    push(at(".field"), "name a field this form declares")
                }
                crate::owner::Rule::Field if assign.map.is_empty() => push(at(".map"), "map values to owners"),
                crate::owner::Rule::RoundRobin if self.owners.is_empty() => push(at(".rule"), "round-robin needs [[owners]]"),
                _ => {}
            }
        }
        for (i, f) in self.feedback.iter().enumerate() {
            let at = |rest: &str| format!("feedback[{i}] ({}){rest}", f.id);
            if !is_slug(&f.id) || self.feedback.iter().filter(|x| x.id == f.id).count() > 1 {
                push(at(".id"), "use a unique id of lowercase letters, digits, '-' or '_'");
            }
            if !is_secret_name(&f.secret) {
                push(at(".secret"), "name an environment secret in UPPER_SNAKE_CASE, not the secret itself");
            }
            match (f.source, &f.token) {
                (FeedbackSource::Hubspot | FeedbackSource::Pipedrive, None) => push(at(".token"), "name the secret holding an API token: calls name a contact, whose address is looked up"),
                (_, Some(t)) if !is_secret_name(t) => push(at(".token"), "name an environment secret in UPPER_SNAKE_CASE"),
                _ => {}
            }
            if f.api.as_ref().is_some_and(|u| !is_http_url(u)) {
                push(at(".api"), "use an http(s) URL");
            }
            if f.forms.iter().any(|id| !self.forms.iter().any(|form| &form.id == id)) {
                push(at(".forms"), "name only forms of this config");
            }
        }
        for (i, integration) in self.integrations.iter().enumerate() {
            let at = |rest: &str| format!("integrations[{i}] ({}){rest}", integration.id);
            if !is_slug(&integration.id) || self.integrations.iter().filter(|x| x.id == integration.id).count() > 1 {
                push(at(".id"), "use a unique id of lowercase letters, digits, '-' or '_'");
            }
            if !is_secret_name(&integration.key) {
                push(at(".key"), "name an environment secret in UPPER_SNAKE_CASE, not the key itself");
            }
        }
        out
    }
}

/// Turns `validator`'s nested errors into `(path, problem)` pairs like the hand-written checks produce.
#[cfg(feature = "server")]
fn flatten_validation(prefix: &str, errors: &validator::ValidationErrors, out: &mut Vec<(String, String)>) {
    use validator::ValidationErrorsKind as Kind;
    let mut fields: Vec<_> = errors.errors().iter().collect();
    fields.sort_by_key(|(name, _)| name.to_string());
    for (name, kind) in fields {
        let path = if prefix.is_empty() { name.to_string() } else { format!("{prefix}.{name}") };
        match kind {
            Kind::Field(list) => {
                for e in list {
                    let problem = match (e.code.as_ref(), e.params.get("min"), e.params.get("max")) {
                        ("length", min, max) => format!(
                            "must have {} to {} entries or characters",
                            min.map_or("0".into(), |v| v.to_string()),
                            max.map_or("any number".into(), |v| v.to_string())
                        ),
                        ("url", _, _) => "not a valid URL".to_string(),
                        ("range", min, max) => format!(
                            "must be between {} and {}",
                            min.map_or("-".into(), |v| v.to_string()),
                            max.map_or("-".into(), |v| v.to_string())
                        ),
                        (code, _, _) => code.to_string(),
                    };
                    out.push((path.clone(), problem));
                }
            }
            Kind::Struct(inner) => flatten_validation(&path, inner, out),
            Kind::List(items) => {
                for (i, inner) in items {
                    flatten_validation(&format!("{path}[{i}]"), inner, out);
                }
            }
        }
    }
}

/// An origin the way browsers send it in `Origin`: scheme and host lower-cased, no default port, no
/// trailing slash; `:*` (any port) is kept. `Err` says why the text is not an origin: `*`, `null`, paths,
/// queries, user info and other schemes are refused, so a config can only ever name whole sites.
pub fn normalize_origin(raw: &str) -> Result<String, &'static str> {
    let lower = raw.trim().to_ascii_lowercase();
    let (scheme, rest) = match (lower.strip_prefix("https://"), lower.strip_prefix("http://")) {
        (Some(rest), _) => ("https", rest),
        (None, Some(rest)) => ("http", rest),
        _ => return Err("use an origin like https://www.example.com (http or https, no wildcard, not null)"),
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() || rest.bytes().any(|b| matches!(b, b'/' | b'?' | b'#' | b'@' | b'\\') || b.is_ascii_whitespace() || b.is_ascii_control()) {
        return Err("use an origin like https://www.example.com (scheme and host only: no path, query or user)");
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !p.contains(']') => (h, Some(p)),
        _ => (rest, None),
    };
    let host_ok = !host.is_empty()
        && (host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
            || (host.starts_with('[') && host.ends_with(']') && host.bytes().all(|b| b.is_ascii_hexdigit() || b"[]:.".contains(&b))));
    if !host_ok {
        return Err("use an origin like https://www.example.com (the host has characters no host name has)");
    }
    match port {
        None => Ok(format!("{scheme}://{host}")),
        Some("*") => Ok(format!("{scheme}://{host}:*")),
        Some(p) => match p.parse::<u16>() {
            Ok(80) if scheme == "http" => Ok(format!("{scheme}://{host}")),
            Ok(443) if scheme == "https" => Ok(format!("{scheme}://{host}")),
            Ok(n) if n > 0 && !p.starts_with('0') => Ok(format!("{scheme}://{host}:{n}")),
            _ => Err("use an origin like https://www.example.com:8443 (the port is not a number from 1 to 65535)"),
        },
    }
}

/// Whether `s` is where a browser may be sent after a plain form's submission: an absolute http(s) URL
/// with a host, or a path on the collector itself. `//evil.example` and `/\evil.example` are refused:
/// browsers read both as another site.
pub fn is_redirect_target(s: &str) -> bool {
    if let Some(path) = s.strip_prefix('/') {
        return !path.starts_with('/') && !path.starts_with('\\') && !s.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control());
    }
    // No user info either: `https://good.example@evil.example` is evil.example.
    is_web_url(s) && web_host(s).is_some_and(|h| !h.contains('@'))
}

/// Whether `s` is an absolute web address: `http://` or `https://` (in any case), a host without a
/// backslash, and no whitespace or control characters anywhere. What a page or referrer must be to be
/// kept, and a redirect target must be at least.
pub fn is_web_url(s: &str) -> bool {
    web_host(s).is_some_and(|h| !h.is_empty() && !h.contains('\\')) && !s.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
}

/// The host part (up to `/`, `?` or `#`) of an http(s) URL, as written.
fn web_host(s: &str) -> Option<&str> {
    let scheme = s.get(..8).unwrap_or(s).to_ascii_lowercase();
    let rest = if scheme.starts_with("https://") {
        s.get(8..)
    } else if scheme.starts_with("http://") {
        s.get(7..)
    } else {
        None
    }?;
    rest.split(['/', '?', '#']).next()
}

fn is_secret_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

fn is_slug(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn is_http_url(s: &str) -> bool {
    (s.starts_with("https://") || s.starts_with("http://")) && s.len() > "http://x".len() && !s.contains(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use std::prelude::rust_2021::*;
    use std::vec;
    use super::*;
    #[cfg(feature = "server")]
    use crate::consent::Purpose;

    fn form(origins: &[&str]) -> FormDef {
        serde_json::from_value(serde_json::json!({
            "id": "newsletter", "kind": "newsletter",
            "fields": [{"name": "email", "required": true}],
            "allowed_origins": origins,
        }))
        .unwrap()
    }

    #[test]
    fn origins_match_exactly_or_by_any_port() {
        let f = form(&["https://www.example.com", "http://localhost:*"]);
        assert!(f.allows_origin("https://www.example.com"));
        assert!(!f.allows_origin("https://evil.example.com"));
        assert!(!f.allows_origin("http://www.example.com"));
        assert!(f.allows_origin("http://localhost:5173"));
        assert!(f.allows_origin("http://localhost"));
        assert!(!f.allows_origin("http://localhost.evil.com"));
        assert!(!f.allows_origin("http://localhost:80x"));
    }

    #[test]
    fn origins_are_normalised_and_only_whole_sites_are_origins() {
        let ok = [
            ("HTTPS://WWW.Example.COM", "https://www.example.com"),
            ("https://www.example.com/", "https://www.example.com"),
            ("https://www.example.com:443", "https://www.example.com"),
            ("http://www.example.com:80", "http://www.example.com"),
            ("http://www.example.com:443", "http://www.example.com:443"),
            ("https://shop.example.com:8443", "https://shop.example.com:8443"),
            ("http://localhost:*", "http://localhost:*"),
            ("http://[::1]:8080", "http://[::1]:8080"),
        ];
        for (raw, want) in ok {
            assert_eq!(normalize_origin(raw).as_deref(), Ok(want), "{raw}");
        }
        for bad in ["*", "null", "https://*.example.com", "https://www.example.com/path", "https://www.example.com?x", "https://user@www.example.com",
                    "ftp://example.com", "www.example.com", "https://", "https://a b.com", "https://example.com:0", "https://example.com:99999",
                    "https://example.com:08", "https://example.com:x", "https://example.com\\@evil"] {
            assert!(normalize_origin(bad).is_err(), "{bad}");
        }
        let mut f = form(&["HTTPS://WWW.Example.COM:443"]);
        assert!(f.allows_origin("https://www.example.com"));
        f.allowed_origins = vec!["*".into()];
        assert!(!f.allows_origin("https://evil.example"), "a wildcard is refused by the check and matches nothing");
        assert!(!f.allows_origin("null"));
        let problems = FormsConfig { forms: vec![f], mail: None, rate_limit: None, integrations: Vec::new(), feedback: Vec::new(), owners: Vec::new() }.problems();
        assert!(problems.iter().any(|(p, _)| p.ends_with("allowed_origins[0]")), "{problems:?}");
    }

    #[test]
    fn redirect_targets_are_absolute_web_urls_or_local_paths() {
        for ok in ["/thanks", "/thanks?x=1", "https://www.example.com/danke", "http://localhost:8080/"] {
            assert!(is_redirect_target(ok), "{ok}");
        }
        for bad in ["//evil.example", "/\\evil.example", "javascript:alert(1)", "evil.example", "https://", "https:///x", "https://a@evil.example/",
                    "https://evil.example\\@good.example", "/th anks", ""] {
            assert!(!is_redirect_target(bad), "{bad}");
        }
        let mut f = form(&["https://www.example.com"]);
        f.thank_you_url = Some("//evil.example".into());
        f.error_url = Some("/\\evil.example".into());
        let problems = FormsConfig { forms: vec![f], mail: None, rate_limit: None, integrations: Vec::new(), feedback: Vec::new(), owners: Vec::new() }.problems();
        let paths: Vec<&str> = problems.iter().map(|(p, _)| p.as_str()).collect();
        assert!(paths.iter().any(|p| p.ends_with(".thank_you_url")) && paths.iter().any(|p| p.ends_with(".error_url")), "{problems:?}");
    }

    #[test]
    fn the_secrets_a_config_needs_are_listed_with_their_reasons() {
        let mut config = FormsConfig { forms: vec![form(&["https://www.example.com"])], mail: None, rate_limit: None, integrations: Vec::new(), feedback: Vec::new(), owners: Vec::new() };
        let names = |c: &FormsConfig| c.secrets().into_iter().map(|(n, _)| n).collect::<Vec<_>>();
        assert_eq!(names(&config), vec!["ADMIN_TOKEN", "SIGNING_SECRET"]);
        config.rate_limit = Some(RateLimit { limit: 5, period: 60 });
        assert_eq!(names(&config), vec!["ADMIN_TOKEN", "CLIENT_ID_SECRET", "SIGNING_SECRET"]);
        assert!(config.secrets()[0].1.contains("32 characters"));
    }

    #[test]
    fn a_sound_config_has_no_problems() {
        let config = FormsConfig { forms: vec![form(&["https://www.example.com"])], mail: None, rate_limit: None, integrations: Vec::new(), feedback: Vec::new(), owners: Vec::new() };
        assert_eq!(config.problems(), Vec::<(String, String)>::new());
    }

    #[test]
    fn problems_name_the_place() {
        let mut f = form(&["https://www.example.com/path"]);
        f.fields[0].required = false;
        f.id = "Bad Id".into();
        let problems = FormsConfig { forms: vec![f], mail: None, rate_limit: None, integrations: Vec::new(), feedback: Vec::new(), owners: Vec::new() }.problems();
        let paths: Vec<&str> = problems.iter().map(|(p, _)| p.as_str()).collect();
        assert!(paths.contains(&"forms[0] (Bad Id).id"), "{problems:?}");
        assert!(paths.contains(&"forms[0] (Bad Id).fields.email"), "{problems:?}");
        assert!(paths.contains(&"forms[0] (Bad Id).allowed_origins[0]"), "{problems:?}");
    }

    #[cfg(feature = "server")]
    #[test]
    fn static_limits_come_from_the_validator_derive() {
        let mut f = form(&[]);
        f.webhooks = vec![Endpoint {
            id: "crm".into(),
            url: "not a url".into(),
            secret: "WEBHOOK_SECRET".into(),
            schedule: None,
            timeout_ms: Some(5),
            adapter: Adapter::Salesforce,
            map: [("fax".to_string(), "fax".to_string())].into(),
            subscriptions: Default::default(),
            oid: None,
            token: None,
        }];
        f.consents = (0..11)
            .map(|i| Purpose { id: std::format!("p{i}"), required: false, text: Texts { en: Some("x".into()), de: None }, version: 1, basis: Default::default() })
            .collect();
        let problems = FormsConfig { forms: vec![f], mail: None, rate_limit: None, integrations: Vec::new(), feedback: Vec::new(), owners: Vec::new() }.problems();
        assert!(problems.contains(&("forms[0].consents".into(), "must have 0 to 10 entries or characters".into())), "{problems:?}");
        assert!(problems.iter().any(|(p, m)| p == "forms[0].webhooks[0].url" && m == "not a valid URL"), "{problems:?}");
        assert!(problems.iter().any(|(p, m)| p == "forms[0].webhooks[0].timeout_ms" && m == "must be between 100 and 60000"), "{problems:?}");
        assert!(problems.iter().any(|(p, _)| p == "forms[0] (newsletter).webhooks[0] (crm).oid"), "{problems:?}");
        assert!(problems.iter().any(|(p, _)| p == "forms[0] (newsletter).webhooks[0] (crm).map"), "{problems:?}");
    }

    #[test]
    fn giveaways_may_not_couple_marketing_consent() {
        let f: FormDef = serde_json::from_value(serde_json::json!({
            "id": "win", "kind": "giveaway",
            "fields": [{"name": "email", "required": true}],
            "giveaway": {"starts_at": "2026-12-01", "ends_at": "2026-12-24", "rules_url": "/rules"},
            "consents": [
                {"id": "giveaway_rules", "required": true, "text": {"en": "I accept the rules."}},
                {"id": "marketing_email", "required": true, "text": {"en": "Send me offers."}}
            ]
        }))
        .unwrap();
        let problems = FormsConfig { forms: vec![f], mail: None, rate_limit: None, integrations: Vec::new(), feedback: Vec::new(), owners: Vec::new() }.problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].1.contains("Art. 7(4)"));
    }
}
