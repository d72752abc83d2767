//! Intake: from request bytes to a lead ready to store, as pure functions.
//!
//! The worker glue reads the body once (one JS-to-wasm crossing) and hands the bytes here together with
//! the clock, a fresh id and the pseudonymous client id. Nothing here trusts the widget: the envelope is
//! checked with the `validator` derive, the fields and consent with the same `shared` rules the widget ran.

use crate::Error;
use shared::consent::ConsentRecord;
use shared::form::{FormDef, FormsConfig};
use shared::lead::{Held, Lead, Repeat, Source, Status};
use shared::score::{self, Engagement};
use shared::validation;
use shared::wire::Submission;
use shared::Lang;
use std::collections::BTreeMap;
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
/// `_lang`, `_elapsed`, `cf-turnstile-response` (what Turnstile adds to a plain form), `utm_*` (campaign
/// tags); every other key is a field.
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
            // A plain form carries its campaign tags as hidden inputs named like the URL's parameters.
            _ if k.starts_with("utm_") => {
                if sub.meta.utm.insert(k.get(4..).unwrap_or_default().to_owned(), v).is_some() {
                    return Err(Error::Malformed("A campaign tag appears twice in the form data.".into()));
                }
            }
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
pub fn form_urlencode<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    pairs.iter().map(|(k, v)| [percent_encode(k.as_ref()), percent_encode(v.as_ref())].join("=")).collect::<Vec<_>>().join("&")
}

/// Percent-encodes everything but unreserved characters (RFC 3986), which is valid in a query and a form body.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One side of a form body's pair: unlike a query's (`address::pairs`), a broken escape or bytes that are
/// not UTF-8 refuse the whole body, since a visitor's own words would otherwise be stored altered.
fn percent_decode(s: &str) -> Result<String, Error> {
    let (bytes, broken) = crate::rules::address::unescape(s);
    if broken {
        return Err(Error::Malformed("The form data has a broken %-escape.".into()));
    }
    String::from_utf8(bytes).map_err(|_| Error::Malformed("The form data is not UTF-8.".into()))
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

/// An address as the ledger's email index knows it: SHA-256 of the lower-cased address (mailboxes are
/// matched case-insensitively in practice), so the index holds no personal data.
pub fn email_hash(email: &str) -> String {
    crate::rules::digest::sha256_hex(email.to_lowercase().as_bytes())
}

/// The ledger's key for a lead's address ([`email_hash`] of its `email` field).
pub fn address_of(lead: &Lead) -> String {
    email_hash(lead.fields.get("email").map_or("", String::as_str))
}

/// Checks an `Idempotency-Key` header: 1 to 128 characters of letters, digits, `-` and `_` (what UUIDs and
/// the widget's hex keys are). The ledger keeps the first answer per form and key.
pub fn idempotency_key(header: &str) -> Result<String, Error> {
    let key = header.trim();
    if key.is_empty() || key.len() > 128 || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(Error::Malformed("The Idempotency-Key header must be 1 to 128 letters, digits, '-' or '_'.".into()));
    }
    Ok(key.to_owned())
}

/// What a repeat submission did to its stored lead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepeatOutcome {
    /// The lead after the repeat (still to be written).
    pub lead: Lead,
    /// The repeat as recorded on the lead.
    pub record: Repeat,
    /// Whether the changes wait for the address owner's confirmation by mail (see [`Lead::held`]).
    pub held: bool,
    /// The hash of the change held ([`held_hash`]), which the mail's confirmation link names.
    pub change: Option<String>,
    /// The move to MQL the repeat's behaviour points made, if any.
    pub moved: Option<shared::stage::Change>,
}

impl RepeatOutcome {
    /// Whether the repeat filled a field or added a consent (applied or held).
    pub fn changes_anything(&self) -> bool {
        !self.record.filled.is_empty() || !self.record.consent_added.is_empty()
    }
}

/// Folds a repeat submission (`fresh`, built by [`accept`] from the same address on the same form) into the
/// stored lead by the rule that only the address owner may change what is stored:
/// - stored values are never overwritten: a new value only fills a field that is empty, and values that
///   differ are kept in the repeat's record for sales to see;
/// - a repeat can add a consent (its own record joins the lead's history) but never withdraws one: an
///   unticked box is not a withdrawal;
/// - with `hold` (a confirmed lead on a double opt-in form) the fills and the added consent wait in
///   [`Lead::held`] until the owner confirms them by mail.
///
/// The repeat counts as engagement either way: one more submission, and the repeat's behaviour points.
pub fn repeat(existing: &Lead, fresh: Lead, form: &FormDef, hold: bool) -> RepeatOutcome {
    let mut out = combine(existing, fresh, hold);
    out.lead.engagement.submissions = out.lead.engagement.submissions.saturating_add(1);
    let now = shared::time::parse(&out.record.at).unwrap_or(0);
    out.moved = out.lead.note(shared::score::REPEAT, &form.scoring, now);
    out
}

/// Folds an imported row of a known address (`fresh`, built from the row) into the stored lead by the
/// repeat rules, as the operator's act rather than the person's: it fills empty fields and may add a
/// consent the batch documents, but it is no behaviour (no submission counted, no points), and it never
/// grants again a purpose the person withdrew, whatever the batch says.
pub fn merge(existing: &Lead, mut fresh: Lead) -> RepeatOutcome {
    for entry in &mut fresh.consent.entries {
        if existing.withdrew(&entry.purpose) {
            entry.granted = false;
        }
    }
    combine(existing, fresh, false)
}

/// What a repeat and a merge share: fills, differing values, added consent (or all of it held), and the
/// record of it on the lead.
fn combine(existing: &Lead, fresh: Lead, hold: bool) -> RepeatOutcome {
    let mut lead = existing.clone();
    let mut fill = BTreeMap::new();
    let mut differing = BTreeMap::new();
    for (name, value) in fresh.fields {
        match existing.fields.get(&name) {
            Some(old) if !old.is_empty() && *old != value => {
                differing.insert(name, value);
            }
            Some(old) if !old.is_empty() => {}
            _ if value.is_empty() => {}
            _ => {
                fill.insert(name, value);
            }
        }
    }
    let consent_added: Vec<String> = fresh.consent.entries.iter().filter(|e| e.granted && !existing.grants(&e.purpose)).map(|e| e.purpose.clone()).collect();
    let record = Repeat {
        id: fresh.id,
        at: fresh.created_at.clone(),
        differing,
        filled: fill.keys().cloned().collect(),
        consent_added: consent_added.clone(),
        client_id: fresh.consent.client_id.clone(),
    };
    let consent = (!consent_added.is_empty()).then_some(fresh.consent);
    let held = hold && (!fill.is_empty() || consent.is_some());
    let mut change = None;
    if held {
        // Held beside what earlier repeats asked: each change is confirmed by its own link only. The same
        // change asked again is held once.
        let asked = Held { repeat: record.id.clone(), fill, consent };
        let hash = held_hash(&asked);
        if !lead.held.iter().any(|h| held_hash(h) == hash) {
            lead.held.push(asked);
            if lead.held.len() > shared::lead::MAX_HELD {
                lead.held.remove(0);
            }
        }
        change = Some(hash);
    } else {
        lead.fields.extend(fill);
        lead.consent_history.extend(consent);
    }
    lead.repeats.push(record.clone());
    if lead.repeats.len() > MAX_REPEATS {
        lead.repeats.remove(0);
    }
    lead.updated_at = fresh.created_at;
    RepeatOutcome { lead, record, held, change, moved: None }
}

/// What binds a confirmation link to one held change: SHA-256 (hex, the first 32 digits) of what it would
/// fill and the consent it would add. The repeat's own id is left out, so the same change asked twice
/// is one change.
pub fn held_hash(held: &Held) -> String {
    use sha2::{Digest, Sha256};
    let granted: Vec<(&str, u32, &str)> =
        held.consent.iter().flat_map(|r| r.entries.iter().filter(|e| e.granted).map(|e| (e.purpose.as_str(), e.version, e.text_sha256.as_str()))).collect();
    let canonical = serde_json::json!({"fill": held.fill, "consent": granted}).to_string();
    crate::rules::digest::hex(Sha256::digest(canonical.as_bytes()).get(..16).unwrap_or_default())
}

/// How many repeats a lead keeps on record; older ones give way, so a lead cannot be grown without bound
/// by someone who knows its address.
pub const MAX_REPEATS: usize = 50;

/// Applies the change held in [`Lead::held`] whose hash is `change`, now that the address owner confirmed
/// it with the link mailed for it: fields that are still empty are filled, the added consent joins the
/// history; other held changes stay as they are. Returns the repeat's id and what changed, or `None` when
/// no such change is held (applied before, or given way to newer ones).
pub fn apply_held(lead: &mut Lead, change: &str, now: &str, form: &FormDef) -> Option<(String, Vec<String>, Vec<String>)> {
    let at = lead.held.iter().position(|h| held_hash(h) == change)?;
    let held = lead.held.remove(at);
    let mut filled = Vec::new();
    for (name, value) in held.fill {
        if lead.fields.get(&name).is_none_or(String::is_empty) {
            filled.push(name.clone());
            lead.fields.insert(name, value);
        }
    }
    let mut added = Vec::new();
    if let Some(record) = held.consent {
        added = record.entries.iter().filter(|e| e.granted && !lead.grants(&e.purpose)).map(|e| e.purpose.clone()).collect();
        if !added.is_empty() {
            lead.consent_history.push(record);
        }
    }
    lead.updated_at = now.to_owned();
    // New fields can change the fit; the move to MQL this makes, if any, is in the lead's history.
    let _ = lead.qualify(&form.scoring, shared::time::parse(now).unwrap_or(0));
    Some((held.repeat, filled, added))
}

/// Whether another confirmation mail may go to this lead's address now, given when the earlier ones were
/// queued: not within `resend_after` of the last one, and at most `resends_per_day` re-sends (after the
/// first mail) in 24 hours. Keeps the collector from being used to flood an inbox.
pub fn may_mail(sent: &[u64], now_ms: u64, mail: &shared::form::MailConfig) -> bool {
    let recent = sent.iter().filter(|&&t| now_ms.saturating_sub(t) < DAY_MS).count();
    let last = sent.iter().copied().max();
    let spaced = last.is_none_or(|t| now_ms.saturating_sub(t) >= mail.resend_after_ms());
    spaced && recent <= mail.resends_per_day()
}

const DAY_MS: u64 = 86_400_000;

/// Records a queued mail, keeping only the last day's times.
pub fn note_mail(sent: &mut Vec<u64>, now_ms: u64) {
    sent.retain(|&t| now_ms.saturating_sub(t) < DAY_MS);
    sent.push(now_ms);
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
    sub.validate().map_err(|e| Error::Malformed(format!("Envelope limits exceeded: {}.", envelope_problem(&e))))?;
    check_open(form, cx.now_ms)?;
    let lang = Lang::choose(form.lang, sub.meta.lang);
    let values: Vec<(&str, &str)> = sub.fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    // Campaign tags get the rules of a text field; their problems are listed with the fields' ones.
    let (valid, utm) = match (validation::validate(&form.fields, &form.consents, &values, &sub.consent), shared::wire::utm_checked(&sub.meta.utm)) {
        (Ok(valid), Ok(utm)) => (valid, utm),
        (fields, utm) => return Err(Error::Validation(fields.err().unwrap_or_default().into_iter().chain(utm.err().unwrap_or_default()).collect())),
    };
    let fields: BTreeMap<String, String> = valid.fields.into_iter().collect();
    let now = shared::time::rfc3339(cx.now_ms);
    let mut dropped = Vec::new();
    let page = web_address("page", sub.meta.page, &mut dropped);
    let referrer = web_address("referrer", sub.meta.referrer, &mut dropped);
    let consent = ConsentRecord::new(&form.consents, &valid.consent, lang, now.clone(), page.clone(), cx.client_id.clone());
    let status = if form.double_opt_in { Status::Pending } else { Status::New };
    Ok(build(form, fields, consent, Source { page, referrer, utm, dropped, import: None }, status, cx))
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
        downloads_folded: 0,
    };
    lead.qualify(&form.scoring, cx.now_ms);
    lead
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
        assert!(matches!(parse(Encoding::Form, b"email=%zz@example.com"), Err(Error::Malformed(_))));
        assert!(matches!(parse(Encoding::Form, b"email=%ff@example.com"), Err(Error::Malformed(_))));
        assert!(matches!(parse(Encoding::Form, b"email=a&email=b"), Err(Error::Malformed(_))));
        let tagged = parse(Encoding::Form, b"form=newsletter&email=a%40b.de&utm_source=fair&utm_campaign=spring").unwrap();
        assert_eq!(tagged.meta.utm.get("source").map(String::as_str), Some("fair"));
        assert_eq!(tagged.meta.utm.get("campaign").map(String::as_str), Some("spring"));
        assert!(!tagged.fields.contains_key("utm_source"), "a tag is not a field");
        assert!(matches!(parse(Encoding::Form, b"utm_source=a&utm_source=b"), Err(Error::Malformed(_))));
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
    fn repeat_config() -> FormsConfig {
        serde_json::from_value(serde_json::json!({"forms": [{
            "id": "newsletter", "kind": "newsletter",
            "fields": [{"name": "email", "required": true}, {"name": "first_name"}, {"name": "company"}],
            "consents": [{"id": "marketing_email", "text": {"en": "Send me the newsletter."}},
                         {"id": "partner_offers", "text": {"en": "Partner offers."}}],
        }]}))
        .unwrap()
    }

    fn submission(id: &str, at: u64, fields: serde_json::Value, consent: &[&str]) -> Lead {
        let sub: Submission = serde_json::from_value(serde_json::json!({"form": "newsletter", "fields": fields, "consent": consent})).unwrap();
        accept(&repeat_config().forms[0], sub, Context { now_ms: at, id: id.into(), client_id: Some(format!("c-{id}")) }).unwrap()
    }

    #[test]
    fn a_repeat_never_overwrites_and_never_withdraws() {
        let form = &repeat_config().forms[0];
        let first = submission("ld_1", 1_000, serde_json::json!({"email": "ada@example.com", "company": "Victim GmbH"}), &["marketing_email"]);
        let evil = submission("ld_2", 2_000, serde_json::json!({"email": "ada@example.com", "company": "Evil Corp", "first_name": "Ada"}), &[]);
        let out = repeat(&first, evil, form, false);
        assert_eq!(out.lead.id, "ld_1");
        assert_eq!(out.lead.fields["company"], "Victim GmbH", "a stored value is never replaced");
        assert_eq!(out.lead.fields["first_name"], "Ada", "an empty field is filled");
        assert_eq!(out.record.differing["company"], "Evil Corp", "the differing value is kept for sales");
        assert_eq!(out.record.filled, vec!["first_name"]);
        assert!(out.lead.grants("marketing_email"), "an unticked box is not a withdrawal");
        assert_eq!(out.lead.consent, first.consent, "the stored record stays current");
        assert!(out.record.consent_added.is_empty() && out.lead.consent_history.is_empty());
        assert_eq!(out.lead.engagement.submissions, 2);
        assert_eq!(out.lead.created_at, first.created_at);
        assert_eq!(out.lead.updated_at, "1970-01-01T00:00:02.000Z");
        assert_eq!(out.lead.repeats, vec![out.record.clone()]);
        assert_eq!(out.record.id, "ld_2");
        assert_eq!(out.record.client_id.as_deref(), Some("c-ld_2"));
        assert!(!out.held && out.changes_anything());
    }

    #[test]
    fn a_repeat_adds_a_consent_with_its_own_record() {
        let form = &repeat_config().forms[0];
        let first = submission("ld_1", 1_000, serde_json::json!({"email": "ada@example.com"}), &["marketing_email"]);
        let more = submission("ld_2", 2_000, serde_json::json!({"email": "ada@example.com"}), &["partner_offers"]);
        let out = repeat(&first, more.clone(), form, false);
        assert_eq!(out.record.consent_added, vec!["partner_offers"]);
        assert_eq!(out.lead.consent_history, vec![more.consent]);
        assert!(out.lead.grants("marketing_email") && out.lead.grants("partner_offers"));
        let same = submission("ld_3", 3_000, serde_json::json!({"email": "ada@example.com"}), &["marketing_email"]);
        let again = repeat(&out.lead, same, form, false);
        assert!(!again.changes_anything(), "granting what is granted changes nothing");
        assert_eq!(again.lead.consent_history.len(), 1);
    }

    #[test]
    fn changes_to_a_confirmed_lead_wait_for_the_owner() {
        let form = &repeat_config().forms[0];
        let mut first = submission("ld_1", 1_000, serde_json::json!({"email": "ada@example.com"}), &[]);
        first.status = Status::Confirmed;
        let change = submission("ld_2", 2_000, serde_json::json!({"email": "ada@example.com", "company": "Evil Corp"}), &["partner_offers"]);
        let out = repeat(&first, change, form, true);
        assert!(out.held);
        assert!(!out.lead.fields.contains_key("company") && !out.lead.grants("partner_offers"), "nothing applied yet");
        let hash = out.change.clone().unwrap();
        // A later repeat holds its own change beside it; the first link still confirms exactly the first.
        let other = submission("ld_4", 2_500, serde_json::json!({"email": "ada@example.com", "company": "Other Corp", "first_name": "Eve"}), &[]);
        let later = repeat(&out.lead, other, form, true);
        assert_eq!(later.lead.held.len(), 2);
        assert_ne!(later.change.as_deref(), Some(hash.as_str()));
        let mut lead = later.lead;
        let (repeat_id, filled, added) = apply_held(&mut lead, &hash, "now", form).unwrap();
        assert_eq!((repeat_id.as_str(), filled, added), ("ld_2", vec!["company".to_string()], vec!["partner_offers".to_string()]));
        assert_eq!(lead.fields["company"], "Evil Corp");
        assert!(!lead.fields.contains_key("first_name"), "nothing of the later change");
        assert!(lead.grants("partner_offers") && lead.held.len() == 1);
        assert_eq!(apply_held(&mut lead, &hash, "now", form), None, "a second click applies nothing");
        assert_eq!(apply_held(&mut lead, "0000", "now", form), None, "a hash of nothing held applies nothing");
        let nothing = submission("ld_3", 3_000, serde_json::json!({"email": "ada@example.com"}), &[]);
        assert!(!repeat(&lead, nothing, form, true).held, "a repeat that changes nothing holds nothing");
    }

    #[test]
    fn repeats_on_record_are_bounded() {
        let form = &repeat_config().forms[0];
        let mut lead = submission("ld_0", 0, serde_json::json!({"email": "ada@example.com"}), &[]);
        for i in 1..=(MAX_REPEATS as u64 + 5) {
            lead = repeat(&lead, submission(&format!("ld_{i}"), i, serde_json::json!({"email": "ada@example.com"}), &[]), form, false).lead;
        }
        assert_eq!(lead.repeats.len(), MAX_REPEATS);
        assert_eq!(lead.repeats[0].id, "ld_6", "the oldest give way");
    }

    #[test]
    fn confirmation_mails_are_spaced_and_counted_per_day() {
        let mail: shared::form::MailConfig = serde_json::from_value(serde_json::json!({"url": "https://mail.example/", "from": "a <a@b.de>"})).unwrap();
        let min = 60_000;
        let mut sent = Vec::new();
        assert!(may_mail(&sent, 0, &mail));
        note_mail(&mut sent, 0);
        assert!(!may_mail(&sent, 9 * min, &mail), "not within 10 minutes");
        let mut mails = 1;
        for t in (10..24 * 60).step_by(10) {
            if may_mail(&sent, t * min, &mail) {
                note_mail(&mut sent, t * min);
                mails += 1;
            }
        }
        assert_eq!(mails, 4, "the first mail and 3 re-sends a day");
        assert!(!may_mail(&sent, 24 * 60 * min - 1, &mail), "still the same day for the first mail");
        assert!(may_mail(&sent, 48 * 60 * min, &mail), "a new day brings new re-sends");
    }

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
