//! Intake: from request bytes to a lead ready to store, as pure functions.
//!
//! The worker glue reads the body once (one JS-to-wasm crossing) and hands the bytes here together with
//! the clock, a fresh id and the pseudonymous client id. Nothing here trusts the widget: the envelope is
//! checked with the `validator` derive, the fields and consent with the same `shared` rules the widget ran.

use crate::Error;
use shared::consent::ConsentRecord;
use std::collections::BTreeMap;
use shared::form::{FormDef, FormsConfig};
use shared::lead::{Lead, Source, Status};
use shared::score::{self, Engagement};
use shared::validation;
use shared::wire::Submission;
use shared::Lang;
use validator::Validate;

/// The largest body accepted: a lead form never needs more, and a cap keeps abuse cheap.
pub const MAX_BODY: usize = 32 * 1024;

/// The body encodings the intake accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// `application/json` (the widget, API clients).
    Json,
    /// `application/x-www-form-urlencoded` (the no-JavaScript form).
    Form,
}

/// Picks the encoding from the `Content-Type` header.
pub fn encoding(content_type: Option<&str>) -> Result<Encoding, Error> {
    let mime = content_type.unwrap_or("").split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match mime.as_str() {
        "application/json" => Ok(Encoding::Json),
        "application/x-www-form-urlencoded" => Ok(Encoding::Form),
        _ => Err(Error::UnsupportedMediaType),
    }
}

/// Parses a body into a submission.
pub fn parse(encoding: Encoding, body: &[u8]) -> Result<Submission, Error> {
    if body.len() > MAX_BODY {
        return Err(Error::TooLarge);
    }
    match encoding {
        Encoding::Json => serde_json::from_slice(body).map_err(|e| Error::Malformed(json_problem(&e))),
        Encoding::Form => parse_form_data(body),
    }
}

/// Describes a JSON error by position and kind, without echoing the visitor's data back.
fn json_problem(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Syntax | Category::Eof => "The JSON is malformed",
        Category::Data => "The JSON has the wrong shape (expected {form, fields: {name: string}, consent: [string], meta})",
        Category::Io => "The body could not be read",
    };
    format!("{what} at line {} column {}.", e.line(), e.column())
}

/// Parses `application/x-www-form-urlencoded`: `form`, repeated `consent`, `_hp` (honeypot), `_page`,
/// `_lang`, `_elapsed`, `cf-turnstile-response` (what Turnstile adds to a plain form); every other key is a
/// field.
pub fn parse_form_data(body: &[u8]) -> Result<Submission, Error> {
    let text = std::str::from_utf8(body).map_err(|_| Error::Malformed("The form data is not UTF-8.".into()))?;
    let mut sub = Submission::default();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (percent_decode(k)?, percent_decode(v)?);
        match k.as_str() {
            "form" => sub.form = v,
            "consent" => sub.consent.push(v),
            "_hp" => sub.meta.hp = Some(v),
            "_page" => sub.meta.page = Some(v),
            "_lang" => sub.meta.lang = Lang::from_tag(&v),
            "_elapsed" => sub.meta.elapsed_ms = v.parse().ok(),
            "cf-turnstile-response" => sub.meta.turnstile = Some(v),
            _ if k.starts_with('_') => {}
            _ => {
                if sub.fields.insert(k, v).is_some() {
                    return Err(Error::Malformed("A field appears twice in the form data.".into()));
                }
            }
        }
    }
    Ok(sub)
}

/// `pairs` as `application/x-www-form-urlencoded` (UTF-8), for the form posts the collector sends itself
/// (Salesforce Web-to-Lead, Turnstile's siteverify); the inverse of what [`parse_form_data`] reads.
pub fn form_urlencode<V: AsRef<str>>(pairs: &[(&str, V)]) -> String {
    pairs.iter().map(|(k, v)| [percent_encode(k), percent_encode(v.as_ref())].join("=")).collect::<Vec<_>>().join("&")
}

/// Percent-encodes everything but unreserved characters (RFC 3986), which is valid in a query and a form body.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 15)]));
        }
    }
    out
}

fn percent_decode(s: &str) -> Result<String, Error> {
    let bad = || Error::Malformed("The form data has a broken %-escape.".into());
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = bytes.next().and_then(|c| (c as char).to_digit(16)).ok_or_else(bad)?;
                let lo = bytes.next().and_then(|c| (c as char).to_digit(16)).ok_or_else(bad)?;
                out.push((hi * 16 + lo) as u8);
            }
            _ => out.push(b),
        }
    }
    String::from_utf8(out).map_err(|_| Error::Malformed("The form data is not UTF-8.".into()))
}

/// What the glue knows about the request besides its body and form.
pub struct Context {
    /// Now, in Unix milliseconds.
    pub now_ms: u64,
    /// A fresh lead id.
    pub id: String,
    /// The pseudonymous client id, if a pseudonym secret is configured.
    pub client_id: Option<String>,
}

/// Looks up the form and checks that the page's origin may use it.
pub fn form_for<'c>(config: &'c FormsConfig, sub: &Submission, origin: Option<&str>, own_origin: &str) -> Result<&'c FormDef, Error> {
    let form = config.form(&sub.form).ok_or(Error::UnknownForm)?;
    // Requests without an Origin header come from servers, not browsers; they could forge any Origin anyway,
    // so the check protects visitors' browsers and owners' quotas, not against scripted clients.
    match origin {
        Some(o) if o != own_origin && !form.allows_origin(o) => Err(Error::OriginNotAllowed),
        _ => Ok(form),
    }
}

/// The default for a form's `min_fill_ms`: people need more than two seconds to fill in a form.
pub const MIN_FILL_MS: u64 = 2000;

/// Whether a submission looks like a bot's: the hidden honeypot field is filled in, or the form was sent
/// faster than a person could fill it in. Submissions without a fill time (API clients, the no-JavaScript
/// form) are judged by the honeypot alone.
pub fn is_spam(sub: &Submission, form: &FormDef) -> bool {
    let honeypot = sub.meta.hp.as_deref().is_some_and(|v| !v.trim().is_empty());
    let too_fast = sub.meta.elapsed_ms.is_some_and(|ms| ms < form.min_fill_ms.unwrap_or(MIN_FILL_MS));
    honeypot || too_fast
}

/// Checks that a giveaway is open at `now_ms`; other forms are always open.
pub fn check_open(form: &FormDef, now_ms: u64) -> Result<(), Error> {
    let Some(g) = &form.giveaway else { return Ok(()) };
    let (start, end) = (shared::time::parse(&g.starts_at), shared::time::parse(&g.ends_at));
    if start.is_some_and(|s| now_ms < s) || end.is_some_and(|e| now_ms > e) {
        return Err(Error::FormClosed);
    }
    Ok(())
}

/// The KV key that finds a form's lead by email address. The address is hashed (lower-cased first, as
/// mailboxes are matched case-insensitively in practice) so that key listings carry no personal data.
pub fn email_key(form: &str, email: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(email.to_lowercase().as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("email:{form}:{hex}")
}

/// The KV key remembering the answer to an `Idempotency-Key`, scoped to the form. Keys are 1 to 128
/// characters of letters, digits, `-` and `_` (what UUIDs and the widget's hex keys are).
pub fn idempotency_key(form: &str, header: &str) -> Result<String, Error> {
    let key = header.trim();
    if key.is_empty() || key.len() > 128 || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(Error::Malformed("The Idempotency-Key header must be 1 to 128 letters, digits, '-' or '_'.".into()));
    }
    Ok(format!("idem:{form}:{key}"))
}

/// Folds a repeat submission into the stored lead: new values win, fields left empty keep their old value,
/// the new consent record becomes current and the old one moves to the history, and the repeat counts as
/// engagement.
pub fn merge(mut existing: Lead, fresh: Lead, form: &FormDef) -> Lead {
    existing.fields.extend(fresh.fields);
    existing.consent_history.push(std::mem::replace(&mut existing.consent, fresh.consent));
    existing.engagement.submissions += 1;
    existing.updated_at = fresh.updated_at;
    existing.score = score::score(&form.scoring, form.kind, &existing.fields, existing.engagement);
    existing
}

/// Turns a submission to `form` (found and origin-checked by [`form_for`]) into a lead, or says precisely
/// what is wrong with it.
pub fn accept(form: &FormDef, sub: Submission, cx: Context) -> Result<Lead, Error> {
    sub.validate().map_err(|e| Error::Malformed(format!("Envelope limits exceeded: {}.", envelope_problem(&e))))?;
    check_open(form, cx.now_ms)?;
    let lang = Lang::choose(form.lang, sub.meta.lang);
    let values: Vec<(&str, &str)> = sub.fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let valid = validation::validate(&form.fields, &form.consents, &values, &sub.consent).map_err(Error::Validation)?;
    let fields: BTreeMap<String, String> = valid.fields.into_iter().collect();
    let now = shared::time::rfc3339(cx.now_ms);
    let consent = ConsentRecord::new(&form.consents, &valid.consent, lang, now.clone(), sub.meta.page.clone(), cx.client_id);
    let engagement = Engagement { submissions: 1, ..Engagement::default() };
    let score = score::score(&form.scoring, form.kind, &fields, engagement);
    let status = if form.double_opt_in { Status::Pending } else { Status::New };
    Ok(Lead {
        id: cx.id,
        form: form.id.clone(),
        kind: form.kind,
        status,
        created_at: now.clone(),
        updated_at: now,
        fields,
        consent,
        consent_history: Vec::new(),
        source: Source { page: sub.meta.page, referrer: sub.meta.referrer, utm: sub.meta.utm },
        engagement,
        score,
        confirmation: None,
    })
}

/// Names the envelope fields that broke their limits (never their values).
fn envelope_problem(e: &validator::ValidationErrors) -> String {
    let mut names: Vec<String> = Vec::new();
    for (field, kind) in e.errors() {
        match kind {
            validator::ValidationErrorsKind::Struct(inner) => {
                names.extend(inner.errors().keys().map(|k| format!("{field}.{k}")));
            }
            _ => names.push(field.to_string()),
        }
    }
    names.sort();
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_collector_encodes_its_own_form_reader_reads_back() {
        let body = form_urlencode(&[("form", "newsletter"), ("email", "jürgen+tag@example.de"), ("message", "a&b=c 100% ~ok\n")]);
        let sub = parse_form_data(body.as_bytes()).unwrap();
        assert_eq!(sub.form, "newsletter");
        assert_eq!(sub.fields["email"], "jürgen+tag@example.de");
        assert_eq!(sub.fields["message"], "a&b=c 100% ~ok\n");
        assert!(body.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~%=&".contains(&b)), "{body}");
    }
    use shared::Code;

    fn config() -> FormsConfig {
        serde_json::from_value(serde_json::json!({"forms": [{
            "id": "newsletter", "kind": "newsletter",
            "fields": [{"name": "email", "required": true}, {"name": "first_name"}],
            "consents": [{"id": "marketing_email", "required": true, "text": {"en": "Send me the newsletter.", "de": "Schickt mir den Newsletter."}}],
            "allowed_origins": ["https://shop.example.com"]
        }]}))
        .unwrap()
    }

    fn cx() -> Context {
        Context { now_ms: 1_700_000_000_000, id: "ld_1".into(), client_id: Some("c".into()) }
    }

    #[test]
    fn encodings() {
        assert_eq!(encoding(Some("application/json; charset=utf-8")).unwrap(), Encoding::Json);
        assert_eq!(encoding(Some("Application/X-WWW-Form-Urlencoded")).unwrap(), Encoding::Form);
        assert!(matches!(encoding(Some("text/plain")), Err(Error::UnsupportedMediaType)));
        assert!(matches!(encoding(None), Err(Error::UnsupportedMediaType)));
    }

    #[test]
    fn malformed_json_names_the_position() {
        match parse(Encoding::Json, b"{\"form\": ") {
            Err(Error::Malformed(m)) => assert!(m.contains("line 1"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(parse(Encoding::Json, &vec![b' '; MAX_BODY + 1]), Err(Error::TooLarge)));
        assert!(matches!(parse(Encoding::Json, br#"{"form": 3}"#), Err(Error::Malformed(_))));
    }

    #[test]
    fn form_data_maps_to_the_same_submission() {
        let s = parse(Encoding::Form, b"form=newsletter&email=ada%40example.com&first_name=J%C3%BCrgen+K&consent=marketing_email&_hp=&_lang=de").unwrap();
        assert_eq!(s.form, "newsletter");
        assert_eq!(s.fields["email"], "ada@example.com");
        assert_eq!(s.fields["first_name"], "Jürgen K");
        assert_eq!(s.consent, vec!["marketing_email"]);
        assert_eq!(s.meta.lang, Some(Lang::De));
        assert!(matches!(parse(Encoding::Form, b"email=%E"), Err(Error::Malformed(_))));
        assert!(matches!(parse(Encoding::Form, b"email=a&email=b"), Err(Error::Malformed(_))));
    }

    #[test]
    fn accepting_builds_the_lead_with_consent_record_and_score() {
        let sub: Submission = serde_json::from_value(serde_json::json!({
            "form": "newsletter", "fields": {"email": "ada@example.com", "first_name": "Ada"},
            "consent": ["marketing_email"], "meta": {"page": "https://shop.example.com/", "lang": "de", "utm": {"source": "x"}}
        }))
        .unwrap();
        let lead = accept(&config().forms[0], sub, cx()).unwrap();
        assert_eq!(lead.status, Status::New);
        assert_eq!(lead.created_at, "2023-11-14T22:13:20.000Z");
        assert_eq!(lead.consent.entries[0].text, "Schickt mir den Newsletter.");
        assert!(lead.consent.grants("marketing_email"));
        assert_eq!(lead.source.utm["source"], "x");
        assert_eq!(lead.score.total, 0);
    }

    #[test]
    fn spam_is_a_filled_honeypot_or_a_too_fast_hand() {
        let form = &config().forms[0];
        let mut sub = Submission::default();
        assert!(!is_spam(&sub, form), "API clients send neither");
        sub.meta.elapsed_ms = Some(5_000);
        assert!(!is_spam(&sub, form));
        sub.meta.elapsed_ms = Some(400);
        assert!(is_spam(&sub, form));
        sub.meta.elapsed_ms = Some(5_000);
        sub.meta.hp = Some("http://spam.example".into());
        assert!(is_spam(&sub, form));
        sub.meta.hp = Some("  ".into());
        assert!(!is_spam(&sub, form));
    }

    #[test]
    fn giveaways_are_open_only_between_start_and_end() {
        let mut form = config().forms[0].clone();
        assert!(check_open(&form, 0).is_ok(), "newsletters are always open");
        form.giveaway = Some(shared::form::Giveaway { starts_at: "2026-12-01".into(), ends_at: "2026-12-24T23:59:59Z".into(), rules_url: "/r".into() });
        let day = |d: &str| shared::time::parse(d).unwrap();
        assert!(matches!(check_open(&form, day("2026-11-30T23:59:59Z")), Err(Error::FormClosed)));
        assert!(check_open(&form, day("2026-12-01")).is_ok());
        assert!(check_open(&form, day("2026-12-24T23:59:59Z")).is_ok());
        assert!(matches!(check_open(&form, day("2026-12-25")), Err(Error::FormClosed)));
    }

    #[test]
    fn email_keys_ignore_case_and_hide_the_address() {
        let k = email_key("newsletter", "Ada@Example.com");
        assert_eq!(k, email_key("newsletter", "ada@example.com"));
        assert_ne!(k, email_key("ebook", "ada@example.com"));
        assert!(k.starts_with("email:newsletter:") && !k.contains("example"));
        assert!(idempotency_key("nl", "0f8a-11_Z").is_ok());
        assert!(idempotency_key("nl", "a b").is_err());
        assert!(idempotency_key("nl", &"x".repeat(129)).is_err());
    }

    #[test]
    fn a_repeat_submission_merges_into_the_stored_lead() {
        let form = &config().forms[0];
        let lead = |id: &str, name: Option<&str>, at: u64| {
            let mut fields = serde_json::json!({"email": "ada@example.com"});
            if let Some(n) = name {
                fields["first_name"] = n.into();
            }
            let sub: Submission = serde_json::from_value(serde_json::json!({"form": "newsletter", "fields": fields, "consent": ["marketing_email"]})).unwrap();
            accept(&config().forms[0], sub, Context { now_ms: at, id: id.into(), client_id: None }).unwrap()
        };
        let first = lead("ld_1", Some("Ada"), 1_000);
        let merged = merge(first.clone(), lead("ld_2", None, 2_000), form);
        assert_eq!(merged.id, "ld_1");
        assert_eq!(merged.fields["first_name"], "Ada", "an empty field does not erase");
        assert_eq!(merged.engagement.submissions, 2);
        assert_eq!(merged.consent_history, vec![first.consent]);
        assert_eq!(merged.created_at, first.created_at);
        assert_eq!(merged.updated_at, "1970-01-01T00:00:02.000Z");
        assert_eq!(merged.score.reasons, vec!["+5 repeat submission"]);
    }

    #[test]
    fn wrong_origin_unknown_form_and_bad_fields_are_told_apart() {
        let sub = |form: &str, email: &str| Submission {
            form: form.into(),
            fields: [("email".to_string(), email.to_string())].into(),
            consent: vec!["marketing_email".into()],
            ..Default::default()
        };
        let own = "http://127.0.0.1:8787";
        let config = config();
        assert!(matches!(form_for(&config, &sub("newsletter", "a@b.de"), Some("https://evil.example"), own), Err(Error::OriginNotAllowed)));
        assert!(form_for(&config, &sub("newsletter", "a@b.de"), Some("https://shop.example.com"), own).is_ok());
        assert!(form_for(&config, &sub("newsletter", "a@b.de"), Some(own), own).is_ok(), "own origin");
        assert!(form_for(&config, &sub("newsletter", "a@b.de"), None, own).is_ok(), "server clients send no Origin");
        assert!(matches!(form_for(&config, &sub("nope", "a@b.de"), None, own), Err(Error::UnknownForm)));
        let form = &config.forms[0];
        assert!(accept(form, sub("newsletter", "a@b.de"), cx()).is_ok());
        match accept(form, sub("newsletter", "a@"), cx()) {
            Err(Error::Validation(e)) => assert_eq!(e, vec![("email".to_string(), Code::InvalidEmail)]),
            other => panic!("{other:?}"),
        }
        let mut huge = sub("newsletter", "a@b.de");
        huge.consent = (0..21).map(|i| i.to_string()).collect();
        match accept(form, huge, cx()) {
            Err(Error::Malformed(m)) => assert!(m.contains("consent"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
