//! Form definitions: what the website owner configures per form, and the public part the widget receives.
//! (The file as a whole is `config`; its checks are `problems`.)
//!
//! [`FormDef`] is one `[[forms]]` entry of the config file. It holds secrets-adjacent data (webhook URLs,
//! allowed origins, scoring weights) that must never reach a visitor's browser, so the widget gets a
//! [`PublicForm`] built from it: the fields, consent purposes and display data, nothing else.

use alloc::{format, string::String, vec::Vec};

pub use crate::config::{Feedback, FeedbackSource, FormsConfig, Integration, MailConfig, RateLimit, MAX_EVENT_TYPES};
use crate::consent::Purpose;
use crate::field::FieldDef;
pub use crate::kind::{FormKind, Mode};
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
    /// How many downloads one lead's links may make in a clock hour (default 20): a link passed around or
    /// hammered by a script is refused with `429` until the hour is over, instead of serving the file
    /// without bound.
    #[serde(default)]
    #[cfg_attr(feature = "server", validate(range(min = 1, max = 100_000)))]
    pub downloads_per_hour: Option<u32>,
}

impl Asset {
    /// How long a download link works, in milliseconds.
    pub fn link_valid_ms(&self) -> u64 {
        u64::from(self.link_valid_hours.unwrap_or(24)) * 3_600_000
    }

    /// The downloads one lead's links may make in a clock hour when the form does not say.
    pub const DOWNLOADS_PER_HOUR: u32 = 20;

    /// How many downloads one lead's links may make in a clock hour.
    pub fn downloads_per_hour(&self) -> u32 {
        self.downloads_per_hour.unwrap_or(Self::DOWNLOADS_PER_HOUR)
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
    #[cfg_attr(feature = "server", validate(custom(function = "web_url"), length(max = 2048)))]
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
    /// A short paragraph under the heading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intro: Option<Texts>,
    /// The submit button's label (default: "Subscribe", "Download" or "Enter", by kind).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub button: Option<Texts>,
    /// The thank-you sentence after an accepted submission, instead of the kind's (a double opt-in form
    /// still asks to confirm the address, and a download gate still shows its link).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thanks: Option<Texts>,
    /// An A/B test of the texts above: up to four variants, one of them shown to each page view by weight.
    /// Leads record the variant they saw; the analytics and the funnel report per variant.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "server", validate(length(max = 4), nested))]
    pub variants: Vec<Variant>,
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
    /// How many ledger objects share the form's addresses (1 to 64, default 1): more than one for a
    /// campaign that needs more than one object's few hundred writes a second. Each address always lives in
    /// the same one (by a hash of it), so set it when the form is created: the collector refuses to change it
    /// for a form that has leads, because its addresses would move.
    #[serde(default = "one_shard")]
    #[cfg_attr(feature = "server", validate(range(min = 1, max = 64)))]
    pub shards: u32,
    /// Whether the form's analytics count unique visitors per day (off by default): a keyed hash of a salt
    /// that is replaced every day, the form, the pseudonymous client and the user agent, kept for that day
    /// only (see the README's privacy section).
    #[serde(default)]
    pub unique_visitors: bool,
    /// Who changes the form: the admin page's editor (the default; the file only seeds the form the first
    /// time the collector sees it) or the file (`managed = "file"`: every deploy publishes the file's
    /// definition when it differs, and the editor shows the form read-only).
    #[serde(default, skip_serializing_if = "Managed::is_editor")]
    pub managed: Managed,
    /// The published version this definition is, set by the collector when it publishes (`1`, `2`, ...);
    /// a value in a draft or in the file is replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
}

/// One variant of a form's texts in an A/B test. A text it leaves out is the form's own, so a variant
/// that sets nothing is the control.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(validator::Validate))]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// The variant's name (a slug): what leads record and reports show.
    pub name: String,
    /// Its share of page views relative to the other variants' weights (1 to 100, default 1).
    #[serde(default = "one_weight")]
    #[cfg_attr(feature = "server", validate(range(min = 1, max = 100)))]
    pub weight: u32,
    /// The heading instead of the form's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<Texts>,
    /// The paragraph under the heading instead of the form's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intro: Option<Texts>,
    /// The button's label instead of the form's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub button: Option<Texts>,
    /// The thank-you sentence instead of the form's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thanks: Option<Texts>,
}

fn one_weight() -> u32 {
    1
}

/// The texts a page view of a form shows: the form's own, with those of its variant (if it is shown one)
/// in their place.
#[derive(Clone, Copy, Debug, Default)]
pub struct Wording<'a> {
    /// The heading.
    pub title: Option<&'a Texts>,
    /// The paragraph under it.
    pub intro: Option<&'a Texts>,
    /// The button's label (none: the kind's).
    pub button: Option<&'a Texts>,
    /// The thank-you sentence (none: the kind's).
    pub thanks: Option<&'a Texts>,
}

impl PublicForm {
    /// The texts shown with `variant` (none: the form's own).
    pub fn wording<'a>(&'a self, variant: Option<&'a Variant>) -> Wording<'a> {
        let pick = |theirs: Option<&'a Texts>, own: &'a Option<Texts>| theirs.or(own.as_ref()).filter(|t| !t.is_empty());
        Wording {
            title: pick(variant.and_then(|v| v.title.as_ref()), &self.title),
            intro: pick(variant.and_then(|v| v.intro.as_ref()), &self.intro),
            button: pick(variant.and_then(|v| v.button.as_ref()), &self.button),
            thanks: pick(variant.and_then(|v| v.thanks.as_ref()), &self.thanks),
        }
    }
}

/// Where each variant's share of page views ends, as cumulative fractions of the weights' sum (the last
/// is 1): a page view draws `r` uniform in `[0, 1)` and is shown the first variant whose bound is above
/// it. The widget draws before its rules are compiled (the markup it shows depends on the draw), so the
/// collector hands it these bounds rather than the weights.
pub fn shares(variants: &[Variant]) -> Vec<f64> {
    let total: u64 = variants.iter().map(|v| u64::from(v.weight)).sum();
    let mut sum = 0;
    variants
        .iter()
        .map(|v| {
            sum += u64::from(v.weight);
            sum as f64 / total.max(1) as f64
        })
        .collect()
}

/// Who changes a form's definition.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Managed {
    /// The admin page's editor (and the admin API); the file seeds the form once.
    #[default]
    Editor,
    /// The config file: what is deployed is published, and the editor only shows it.
    File,
}

impl Managed {
    /// Whether this is the default, left out when a form is written.
    pub fn is_editor(&self) -> bool {
        *self == Managed::Editor
    }
}

fn one_shard() -> u32 {
    1
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
    #[cfg_attr(feature = "server", validate(custom(function = "web_url")))]
    pub siteverify_url: String,
    /// The site key (public). With it the widget shows Turnstile itself, loading Cloudflare's script on
    /// the form's first focus rather than with the page; without it the page runs Turnstile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "server", validate(length(min = 1, max = 100)))]
    pub site_key: Option<String>,
    /// Cloudflare's script, which the widget loads for the site key; a local stand-in in tests.
    #[serde(default = "default_turnstile_script")]
    #[cfg_attr(feature = "server", validate(custom(function = "web_url")))]
    pub script_url: String,
}

/// What the widget needs to show Turnstile itself: the site key and where Cloudflare's script is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TurnstileWidget {
    /// The site key.
    pub site_key: String,
    /// Cloudflare's script (`api.js`), loaded with `?render=explicit`.
    pub script_url: String,
}

fn default_turnstile_script() -> String {
    "https://challenges.cloudflare.com/turnstile/v0/api.js".into()
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
    /// The paragraph under the heading.
    #[serde(default)]
    pub intro: Option<Texts>,
    /// The button's label.
    #[serde(default)]
    pub button: Option<Texts>,
    /// The thank-you sentence.
    #[serde(default)]
    pub thanks: Option<Texts>,
    /// The variants of these texts under test.
    #[serde(default)]
    pub variants: Vec<Variant>,
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
    /// The published version (0 for a definition never published, such as a preview's draft): the widget
    /// sends it back, so a submission is checked against the version its page showed.
    #[serde(default)]
    pub version: u32,
    /// Turnstile, when the widget shows it itself (a site key is configured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turnstile: Option<TurnstileWidget>,
}

impl From<&FormDef> for PublicForm {
    fn from(f: &FormDef) -> Self {
        PublicForm {
            id: f.id.clone(),
            kind: f.kind,
            lang: f.lang,
            mode: f.mode,
            title: f.title.clone(),
            intro: f.intro.clone(),
            button: f.button.clone(),
            thanks: f.thanks.clone(),
            variants: f.variants.clone(),
            fields: f.fields.clone(),
            consents: f.consents.clone(),
            double_opt_in: f.double_opt_in,
            giveaway: f.giveaway.clone(),
            version: f.version.unwrap_or(0),
            turnstile: f.turnstile.as_ref().and_then(|t| Some(TurnstileWidget { site_key: t.site_key.clone()?, script_url: t.script_url.clone() })),
        }
    }
}

impl FormDef {
    /// The form with the texts of its variant `winner` as its own and no variants: how an A/B test ends.
    /// `None` when it has no such variant.
    pub fn with_winner(&self, winner: &str) -> Option<FormDef> {
        let won = self.variants.iter().find(|v| v.name == winner)?.clone();
        let mut form = self.clone();
        form.variants.clear();
        for (own, theirs) in [(&mut form.title, won.title), (&mut form.intro, won.intro), (&mut form.button, won.button), (&mut form.thanks, won.thanks)] {
            if theirs.is_some() {
                *own = theirs;
            }
        }
        Some(form)
    }

    /// Whether a page at `origin` (scheme://host[:port], as in the `Origin` header) may submit to this form.
    /// A pattern ending in `:*` allows any port of that host, for local development.
    pub fn allows_origin(&self, origin: &str) -> bool {
        let Ok(origin) = normalize_origin(origin) else { return false };
        self.allowed_origins.iter().filter_map(|p| normalize_origin(p).ok()).any(|pattern| match pattern.strip_suffix(":*") {
            Some(base) => {
                origin == base
                    || origin
                        .strip_prefix(base)
                        .and_then(|p| p.strip_prefix(':'))
                        .is_some_and(|port| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
            }
            None => pattern == origin,
        })
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

pub(crate) fn is_secret_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// Whether `s` can be an id (a form's, a field's): 1 to 64 lowercase letters, digits, `-` or `_`.
pub fn is_slug(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// `validator`'s check for the URLs the collector calls (webhooks, mail, Turnstile): an absolute web
/// address, see [`is_web_url`]. Its own `url` check would accept schemes the collector cannot fetch, and
/// it would link the `url` crate with its IDNA tables into the Worker, which every cold start loads.
#[cfg(feature = "server")]
pub(crate) fn web_url(s: &str) -> Result<(), validator::ValidationError> {
    if is_web_url(s) {
        Ok(())
    } else {
        Err(validator::ValidationError::new("url"))
    }
}

pub(crate) fn is_http_url(s: &str) -> bool {
    (s.starts_with("https://") || s.starts_with("http://")) && s.len() > "http://x".len() && !s.contains(char::is_whitespace)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::prelude::rust_2021::*;
    use std::vec;

    /// A newsletter form that allows `origins` (the config's checks use it too).
    pub(crate) fn form(origins: &[&str]) -> FormDef {
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
        for bad in [
            "*",
            "null",
            "https://*.example.com",
            "https://www.example.com/path",
            "https://www.example.com?x",
            "https://user@www.example.com",
            "ftp://example.com",
            "www.example.com",
            "https://",
            "https://a b.com",
            "https://example.com:0",
            "https://example.com:99999",
            "https://example.com:08",
            "https://example.com:x",
            "https://example.com\\@evil",
        ] {
            assert!(normalize_origin(bad).is_err(), "{bad}");
        }
        let mut f = form(&["HTTPS://WWW.Example.COM:443"]);
        assert!(f.allows_origin("https://www.example.com"));
        f.allowed_origins = vec!["*".into()];
        assert!(!f.allows_origin("https://evil.example"), "a wildcard is refused by the check and matches nothing");
        assert!(!f.allows_origin("null"));
        let problems = FormsConfig { forms: vec![f], ..FormsConfig::default() }.problems();
        assert!(problems.iter().any(|(p, _)| p.ends_with("allowed_origins[0]")), "{problems:?}");
    }

    #[test]
    fn redirect_targets_are_absolute_web_urls_or_local_paths() {
        for ok in ["/thanks", "/thanks?x=1", "https://www.example.com/danke", "http://localhost:8080/"] {
            assert!(is_redirect_target(ok), "{ok}");
        }
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "javascript:alert(1)",
            "evil.example",
            "https://",
            "https:///x",
            "https://a@evil.example/",
            "https://evil.example\\@good.example",
            "/th anks",
            "",
        ] {
            assert!(!is_redirect_target(bad), "{bad}");
        }
        let mut f = form(&["https://www.example.com"]);
        f.thank_you_url = Some("//evil.example".into());
        f.error_url = Some("/\\evil.example".into());
        let problems = FormsConfig { forms: vec![f], ..FormsConfig::default() }.problems();
        let paths: Vec<&str> = problems.iter().map(|(p, _)| p.as_str()).collect();
        assert!(paths.iter().any(|p| p.ends_with(".thank_you_url")) && paths.iter().any(|p| p.ends_with(".error_url")), "{problems:?}");
    }

    #[test]
    fn a_variants_share_of_page_views_is_its_weights() {
        let variants = |weights: &[u32]| -> Vec<Variant> {
            weights.iter().enumerate().map(|(i, w)| serde_json::from_value(serde_json::json!({"name": format!("v{i}"), "weight": w})).unwrap()).collect()
        };
        assert_eq!(super::shares(&variants(&[3, 1])), [0.75, 1.0]);
        assert_eq!(super::shares(&variants(&[1, 1, 1])).last(), Some(&1.0), "the last bound is exactly 1");
        assert_eq!(super::shares(&[]), Vec::<f64>::new());
        // Drawn with evenly spread numbers, the bounds split exactly by weight.
        let bounds = super::shares(&variants(&[3, 1]));
        let first = (0..400).filter(|i| f64::from(*i) / 400.0 < bounds[0]).count();
        assert_eq!(first, 300);
    }

    #[test]
    fn a_test_ends_with_the_winners_texts_as_the_forms_own() {
        let def: FormDef = serde_json::from_value(serde_json::json!({
            "id": "nl", "kind": "newsletter", "fields": [{"name": "email", "required": true}],
            "title": {"en": "News"}, "button": {"en": "Join"},
            "variants": [{"name": "a"}, {"name": "b", "title": {"en": "Weekly ideas"}, "intro": {"en": "One mail a week."}}]
        }))
        .unwrap();
        let won = def.with_winner("b").unwrap();
        assert!(won.variants.is_empty());
        assert_eq!(
            (won.title.unwrap().get(Lang::En), won.intro.unwrap().get(Lang::En), won.button.unwrap().get(Lang::En)),
            ("Weekly ideas", "One mail a week.", "Join")
        );
        assert_eq!(def.with_winner("a").map(|f| (f.title, f.variants.len())), Some((def.title.clone(), 0)), "the control wins: the form as it was");
        assert!(def.with_winner("c").is_none());
    }

    #[test]
    fn a_variant_replaces_only_the_texts_it_sets() {
        let def: FormDef = serde_json::from_value(serde_json::json!({
            "id": "nl", "kind": "newsletter", "fields": [{"name": "email", "required": true}],
            "title": {"en": "News"}, "button": {"en": "Join"},
            "variants": [{"name": "a"}, {"name": "b", "title": {"en": "Weekly ideas"}, "thanks": {"en": "See you Monday."}}]
        }))
        .unwrap();
        let public = PublicForm::from(&def);
        let own = public.wording(None);
        assert_eq!((own.title.map(|t| t.get(Lang::En)), own.button.map(|t| t.get(Lang::En)), own.thanks.is_none()), (Some("News"), Some("Join"), true));
        let b = public.wording(public.variants.get(1));
        assert_eq!(b.title.map(|t| t.get(Lang::En)), Some("Weekly ideas"));
        assert_eq!(b.button.map(|t| t.get(Lang::En)), Some("Join"), "left out: the form's own");
        assert_eq!(b.thanks.map(|t| t.get(Lang::En)), Some("See you Monday."));
        let written = serde_json::to_value(&def).unwrap();
        assert!(written.get("intro").is_none() && written["variants"][0].get("title").is_none(), "unset texts are not written: {written}");
    }
}
