//! Intake: from request bytes to a lead ready to store, as pure functions.
//!
//! The worker glue reads the body once (one JS-to-wasm crossing) and hands the bytes here together with
//! the clock, a fresh id and the pseudonymous client id. Nothing here trusts the widget: the envelope is
//! checked with the `validator` derive, the fields and consent with the same `shared` rules the widget ran.

use crate::Error;
use shared::consent::ConsentRecord;
use shared::form::{FormDef, FormsConfig};
use shared::lead::{Lead, Source, Status};
use shared::score::{self, Engagement};
use shared::validation;
use shared::wire::Submission;
use shared::Lang;
use std::collections::BTreeMap;

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

/// An address as the ledger's email index knows it: SHA-256 of the lower-cased address (mailboxes are
/// matched case-insensitively in practice), so the index holds no personal data.
pub fn email_hash(email: &str) -> String {
    crate::rules::digest::sha256_hex(email.to_lowercase().as_bytes())
}

/// The ledger's key for a lead's address ([`email_hash`] of its `email` field).
pub fn address_of(lead: &Lead) -> String {
    email_hash(lead.fields.get("email").map_or("", String::as_str))
}

/// The consent record a dropped bot's submission would have had, built without checking anything: what
/// its decoy receipt states, so the decoy looks like a person's.
pub fn decoy_record(form: &FormDef, sub: &Submission, now_ms: u64) -> ConsentRecord {
    let (granted, refused) = form.consents.iter().map(|p| p.id.clone()).partition(|id| sub.consent.contains(id));
    let decision = shared::consent::Decision { granted, refused };
    ConsentRecord::new(&form.consents, &decision, Lang::choose(form.lang, sub.meta.lang), shared::time::rfc3339(now_ms), None, None)
}

/// Keeps a submitted page or referrer only if it is a web address (`http:` or `https:` with a host):
/// anything else (`javascript:`, `data:`, relative junk) would reach CRMs as a clickable link. A dropped
/// value is noted by name and reason, never by content.
fn web_address(name: &str, value: Option<String>, dropped: &mut Vec<String>) -> Option<String> {
    let value = value.filter(|v| !v.trim().is_empty())?;
    if shared::form::is_web_url(&value) {
        Some(value)
    } else {
        dropped.push(format!("{name}: not an http(s) URL"));
        None
    }
}

/// Turns a submission to `form` (found and origin-checked by [`form_for`]) into a lead, or says precisely
/// what is wrong with it.
pub fn accept(form: &FormDef, sub: Submission, cx: Context) -> Result<Lead, Error> {
    let broken = sub.envelope_problems();
    if !broken.is_empty() {
        return Err(Error::Malformed(format!("Envelope limits exceeded: {}.", broken.join(", "))));
    }
    check_open(form, cx.now_ms)?;
    // The variant of an A/B test the page showed; it is checked against the version the page showed, so a
    // variant unknown to it was not shown by the widget.
    let variant = match sub.meta.variant {
        Some(v) if !form.variants.iter().any(|known| known.name == v) => {
            return Err(Error::Malformed(format!("`meta.variant`: the form has no variant `{}`.", shared::text::prefix(&v, 64))));
        }
        v => v,
    };
    let lang = Lang::choose(form.lang, sub.meta.lang);
    let values: Vec<(&str, &str)> = sub.fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    // Campaign tags get the rules of a text field; their problems are listed with the fields' ones.
    let (valid, utm) = match (validation::validate(&form.fields, &form.consents, &values, &sub.consent), shared::wire::utm_checked(&sub.meta.utm)) {
        (Ok(valid), Ok(utm)) => (valid, utm),
        (fields, utm) => return Err(Error::Validation(fields.err().unwrap_or_default().into_iter().chain(utm.err().unwrap_or_default()).collect())),
    };
    let fields: BTreeMap<String, String> = shared::order::map(valid.fields);
    let now = shared::time::rfc3339(cx.now_ms);
    let mut dropped = Vec::new();
    let page = web_address("page", sub.meta.page, &mut dropped);
    let referrer = web_address("referrer", sub.meta.referrer, &mut dropped);
    let consent = ConsentRecord::new(&form.consents, &valid.consent, lang, now.clone(), page.clone(), cx.client_id.clone());
    let status = if form.double_opt_in { Status::Pending } else { Status::New };
    let mut lead = build(form, fields, consent, Source { page, referrer, utm, dropped, import: None }, status, cx);
    lead.variant = variant;
    Ok(lead)
}

/// A new lead from checked fields, its consent record and source, with its first stage (from the form's
/// lead definition), score and, when the score reaches the threshold, the move to MQL. What submissions
/// and imports share.
pub fn build(form: &FormDef, fields: BTreeMap<String, String>, consent: ConsentRecord, source: Source, status: Status, cx: Context) -> Lead {
    let now = shared::time::rfc3339(cx.now_ms);
    let engagement = Engagement { submissions: 1, ..Engagement::default() };
    let score = score::score(&form.scoring, form.kind, &fields, &[], cx.now_ms);
    // What the form calls a lead decides the first stage; the score may take it on to MQL at once.
    let (stage, why) = shared::stage::first_stage(form.lead_definition.as_ref(), form.kind, form.mode, &fields, score.fit);
    let first = shared::stage::Change { from: None, to: stage, at: now.clone(), by: shared::stage::Mover::Rule.name(), reason: why };
    let mut lead = Lead {
        id: cx.id,
        form: form.id.clone(),
        kind: form.kind,
        status,
        created_at: now.clone(),
        updated_at: now,
        fields,
        consent,
        consent_history: Vec::new(),
        source,
        engagement,
        score,
        confirmation: None,
        repeats: Vec::new(),
        held: Vec::new(),
        mails_sent: Vec::new(),
        stage,
        history: vec![first],
        events: Vec::new(),
        earlier_events: BTreeMap::new(),
        owner: None,
        assignments: Vec::new(),
        first_touch: None,
        sla: None,
        downloads_folded: 0,
        form_version: form.version,
        variant: None,
    };
    lead.qualify(&form.scoring, cx.now_ms);
    lead
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::decoding::idempotency_key;
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
    fn campaign_tags_get_the_rules_of_a_text_field() {
        let form = &config().forms[0];
        let tagged = |utm: serde_json::Value| -> Submission {
            serde_json::from_value(serde_json::json!({
                "form": "newsletter", "fields": {"email": "ada@example.com"}, "consent": ["marketing_email"], "meta": {"utm": utm}
            }))
            .unwrap()
        };
        match accept(form, tagged(serde_json::json!({"source": "news\r\nBcc: all@evil.example", "medium": "mail\u{1b}[31m", "term": "ok"})), cx()) {
            Err(Error::Validation(e)) => assert_eq!(e, vec![("utm_medium".to_string(), Code::ControlCharacter), ("utm_source".to_string(), Code::LineBreak)]),
            other => panic!("{other:?}"),
        }
        match accept(form, tagged(serde_json::json!({"source": "x".repeat(shared::wire::UTM_VALUE_MAX + 1)})), cx()) {
            Err(Error::Validation(e)) => assert_eq!(e, vec![("utm_source".to_string(), Code::TooLong)]),
            other => panic!("{other:?}"),
        }
        // A field's problem and a tag's come back together, so one answer names everything to fix.
        let mut both = tagged(serde_json::json!({"source": "a\u{7}"}));
        both.fields.insert("email".into(), "a@".into());
        match accept(form, both, cx()) {
            Err(Error::Validation(e)) => assert_eq!(e, vec![("email".to_string(), Code::InvalidEmail), ("utm_source".to_string(), Code::ControlCharacter)]),
            other => panic!("{other:?}"),
        }
        assert!(matches!(accept(form, tagged(serde_json::json!({"Bad Name": "x"})), cx()), Err(Error::Malformed(m)) if m.contains("meta.utm")));
        let lead = accept(form, tagged(serde_json::json!({"source": "  fair  ", "campaign": " "})), cx()).unwrap();
        assert_eq!(lead.source.utm.get("source").map(String::as_str), Some("fair"), "trimmed like a field");
        assert!(!lead.source.utm.contains_key("campaign"), "an empty tag is not kept");
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
    fn address_hashes_ignore_case_and_hide_the_address() {
        let k = email_hash("Ada@Example.com");
        assert_eq!(k, email_hash("ada@example.com"));
        assert_ne!(k, email_hash("ada@example.org"));
        assert!(k.len() == 64 && !k.contains("example"));
        assert_eq!(idempotency_key(" 0f8a-11_Z ").unwrap(), "0f8a-11_Z");
        assert!(idempotency_key("a b").is_err());
        assert!(idempotency_key("").is_err());
        assert!(idempotency_key(&"x".repeat(129)).is_err());
    }
    /// A newsletter config with an optional company field and an optional second purpose.
    #[test]
    fn only_web_addresses_are_kept_as_page_and_referrer() {
        let sub: Submission = serde_json::from_value(serde_json::json!({
            "form": "newsletter", "fields": {"email": "ada@example.com"}, "consent": ["marketing_email"],
            "meta": {"page": "javascript:alert(document.cookie)", "referrer": "HTTPS://Search.Example/?q=x"}
        }))
        .unwrap();
        let lead = accept(&config().forms[0], sub, cx()).unwrap();
        assert_eq!(lead.source.page, None);
        assert_eq!(lead.consent.page, None);
        assert_eq!(lead.source.referrer.as_deref(), Some("HTTPS://Search.Example/?q=x"));
        assert_eq!(lead.source.dropped, vec!["page: not an http(s) URL"]);
        let mut dropped = Vec::new();
        for bad in ["data:text/html,x", "//evil.example", "http://", "https:///path", "http://a b", "ftp://x.example", "https://x\\y"] {
            assert_eq!(web_address("page", Some(bad.into()), &mut dropped), None, "{bad}");
        }
        assert_eq!(web_address("page", Some("http://x.example".into()), &mut dropped).as_deref(), Some("http://x.example"));
        assert_eq!(web_address("page", Some("  ".into()), &mut dropped), None);
        assert_eq!(dropped.len(), 7, "blank values are not noted");
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
