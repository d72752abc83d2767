//! The form's mind: checks values with the `shared` rules, composes the submission and the texts the visitor
//! reads. The page-side view (`js/view.js`) asks it everything and decides nothing itself.
//!
//! Controls are numbered as the view finds them: the form's fields in order, then its consent boxes
//! (purposes resting on legitimate interest have no box: they are a notice).

use alloc::string::String;
use alloc::vec::Vec;
use shared::consent::{self, Basis};
use shared::form::FormKind;
use shared::html::escape_into;
use shared::message::{Said, Ui};
use shared::sheet::Sheet;
use shared::text;
use shared::wire::{utm_value, Draft, UTM_VALUE_MAX};
use shared::{Code, Lang};

/// The campaign tags the form sends, without their `utm_` prefix.
const UTM: [&str; 5] = ["source", "medium", "campaign", "term", "content"];

/// One mounted form's rules, language and submission in preparation.
pub struct Form {
    sheet: Sheet,
    lang: Lang,
    /// The consent purposes that have a box, as indices into `sheet.consents`. (Looked up with `get`, not
    /// indexing: a panicking index brings its message and location into the download.)
    boxes: Vec<usize>,
    /// The values of the submission in preparation, by control (`"true"`/`"false"` for boxes).
    values: Vec<String>,
    /// Its campaign tags.
    utm: Vec<(&'static str, String)>,
    /// The number of the problem the last [`Form::check`] found (`Code::number`; 0 for none), for the
    /// analytics report. Kept rather than asked for again: a second export that takes the value would cost
    /// the download more than this byte.
    shown: core::cell::Cell<u8>,
}

impl Form {
    /// The ids of the ticked purposes in the submission in preparation.
    fn ticked(&self) -> Vec<&str> {
        let fields = self.sheet.fields.len();
        let ticked = self.boxes.iter().enumerate().filter(|(b, _)| self.values.get(fields + b).is_some_and(|v| v == "true"));
        ticked.filter_map(|(_, &p)| Some(self.sheet.consents.get(p)?.id.as_str())).collect()
    }

    /// What is wrong with `value` in control `i`, if anything.
    fn problem(&self, i: usize, value: &str) -> Option<Code> {
        match self.sheet.fields.get(i) {
            Some(f) => f.check(value).err(),
            None => {
                let p = self.sheet.consents.get(*self.boxes.get(i - self.sheet.fields.len())?)?;
                (p.required && value != "true").then_some(Code::ConsentRequired)
            }
        }
    }

    /// What the form says in its language, from the texts its sheet carries.
    fn says(&self, said: Said) -> Option<&str> {
        self.sheet.text(self.lang, said)
    }

    /// The message of a problem. The sheet has the message of every problem the form's rules can find;
    /// should one be missing all the same, the visitor is still told to check the highlighted field.
    fn text(&self, code: Code) -> String {
        self.says(Said::Problem(code)).or_else(|| self.says(Said::Problem(Code::ValidationFailed))).unwrap_or_default().into()
    }
}

impl Form {
    /// The tag of the language the form speaks (`en`, `de`).
    pub fn lang(&self) -> &'static str {
        self.lang.tag()
    }

    /// The form of an encoded sheet, in its own language, else in `shown` (the tag of the language its markup
    /// is shown in: `de`, else English); nothing when the sheet is damaged. The entry chooses the markup
    /// before the rules arrive, by the page's `lang` attribute, as [`Lang::choose`] with
    /// [`Lang::from_tag`] would (the end-to-end tests hold it to that).
    pub fn open(sheet: &str, shown: Option<String>) -> Option<Form> {
        let sheet = Sheet::decode(sheet)?;
        let lang = Lang::choose(sheet.lang, Some(if shown.as_deref() == Some("de") { Lang::De } else { Lang::En }));
        let boxes = sheet.consents.iter().enumerate().filter(|(_, p)| p.basis != Basis::LegitimateInterest).map(|(i, _)| i).collect();
        Some(Form { sheet, lang, boxes, values: Vec::new(), utm: Vec::new(), shown: core::cell::Cell::new(0) })
    }

    /// What is wrong with `value` in control `i`, in the form's language; nothing when it is fine. Fields
    /// are checked by their rule, boxes by whether their purpose is required.
    pub fn check(&self, i: usize, value: &str) -> Option<String> {
        let problem = self.problem(i, value);
        self.shown.set(problem.map_or(0, Code::number));
        problem.map(|c| self.text(c))
    }

    /// The number of the problem the last [`Form::check`] found (`Code::number`), for the analytics report;
    /// 0 when it found none.
    pub fn shown(&self) -> u8 {
        self.shown.get()
    }

    /// Sets control `i`'s value for the next [`Form::submit`]; controls are set in order.
    pub fn set(&mut self, i: usize, value: String) {
        self.values.truncate(i);
        self.values.push(value);
    }

    /// Adds a campaign tag (`name` without `utm_`) to the next [`Form::submit`]. Unknown names and a
    /// name's later values are ignored; an overlong value is cut, and a value the collector would refuse
    /// (control characters, line breaks: `shared::wire::utm_value`) is left out, never a reason to refuse
    /// the submission: campaign tags are not the visitor's to fix.
    pub fn tag(&mut self, name: &str, value: &str) {
        if self.utm.iter().any(|(n, _)| *n == name) {
            return;
        }
        if let Some(name) = UTM.iter().find(|n| **n == name) {
            if let Ok(value) = utm_value(text::prefix(value, UTM_VALUE_MAX)) {
                self.utm.push((name, value.into()));
            }
        }
    }

    /// Checks the submission in preparation and returns its JSON body for `POST /v1/leads`, or nothing
    /// when it is invalid. What is wrong with each control is then what [`Form::check`] says of its value.
    ///
    /// The submission's rules are its controls' rules: each field's by `FieldDef::check`, each box's by
    /// whether its purpose is required. The collector's `validation::validate` applies the same and also
    /// refuses fields the form does not declare and purposes it does not offer, which a submission made
    /// from the controls cannot contain; the widget leaves that out, with its error list, to save bytes.
    pub fn submit(&mut self, page: Option<String>, referrer: Option<String>, hp: String, elapsed_ms: f64, turnstile: Option<String>) -> Option<String> {
        // Tags are given anew for every attempt.
        let tags = core::mem::take(&mut self.utm);
        let controls = self.sheet.fields.len() + self.boxes.len();
        if (0..controls).any(|i| self.problem(i, self.values.get(i).map_or("", String::as_str)).is_some()) {
            return None;
        }
        let fields: Vec<(&str, &str)> = self.sheet.fields.iter().zip(&self.values).map(|(f, v)| (f.name.as_str(), v.as_str())).collect();
        let ticked = self.ticked();
        let utm: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let body = Draft {
            form: &self.sheet.id,
            fields: &fields,
            consent: &ticked,
            page: page.as_deref(),
            referrer: referrer.as_deref(),
            utm: &utm,
            lang: Some(self.lang),
            hp: Some(hp.as_str()).filter(|v| !v.is_empty()),
            elapsed_ms: elapsed_ms.max(0.0) as u64,
            turnstile: turnstile.as_deref(),
            version: self.sheet.version,
            variant: self.sheet.variant.as_deref(),
        }
        .to_json();
        Some(body)
    }

    /// A status text: 0 while sending, 1 when the form has problems, 2 when the collector cannot be
    /// reached, 3 when it failed.
    pub fn say(&self, what: u8) -> String {
        match what {
            0 => self.says(Said::Ui(Ui::Sending)).unwrap_or_default().into(),
            1 => self.text(Code::ValidationFailed),
            2 => self.text(Code::Network),
            _ => self.text(Code::Internal),
        }
    }

    /// The thank-you message (HTML, escaped) for an accepted submission: the lead's `status` (`pending`
    /// while a confirmation mail is out) and, for download gates, the download link.
    pub fn thanks(&self, status: &str, download: Option<String>) -> String {
        let mut html = String::new();
        let mut say = |ui: Ui| {
            if !html.is_empty() {
                html.push(' ');
            }
            escape_into(&mut html, self.says(Said::Ui(ui)).unwrap_or_default());
        };
        match (self.sheet.kind, status) {
            // Only double opt-in forms have leads pending, and only their sheets carry this text.
            (_, "pending") if self.says(Said::Ui(Ui::CheckInbox)).is_some() => say(Ui::CheckInbox),
            (FormKind::Newsletter, _) => say(Ui::ThanksNewsletter),
            (FormKind::DownloadGate, _) if download.is_some() => say(Ui::ThanksDownload),
            (FormKind::DownloadGate, _) => say(Ui::ThanksReceived),
            (FormKind::Giveaway, _) => {
                say(Ui::ThanksGiveaway);
                if !self.ticked().iter().any(|p| *p != consent::GIVEAWAY_RULES) {
                    say(Ui::GiveawayNoMarketing);
                }
            }
        }
        if let Some(url) = download {
            html.push_str(" <a download href=\"");
            escape_into(&mut html, &url);
            html.push_str("\">");
            escape_into(&mut html, self.says(Said::Ui(Ui::DownloadLink)).unwrap_or_default());
            html.push_str("</a>");
        }
        html
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::form::{FormDef, PublicForm};
    use std::prelude::rust_2021::*;

    fn form(json: &str, shown: Option<&str>) -> Form {
        let def: FormDef = serde_json::from_str(json).unwrap();
        Form::open(&Sheet::encode(&PublicForm::from(&def)), shown.map(Into::into)).unwrap()
    }

    const GIVEAWAY: &str = r#"{"id":"gw","kind":"giveaway","fields":[{"name":"email","required":true},{"name":"decision_maker"}],
        "giveaway":{"starts_at":"2026-01-01","ends_at":"2026-12-24","rules_url":"/r"},
        "consents":[{"id":"giveaway_rules","required":true,"text":{"en":"Rules"}},
                    {"id":"b2b_info","basis":"legitimate_interest","text":{"en":"We inform you."}},
                    {"id":"marketing_email","text":{"en":"News"}}]}"#;

    #[test]
    fn controls_are_the_fields_then_the_boxes_without_notices() {
        let f = form(GIVEAWAY, None);
        assert_eq!(f.check(0, "nope").as_deref(), Some("Please enter a valid email address, e.g. name@example.com."));
        assert_eq!(f.check(1, "maybe").as_deref(), Some("Please tick or untick this box."));
        assert_eq!(f.check(2, "false").as_deref(), Some("Please accept this to continue."), "the rules' box; the notice has none");
        assert_eq!(f.check(3, "false"), None, "marketing is optional");
        assert_eq!(f.check(9, "x"), None, "no such control");
        assert_eq!(form(GIVEAWAY, Some("de")).check(2, "false").as_deref(), Some("Bitte stimmen Sie zu, um fortzufahren."), "shown in German");
        assert_eq!(form(GIVEAWAY, Some("fr")).check(2, "false").as_deref(), Some("Please accept this to continue."), "anything else is English");
    }

    #[test]
    fn the_analytics_code_numbers_the_problem_shown() {
        let f = form(GIVEAWAY, None);
        f.check(0, "nope");
        assert_eq!(Code::numbered(f.shown()), Some(Code::InvalidEmail));
        f.check(2, "false");
        assert_eq!(Code::numbered(f.shown()), Some(Code::ConsentRequired));
        f.check(0, "kim@example.com");
        assert_eq!(f.shown(), 0);
    }

    #[test]
    fn a_submission_is_checked_then_written_with_its_tags_once() {
        let mut f = form(GIVEAWAY, Some("en"));
        for (i, v) in ["kim@example.com", "false", "false", "false"].into_iter().enumerate() {
            f.set(i, v.into());
        }
        assert_eq!(f.submit(None, None, String::new(), 3000.0, None), None, "the rules are not accepted");
        f.set(2, "true".into());
        f.set(3, "false".into());
        f.tag("source", &"x".repeat(300));
        f.tag("source", "later");
        f.tag("nonsense", "y");
        f.tag("campaign", "news\r\nBcc: all@evil.example");
        f.tag("medium", "mail\u{1b}[31m");
        f.tag("term", "  spring sale ");
        let body = f.submit(Some("https://example.com/p".into()), None, String::new(), 3000.0, None).unwrap();
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["form"], "gw");
        assert_eq!(json["fields"]["email"], "kim@example.com");
        assert_eq!(json["consent"], serde_json::json!(["giveaway_rules"]));
        assert_eq!(json["meta"]["utm"]["source"].as_str().unwrap().len(), UTM_VALUE_MAX, "an overlong tag is cut");
        assert!(json["meta"]["utm"].get("nonsense").is_none());
        assert!(json["meta"]["utm"].get("campaign").is_none(), "a tag with a line break is left out: {json}");
        assert!(json["meta"]["utm"].get("medium").is_none(), "a tag with a control character is left out: {json}");
        assert_eq!(json["meta"]["utm"]["term"], "spring sale", "a tag is trimmed like a field");
        assert_eq!(json["meta"]["elapsed_ms"], 3000);
        let again: serde_json::Value = serde_json::from_str(&f.submit(None, None, String::new(), 4000.0, None).unwrap()).unwrap();
        assert!(again["meta"].get("utm").is_none_or(|u| u.as_object().is_some_and(|o| o.is_empty())), "tags are given per attempt: {again}");
    }

    #[test]
    fn a_variants_form_names_it_in_the_submission_and_thanks_in_its_words() {
        let def: FormDef = serde_json::from_str(
            r#"{"id":"nl","kind":"newsletter","fields":[{"name":"email","required":true}],
                "variants":[{"name":"plain"},{"name":"bold","thanks":{"en":"See you <Monday>."}}]}"#,
        )
        .unwrap();
        let public = PublicForm::from(&def);
        let mut bold = Form::open(&Sheet::encode_as(&public, public.variants.get(1)), Some("en".into())).unwrap();
        bold.set(0, "kim@example.com".into());
        let body: serde_json::Value = serde_json::from_str(&bold.submit(None, None, String::new(), 3000.0, None).unwrap()).unwrap();
        assert_eq!(body["meta"]["variant"], "bold");
        assert_eq!(bold.thanks("new", None), "See you &lt;Monday&gt;.");
        let plain = Form::open(&Sheet::encode_as(&public, public.variants.first()), Some("en".into())).unwrap();
        assert_eq!(plain.thanks("new", None), "Thank you! You are signed up.", "the control keeps the kind's");
        let mut none = form(r#"{"id":"nl","kind":"newsletter","fields":[{"name":"email","required":true}]}"#, None);
        none.set(0, "kim@example.com".into());
        let body: serde_json::Value = serde_json::from_str(&none.submit(None, None, String::new(), 3000.0, None).unwrap()).unwrap();
        assert!(body["meta"].get("variant").is_none(), "no test, no variant: {body}");
    }

    #[test]
    fn the_thanks_fit_the_kind_and_the_choices() {
        let mut f = form(GIVEAWAY, Some("en"));
        for (i, v) in ["kim@example.com", "false", "true", "false"].into_iter().enumerate() {
            f.set(i, v.into());
        }
        let html = f.thanks("new", None);
        assert!(html.contains("does not affect your chance to win"), "{html}");
        f.set(3, "true".into());
        assert!(!f.thanks("new", None).contains("does not affect"));
        assert!(!f.thanks("pending", None).contains("check your inbox"), "this form has no double opt-in");
        let doi = form(&GIVEAWAY.replacen("\"kind\"", "\"double_opt_in\":true,\"kind\"", 1), Some("en"));
        assert_eq!(doi.thanks("pending", None), "Almost done: please check your inbox and confirm your email address.");
        let gate = form(r#"{"id":"eb","kind":"download_gate","lang":"de","fields":[{"name":"email","required":true}]}"#, Some("en"));
        let html = gate.thanks("new", Some("https://c.example/v1/download/a\"b".into()));
        assert!(html.starts_with("Vielen Dank! Ihr Download ist bereit."), "{html}");
        assert!(html.ends_with(" <a download href=\"https://c.example/v1/download/a&quot;b\">Jetzt herunterladen</a>"), "{html}");
    }
}
