//! Wire types: the JSON the widget posts, the JSON the edge answers, and the error shape both show.
//!
//! These are contracts with website owners' integrations: fields are added, never renamed or removed.
//! Field values travel as strings (checkboxes as `"true"`/`"false"`, numbers in decimal), which keeps one
//! shape for JSON and for the no-JavaScript form post.

use alloc::{borrow::ToOwned, string::String, vec, vec::Vec};

use crate::validation::Errors;
use crate::{Code, Lang};
use alloc::collections::BTreeMap;
use serde::{Deserialize, Serialize};

/// `POST /v1/leads`: one form submission. Its envelope's limits are [`Submission::envelope_problems`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Submission {
    /// The form's id.
    pub form: String,
    /// Field values by field name, as typed.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// The ids of the consent purposes the visitor ticked.
    #[serde(default)]
    pub consent: Vec<String>,
    /// Where and how the form was filled in.
    #[serde(default)]
    pub meta: Meta,
}

/// Context of a submission, captured by the widget.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// The page URL the form was on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    /// The page's referrer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrer: Option<String>,
    /// `utm_source`, `utm_medium`, ... from the page URL, without the `utm_` prefix. At most 10, names as
    /// [`utm_name`] allows, values as [`utm_value`] checks them (the rules of a single-line text field, up
    /// to [`UTM_VALUE_MAX`] characters), so a lead event stays small and clean.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub utm: BTreeMap<String, String>,
    /// The language the form was shown in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<Lang>,
    /// The honeypot field's value: people leave it empty, bots fill it in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hp: Option<String>,
    /// Milliseconds between the form being shown and sent; bots are faster than people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elapsed_ms: Option<u64>,
    /// The published version of the form the page showed; the collector checks the submission against
    /// that version (none: the current one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// The variant of the form's texts the page showed (forms under an A/B test).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// The Cloudflare Turnstile token from the page, for forms that ask for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turnstile: Option<String>,
}

/// The longest UTM parameter name accepted, in characters.
pub const UTM_NAME_MAX: usize = 50;
/// The longest UTM parameter value accepted, in characters; the widget cuts longer ones to this.
pub const UTM_VALUE_MAX: usize = 200;

/// Whether `name` may name a campaign tag (without its `utm_` prefix): 1 to [`UTM_NAME_MAX`] lower-case
/// ASCII letters, digits, `_` or `-`. Names are written by whoever built the campaign's links, so a name
/// outside this set is a broken integration, refused as part of the envelope.
pub fn utm_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= UTM_NAME_MAX && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Checks a campaign tag's value and returns it trimmed: the rule of a single-line text field (no control
/// characters, no line breaks, at most [`UTM_VALUE_MAX`] characters). Tags are stored, exported to CSV and
/// sent to CRMs like fields, so `news\r\nBcc: ...` must not pass here where it would not pass in a field.
pub fn utm_value(value: &str) -> Result<&str, Code> {
    crate::text::single_line(value, UTM_VALUE_MAX)
}

/// A submission's campaign tags, each value checked by [`utm_value`] and trimmed; or every problem, each
/// under the tag's full parameter name (`utm_source`), which is what the person who built the link knows.
/// Tags whose value is empty after trimming are left out. The widget, the plain form and the API all pass
/// through here on the collector; the widget also drops a tag that fails it before sending.
pub fn utm_checked(utm: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>, Errors> {
    let mut kept = BTreeMap::new();
    let mut errors = Errors::new();
    for (name, value) in utm {
        match utm_value(value) {
            Ok("") => {}
            Ok(value) => {
                kept.insert(name.clone(), value.to_owned());
            }
            Err(code) => errors.push((["utm_", name.as_str()].concat(), code)),
        }
    }
    if errors.is_empty() {
        Ok(kept)
    } else {
        Err(errors)
    }
}

impl Submission {
    /// The envelope's parts that break their limits, by name (`meta.page`), in order of name: the form id
    /// of 1 to 64 characters, at most 60 fields and 20 purposes, the page, referrer and Turnstile token of
    /// at most 2,048 characters, at most 10 campaign tags named as [`utm_name`] allows, a honeypot of at
    /// most 512 and a variant of at most 64 characters. (Field and tag values have rules of their own.)
    ///
    /// Written out rather than derived with `validator`, whose errors are hash maps: the collector checks
    /// every submission here and links nothing else of it.
    pub fn envelope_problems(&self) -> Vec<&'static str> {
        let chars = |s: &str| s.chars().count();
        let over = |s: &Option<String>, max: usize| s.as_deref().is_some_and(|s| chars(s) > max);
        let meta = &self.meta;
        [
            ("consent", self.consent.len() > 20),
            ("fields", self.fields.len() > 60),
            ("form", self.form.is_empty() || chars(&self.form) > 64),
            ("meta.hp", over(&meta.hp, 512)),
            ("meta.page", over(&meta.page, 2048)),
            ("meta.referrer", over(&meta.referrer, 2048)),
            ("meta.turnstile", over(&meta.turnstile, 2048)),
            ("meta.utm", meta.utm.len() > 10 || !meta.utm.keys().all(|k| utm_name(k))),
            ("meta.variant", over(&meta.variant, 64)),
        ]
        .into_iter()
        .filter_map(|(name, broken)| broken.then_some(name))
        .collect()
    }
}

/// A submission as the widget assembles it, from borrowed parts, written straight to the JSON that
/// [`Submission`] reads.
///
/// The widget does not build a [`Submission`]: serializing one would bring a JSON serializer and the
/// B-tree map code into every page's download (about 20 KB of wasm). This writer is the other half of the
/// same contract, and the tests parse its output back into a [`Submission`].
#[derive(Clone, Debug, Default)]
pub struct Draft<'a> {
    /// The form's id.
    pub form: &'a str,
    /// `(field name, value as typed)`, each name once.
    pub fields: &'a [(&'a str, &'a str)],
    /// The ids of the ticked consent purposes.
    pub consent: &'a [&'a str],
    /// The page URL.
    pub page: Option<&'a str>,
    /// The page's referrer.
    pub referrer: Option<&'a str>,
    /// `(utm name without the prefix, value)`, each name once.
    pub utm: &'a [(&'a str, &'a str)],
    /// The language the form was shown in.
    pub lang: Option<Lang>,
    /// The honeypot's value, if anything was typed into it.
    pub hp: Option<&'a str>,
    /// Milliseconds from showing the form to sending it.
    pub elapsed_ms: u64,
    /// The Cloudflare Turnstile token found on the page, if any.
    pub turnstile: Option<&'a str>,
    /// The published version of the form the page showed (0: none, left out).
    pub version: u32,
    /// The variant of its texts the page showed, if it is under a test.
    pub variant: Option<&'a str>,
}

impl Draft<'_> {
    /// The JSON body for `POST /v1/leads`.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(256);
        out.push_str("{\"form\":");
        json_string(&mut out, self.form);
        out.push_str(",\"fields\":");
        json_object(&mut out, self.fields);
        out.push_str(",\"consent\":[");
        for (i, id) in self.consent.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            json_string(&mut out, id);
        }
        out.push_str("],\"meta\":{\"utm\":");
        json_object(&mut out, self.utm);
        let optional = [
            ("page", self.page),
            ("referrer", self.referrer),
            ("lang", self.lang.map(Lang::tag)),
            ("hp", self.hp),
            ("turnstile", self.turnstile),
            ("variant", self.variant),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                out.push_str(",\"");
                out.push_str(name);
                out.push_str("\":");
                json_string(&mut out, value);
            }
        }
        if self.version > 0 {
            out.push_str(",\"version\":");
            decimal(&mut out, u64::from(self.version));
        }
        out.push_str(",\"elapsed_ms\":");
        decimal(&mut out, self.elapsed_ms);
        out.push_str("}}");
        out
    }
}

/// Writes `s` as a JSON string: quotes, backslashes and control characters escaped, everything else as is
/// (JSON text is UTF-8).
fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c < ' ' => {
                out.push_str("\\u00");
                out.push(char::from(HEX[c as usize >> 4]));
                out.push(char::from(HEX[c as usize & 15]));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn json_object(out: &mut String, pairs: &[(&str, &str)]) {
    out.push('{');
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_string(out, k);
        out.push(':');
        json_string(out, v);
    }
    out.push('}');
}

/// Writes `n` in decimal without `core::fmt`, whose integer formatting the widget would otherwise carry.
pub fn decimal(out: &mut String, mut n: u64) {
    // Filled from the end by iterating, not indexing, so no panic (with its message) is linked.
    let mut digits = [0u8; 20];
    let mut len = 0;
    for slot in digits.iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
        len += 1;
        if n == 0 {
            break;
        }
    }
    for &d in digits.iter().skip(digits.len() - len) {
        out.push(char::from(d));
    }
}

/// `201 Created`: the lead is stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accepted {
    /// The lead's id.
    pub id: String,
    /// `new`, or `pending` while a double opt-in awaits confirmation.
    pub status: String,
    /// For download gates without double opt-in: the signed link to the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download_url: Option<String>,
    /// The consent receipt, signed by the collector; `GET /v1/consent/verify?receipt=` checks it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<String>,
}

/// Every 4xx (and the widget's own errors) in one shape: `{"error": {"code", "message", "fields"}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ApiError,
}

/// The error inside [`ErrorBody`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// A stable code.
    pub code: Code,
    /// A message for people, in the form's language.
    pub message: String,
    /// Per-field problems, keyed like the submission's fields (`consent.<purpose>` for consent boxes).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, Vec<FieldError>>,
}

/// One problem with one field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// A stable code.
    pub code: Code,
    /// A message for people.
    pub message: String,
}

impl ErrorBody {
    /// An error without field details, with the code's standard message.
    pub fn new(code: Code, lang: Lang) -> ErrorBody {
        ErrorBody::with_message(code, code.message(lang).to_owned())
    }

    /// An error with a specific message (e.g. naming what in a body is malformed).
    pub fn with_message(code: Code, message: String) -> ErrorBody {
        ErrorBody { error: ApiError { code, message, fields: BTreeMap::new() } }
    }

    /// A `validation_failed` error listing each field's problem.
    pub fn validation(errors: &Errors, lang: Lang) -> ErrorBody {
        let fields =
            crate::order::map(errors.iter().map(|(name, code)| (name.clone(), vec![FieldError { code: *code, message: code.message(lang).to_owned() }])));
        ErrorBody { error: ApiError { code: Code::ValidationFailed, message: Code::ValidationFailed.message(lang).to_owned(), fields } }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::prelude::rust_2021::*;
    use std::vec;

    #[test]
    fn the_envelope_limits_count_characters_and_entries_and_name_what_broke_them() {
        let ok = Submission { form: "ü".repeat(64), ..Submission::default() };
        assert_eq!(ok.envelope_problems(), Vec::<&str>::new());
        assert_eq!(Submission::default().envelope_problems(), vec!["form"], "a form id is required");
        let mut all = Submission { form: "f".repeat(65), ..Submission::default() };
        all.fields = (0..61).map(|i| (format!("f{i}"), String::new())).collect();
        all.consent = vec![String::new(); 21];
        let long = |n: usize| Some("ü".repeat(n));
        all.meta = Meta { page: long(2049), referrer: long(2049), turnstile: long(2049), hp: long(513), variant: long(65), ..Meta::default() };
        all.meta.utm.insert("Bad Name".into(), "x".into());
        assert_eq!(
            all.envelope_problems(),
            vec!["consent", "fields", "form", "meta.hp", "meta.page", "meta.referrer", "meta.turnstile", "meta.utm", "meta.variant"]
        );
        // At the limits, nothing.
        let mut edge = Submission { form: "f".into(), ..Submission::default() };
        edge.fields = (0..60).map(|i| (format!("f{i}"), String::new())).collect();
        edge.consent = vec![String::new(); 20];
        edge.meta = Meta { page: long(2048), referrer: long(2048), turnstile: long(2048), hp: long(512), variant: long(64), ..Meta::default() };
        edge.meta.utm = (0..10).map(|i| (format!("tag_{i}"), "x".to_owned())).collect();
        assert_eq!(edge.envelope_problems(), Vec::<&str>::new());
        edge.meta.utm.insert("eleventh".into(), "x".into());
        assert_eq!(edge.envelope_problems(), vec!["meta.utm"]);
    }

    #[test]
    fn the_error_shape_is_the_documented_one() {
        let errors: Errors = [("email".to_string(), Code::InvalidEmail)].into();
        let json = serde_json::to_value(ErrorBody::validation(&errors, Lang::En)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"error": {
                "code": "validation_failed",
                "message": "Please check the highlighted fields.",
                "fields": {"email": [{"code": "invalid_email", "message": "Please enter a valid email address, e.g. name@example.com."}]}
            }})
        );
    }

    #[test]
    fn a_minimal_submission_parses() {
        let s: Submission = serde_json::from_str(r#"{"form":"newsletter","fields":{"email":"a@b.de"}}"#).unwrap();
        assert_eq!(s.form, "newsletter");
        assert!(s.consent.is_empty() && s.meta == Meta::default());
    }

    #[test]
    fn a_draft_is_the_submission_it_describes() {
        let fields = [("email", "ada@example.com"), ("note", "Zeile 1\n\"Zitat\" \\ Tab\t\u{1} Ümlaut 😀")];
        let utm = [("source", "news&letter"), ("campaign", "q4")];
        let draft = Draft {
            form: "newsletter",
            fields: &fields,
            consent: &["marketing_email", "giveaway_rules"],
            page: Some("https://shop.example/?a=1&b=\"2\""),
            referrer: None,
            utm: &utm,
            lang: Some(Lang::De),
            hp: Some("bot"),
            elapsed_ms: 18_446_744_073_709_551_615,
            turnstile: Some("XXXX.DUMMY.TOKEN.XXXX"),
            version: 7,
            variant: Some("short"),
        };
        let parsed: Submission = serde_json::from_str(&draft.to_json()).unwrap();
        let owned = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>();
        assert_eq!(
            parsed,
            Submission {
                form: "newsletter".into(),
                fields: owned(&fields),
                consent: vec!["marketing_email".into(), "giveaway_rules".into()],
                meta: Meta {
                    page: Some("https://shop.example/?a=1&b=\"2\"".into()),
                    referrer: None,
                    utm: owned(&utm),
                    lang: Some(Lang::De),
                    hp: Some("bot".into()),
                    elapsed_ms: Some(u64::MAX),
                    turnstile: Some("XXXX.DUMMY.TOKEN.XXXX".into()),
                    version: Some(7),
                    variant: Some("short".into()),
                },
            }
        );
    }

    #[test]
    fn an_empty_draft_is_valid_json() {
        let parsed: Submission = serde_json::from_str(&Draft::default().to_json()).unwrap();
        assert_eq!(parsed.meta.elapsed_ms, Some(0));
        assert!(parsed.fields.is_empty() && parsed.consent.is_empty());
    }

    #[test]
    fn decimals_are_written_like_display() {
        for n in [0, 7, 10, 99, 100, 1_000_000, u64::MAX / 10, u64::MAX] {
            let mut out = String::new();
            decimal(&mut out, n);
            assert_eq!(out, n.to_string());
        }
    }

    proptest::proptest! {
        #[test]
        fn any_text_survives_the_round_trip(key in "\\PC{0,12}", value in "(?s).{0,40}", n in proptest::prelude::any::<u64>()) {
            let fields = [(key.as_str(), value.as_str())];
            let draft = Draft { form: &value, fields: &fields, hp: Some(&key), elapsed_ms: n, ..Draft::default() };
            let parsed: Submission = serde_json::from_str(&draft.to_json()).unwrap();
            proptest::prop_assert_eq!(&parsed.form, &value);
            proptest::prop_assert_eq!(parsed.fields.get(&key), Some(&value));
            proptest::prop_assert_eq!(parsed.meta.hp.as_deref(), Some(key.as_str()));
            proptest::prop_assert_eq!(parsed.meta.elapsed_ms, Some(n));
        }
    }
}
