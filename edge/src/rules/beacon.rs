//! A page view's analytics report (`POST /v1/beacon`, sent by the widget with `navigator.sendBeacon`): its
//! parsing, and the counts it adds, checked against the form so that a report cannot add keys the form
//! does not have (fields, problem codes) or counts a page view cannot make.
//!
//! The body is the change in the page view's state since its last report (see `protocol::analytics`):
//! `{"form", "variant", "source", "campaign", "view", "start", "submit", "abandon": [from, to], "errors":
//! [[field, code number]]}`. It names no person and no device: no cookie, no identifier, nothing stored in the
//! browser.

use crate::Error;
use serde::{Deserialize, Serialize};
use shared::form::FormDef;
use shared::wire::{utm_value, UTM_VALUE_MAX};
use shared::Code;

/// The largest report taken.
pub const MAX_BODY: usize = 4096;

/// The most problems one report may count (a page view shows a few; more is not a person).
pub const MAX_ERRORS: usize = 50;

/// What is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The embed script was requested (counted by the collector, per form and day only: the script's
    /// request carries no campaign tags).
    Load,
    /// The form was at least half in view (once per page view).
    View,
    /// A visitor seen for the first time that day (forms that count unique visitors).
    Visitor,
    /// The first interaction with any control.
    Start,
    /// A problem shown under a field (`field`, `code`).
    Error,
    /// The page was left after a start without a submission (`field`: the last one touched).
    Abandon,
    /// The collector accepted the widget's submission.
    Submit,
    /// The collector accepted a submission of the plain HTML form (no script, so no views).
    Posted,
}

/// The key of a count: the day (UTC days since the epoch), the campaign tags, what is counted and, for
/// errors and abandons, the field (and the problem's code).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Key {
    /// Days since the Unix epoch (UTC) of the report's arrival.
    pub day: u64,
    /// `utm_source`; empty for none.
    pub source: String,
    /// `utm_campaign`; empty for none.
    pub campaign: String,
    /// What is counted.
    pub kind: Kind,
    /// The field of an error or an abandon; empty otherwise.
    pub field: String,
    /// The problem's number of an error (`shared::message::Code::number`; the report names it); empty
    /// otherwise.
    pub code: String,
    /// The variant of the form's texts the page view showed (forms under an A/B test); empty for none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub variant: String,
}

impl Key {
    /// A count of `kind` at `now` (Unix ms) from a page with these tags.
    pub fn new(now: u64, source: &str, campaign: &str, kind: Kind) -> Key {
        Key {
            day: now / 86_400_000,
            source: source.to_owned(),
            campaign: campaign.to_owned(),
            kind,
            field: String::new(),
            code: String::new(),
            variant: String::new(),
        }
    }

    /// The same count of a page view that showed `variant`.
    pub fn of(mut self, variant: &str) -> Key {
        variant.clone_into(&mut self.variant);
        self
    }

    /// The same count about `field` (and `code`).
    pub fn at(mut self, field: &str, code: &str) -> Key {
        field.clone_into(&mut self.field);
        code.clone_into(&mut self.code);
        self
    }
}

/// A report as it arrives.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Beacon {
    /// The form.
    pub form: String,
    /// The variant of the form's texts the page view showed.
    #[serde(default)]
    pub variant: Option<String>,
    /// The page's `utm_source`.
    #[serde(default)]
    pub source: Option<String>,
    /// The page's `utm_campaign`.
    #[serde(default)]
    pub campaign: Option<String>,
    /// The change in "the form was in view": 0 or 1.
    #[serde(default)]
    pub view: i8,
    /// The change in "a control was used": 0 or 1.
    #[serde(default)]
    pub start: i8,
    /// The change in "the collector accepted the submission": 0 or 1.
    #[serde(default)]
    pub submit: i8,
    /// The move of "left at this field": from the field the page view was last reported left at to the one
    /// it is left at now (`""`: none, not left or not any more).
    #[serde(default)]
    pub abandon: Option<(String, String)>,
    /// The problems shown since the last report: the field and the code's number (`Code::number`).
    #[serde(default)]
    pub errors: Vec<(String, u8)>,
}

/// Parses a report's body (JSON, whatever its content type says: `sendBeacon` sends text).
pub fn parse(body: &[u8]) -> Result<Beacon, Error> {
    serde_json::from_str(crate::rules::decoding::json_text(body, "The report is not valid")?)
        .map_err(|e| Error::Malformed(format!("The report is not valid: {e}.")))
}

/// A campaign tag as a count's key: checked and cut like the widget's (`shared::wire::utm_value`), and
/// empty when it fails (tags are not the visitor's to fix).
fn tag(value: Option<&str>) -> String {
    let value = value.unwrap_or_default();
    utm_value(shared::text::prefix(value, UTM_VALUE_MAX)).unwrap_or_default().to_owned()
}

/// Whether `name` is one of the form's controls: a field, or a consent box (`consent.<purpose>`).
fn control(form: &FormDef, name: &str) -> bool {
    match name.strip_prefix("consent.") {
        Some(purpose) => form.consents.iter().any(|p| p.id == purpose),
        None => form.fields.iter().any(|f| f.name == name),
    }
}

/// The counts a report adds at `now`, with its tags, or what is wrong with it (named by its member).
pub fn counts(beacon: &Beacon, form: &FormDef, now: u64) -> Result<Vec<(Key, i64)>, Error> {
    let (source, campaign) = (tag(beacon.source.as_deref()), tag(beacon.campaign.as_deref()));
    // A variant the form does not have (any more: a page open while a test ended) is counted as none, like
    // a tag that fails its rules: it is not the visitor's to fix, and the rest of the report still counts.
    let variant = beacon.variant.as_deref().filter(|v| form.variants.iter().any(|known| known.name == *v)).unwrap_or_default();
    let key = |kind: Kind| Key::new(now, &source, &campaign, kind).of(variant);
    let mut out = Vec::new();
    for (name, change, kind) in [("view", beacon.view, Kind::View), ("start", beacon.start, Kind::Start), ("submit", beacon.submit, Kind::Submit)] {
        if !(0..=1).contains(&change) {
            return Err(Error::Malformed(format!("`{name}` must be 0 or 1.")));
        }
        if change != 0 {
            out.push((key(kind), i64::from(change)));
        }
    }
    if let Some((from, to)) = beacon.abandon.as_ref().filter(|(from, to)| from != to) {
        for (i, field, change) in [(0, from, -1), (1, to, 1)] {
            if field.is_empty() {
                continue;
            }
            if !control(form, field) {
                return Err(Error::Malformed(format!("`abandon[{i}]`: the form has no field `{field}`.")));
            }
            out.push((key(Kind::Abandon).at(field, ""), change));
        }
    }
    if beacon.errors.len() > MAX_ERRORS {
        return Err(Error::Malformed(format!("`errors` has more than {MAX_ERRORS} problems.")));
    }
    for (i, (field, number)) in beacon.errors.iter().enumerate() {
        if !control(form, field) {
            return Err(Error::Malformed(format!("`errors[{i}]`: the form has no field `{field}`.")));
        }
        // Kept as its number (the report names it): naming codes here would link their serializer into
        // the collector's bundle for nothing.
        Code::numbered(*number).ok_or_else(|| Error::Malformed(format!("`errors[{i}]`: no problem is numbered {number}.")))?;
        out.push((key(Kind::Error).at(field, &number.to_string()), 1));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> FormDef {
        serde_json::from_str(
            r#"{"id":"nl","kind":"newsletter","fields":[{"name":"email","required":true},{"name":"first_name"}],
                "consents":[{"id":"marketing_email","required":true,"text":{"en":"News"}}]}"#,
        )
        .unwrap()
    }

    const NOW: u64 = 1_764_806_400_000 + 3_600_000;

    #[test]
    fn a_report_counts_its_changes_under_its_tags_and_day() {
        let b = parse(br#"{"form":"nl","source":" fair ","campaign":"x\ny","view":1,"start":1,"abandon":["","first_name"],"errors":[["email",2],["consent.marketing_email",14]]}"#).unwrap();
        let counts = counts(&b, &form(), NOW).unwrap();
        let day = NOW / 86_400_000;
        let kinds: Vec<(Kind, &str, &str, &str, i64)> =
            counts.iter().map(|(k, n)| (k.kind, k.source.as_str(), k.field.as_str(), k.code.as_str(), *n)).collect();
        assert_eq!(
            kinds,
            vec![
                (Kind::View, "fair", "", "", 1),
                (Kind::Start, "fair", "", "", 1),
                (Kind::Abandon, "fair", "first_name", "", 1),
                (Kind::Error, "fair", "email", "2", 1),
                (Kind::Error, "fair", "consent.marketing_email", "14", 1),
            ]
        );
        assert!(counts.iter().all(|(k, _)| k.day == day && k.campaign.is_empty()), "a campaign with a line break is dropped, not refused");
    }

    #[test]
    fn a_report_counts_under_its_variant_when_the_form_has_it() {
        let mut f = form();
        f.variants = serde_json::from_str(r#"[{"name":"a"},{"name":"b"}]"#).unwrap();
        let variants = |body: &str| -> Vec<String> { counts(&parse(body.as_bytes()).unwrap(), &f, NOW).unwrap().into_iter().map(|(k, _)| k.variant).collect() };
        assert_eq!(variants(r#"{"form":"nl","variant":"b","view":1,"errors":[["email",2]]}"#), ["b", "b"]);
        assert_eq!(variants(r#"{"form":"nl","variant":"gone","view":1}"#), [""], "an unknown variant counts as none");
        assert_eq!(variants(r#"{"form":"nl","view":1}"#), [""]);
    }

    #[test]
    fn a_report_cannot_add_what_a_page_view_cannot_make() {
        for (body, says) in [
            (r#"{"form":"nl","view":2}"#, "`view` must be 0 or 1"),
            (r#"{"form":"nl","submit":-1}"#, "`submit` must be 0 or 1"),
            (r#"{"form":"nl","abandon":["","password"]}"#, "`abandon[1]`: the form has no field `password`"),
            (r#"{"form":"nl","errors":[["email",99]]}"#, "`errors[0]`: no problem is numbered 99"),
            (r#"{"form":"nl","errors":[["consent.other",14]]}"#, "`errors[0]`: the form has no field `consent.other`"),
        ] {
            match counts(&parse(body.as_bytes()).unwrap(), &form(), NOW) {
                Err(Error::Malformed(m)) => assert!(m.contains(says), "{body}: {m}"),
                other => panic!("{body}: {other:?}"),
            }
        }
        let many = format!(r#"{{"form":"nl","errors":[{}]}}"#, vec![r#"["email",1]"#; MAX_ERRORS + 1].join(","));
        assert!(matches!(counts(&parse(many.as_bytes()).unwrap(), &form(), NOW), Err(Error::Malformed(_))));
        assert!(matches!(parse(br#"{"form":"nl","visitor":"c_1"}"#), Err(Error::Malformed(m)) if m.contains("unknown field")), "no identifier is taken");
        assert!(matches!(parse(b"not json"), Err(Error::Malformed(_))));
        assert!(matches!(parse(br#"{"form":"nl","abandon":["email"]}"#), Err(Error::Malformed(m)) if m.contains("invalid length 1")), "a move has two ends");
        let back = parse(br#"{"form":"nl","submit":1,"abandon":["email",""]}"#).unwrap();
        let changes: Vec<(Kind, String, i64)> = counts(&back, &form(), NOW).unwrap().into_iter().map(|(k, n)| (k.kind, k.field, n)).collect();
        assert_eq!(changes, vec![(Kind::Submit, String::new(), 1), (Kind::Abandon, "email".into(), -1)], "a submission takes the abandon back");
    }
}
