//! Form fields: the lead model's standard fields from the seeds, custom fields, and the rule each one obeys.
//!
//! A form declares its fields by name. Standard names (`email`, `first_name`, `company`, ...) come with a
//! type, bilingual label, autocomplete hint and length cap, so a config line `{ name = "phone" }` is enough;
//! custom fields (`budget`, `team_size`, ...) declare their type and label. [`FieldDef::check`] is the one rule
//! both the widget and the edge apply to a value.

use alloc::{borrow::ToOwned, string::String, vec::Vec};

use crate::lang::{Lang, Texts};
use crate::{email, phone, text, Code};
use serde::{Deserialize, Serialize};

/// How a field is entered and checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// One line of text.
    Text,
    /// An email address ([`crate::email`]).
    Email,
    /// A phone number ([`crate::phone`]).
    Phone,
    /// Several lines of text.
    Textarea,
    /// A web address.
    Url,
    /// One of the field's `options`.
    Select,
    /// A yes/no tick box; the value is `"true"` or `"false"`.
    Checkbox,
    /// A number, optionally within `min`..=`max`.
    Number,
}

impl FieldType {
    /// Every type, in the order the sheet numbers them (`sheet::TYPES`).
    pub const ALL: [FieldType; 8] =
        [FieldType::Text, FieldType::Email, FieldType::Phone, FieldType::Textarea, FieldType::Url, FieldType::Select, FieldType::Checkbox, FieldType::Number];

    /// Every code [`FieldDef::check`] can give a field of this type, so the sheet carries their messages
    /// and no others. A property test holds `check` to this list.
    pub fn problems(self) -> &'static [Code] {
        match self {
            FieldType::Text => &[Code::Required, Code::LineBreak, Code::ControlCharacter, Code::TooLong],
            FieldType::Email => &[Code::Required, Code::InvalidEmail, Code::TooLong, Code::EmailDomainIncomplete],
            FieldType::Phone => {
                &[Code::Required, Code::LineBreak, Code::ControlCharacter, Code::TooLong, Code::InvalidPhone, Code::PhoneTooShort, Code::PhoneTooLong]
            }
            FieldType::Textarea => &[Code::Required, Code::ControlCharacter, Code::TooLong],
            FieldType::Url => &[Code::Required, Code::LineBreak, Code::ControlCharacter, Code::TooLong, Code::InvalidUrl],
            FieldType::Select => &[Code::Required, Code::InvalidChoice],
            FieldType::Checkbox => &[Code::Required, Code::InvalidCheckbox],
            FieldType::Number => &[Code::Required, Code::LineBreak, Code::ControlCharacter, Code::TooLong, Code::InvalidNumber],
        }
    }
}

/// One option of a select field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    /// The value stored and sent to the CRM (stable, not translated).
    pub value: String,
    /// What the visitor sees.
    pub label: Texts,
}

/// A field as the form's config declares it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(validator::Validate))]
#[serde(deny_unknown_fields)]
pub struct FieldDef {
    /// The field's key in submissions, leads and webhooks: a standard name or a custom `snake_case` name.
    #[cfg_attr(feature = "server", validate(length(min = 1, max = 64)))]
    pub name: String,
    /// The type; standard fields have one already, custom fields must say.
    #[serde(rename = "type", default)]
    pub ty: Option<FieldType>,
    /// Whether the visitor must fill it in.
    #[serde(default)]
    pub required: bool,
    /// The label; standard fields have one already.
    #[serde(default)]
    pub label: Option<Texts>,
    /// A hint under the label (what the field is for, what form the answer takes), which assistive
    /// technology reads with the control.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<Texts>,
    /// The options of a select field.
    #[serde(default)]
    #[cfg_attr(feature = "server", validate(length(max = 100)))]
    pub options: Vec<Choice>,
    /// The smallest allowed number (number fields).
    #[serde(default)]
    pub min: Option<f64>,
    /// The largest allowed number (number fields).
    #[serde(default)]
    pub max: Option<f64>,
    /// A tighter length cap than the type's default, in characters.
    #[serde(default)]
    pub max_length: Option<u32>,
}

/// What the rules know about a standard field.
#[derive(Debug)]
pub struct Standard {
    /// The field's name.
    pub name: &'static str,
    /// Its type.
    pub ty: FieldType,
    /// Default length cap in characters.
    pub max_chars: u32,
}

/// The seed articles' lead fields: name, email, phone, postal address, company, role, decision-maker, website, message.
pub const STANDARD: &[Standard] = &[
    Standard { name: "email", ty: FieldType::Email, max_chars: 254 },
    Standard { name: "first_name", ty: FieldType::Text, max_chars: 100 },
    Standard { name: "last_name", ty: FieldType::Text, max_chars: 100 },
    Standard { name: "phone", ty: FieldType::Phone, max_chars: 40 },
    Standard { name: "street", ty: FieldType::Text, max_chars: 200 },
    Standard { name: "postal_code", ty: FieldType::Text, max_chars: 16 },
    Standard { name: "city", ty: FieldType::Text, max_chars: 100 },
    Standard { name: "country", ty: FieldType::Text, max_chars: 100 },
    Standard { name: "company", ty: FieldType::Text, max_chars: 200 },
    Standard { name: "job_title", ty: FieldType::Text, max_chars: 100 },
    Standard { name: "decision_maker", ty: FieldType::Checkbox, max_chars: 5 },
    Standard { name: "website", ty: FieldType::Url, max_chars: 200 },
    Standard { name: "message", ty: FieldType::Textarea, max_chars: 2000 },
];

/// How a standard field is shown. Apart from [`STANDARD`] because only the markup, which the collector
/// writes, needs it: the widget checks fields but never shows a label, so these texts stay out of it.
#[derive(Debug)]
pub struct Shown {
    /// The field's name.
    pub name: &'static str,
    /// English label.
    pub en: &'static str,
    /// German label.
    pub de: &'static str,
    /// The HTML `autocomplete` token, so browsers can fill it in.
    pub autocomplete: &'static str,
}

/// Labels and autocomplete tokens of the [`STANDARD`] fields.
pub const SHOWN: &[Shown] = &[
    Shown { name: "email", en: "Email", de: "E-Mail", autocomplete: "email" },
    Shown { name: "first_name", en: "First name", de: "Vorname", autocomplete: "given-name" },
    Shown { name: "last_name", en: "Last name", de: "Nachname", autocomplete: "family-name" },
    Shown { name: "phone", en: "Phone", de: "Telefon", autocomplete: "tel" },
    Shown { name: "street", en: "Street and number", de: "Straße und Hausnummer", autocomplete: "street-address" },
    Shown { name: "postal_code", en: "Postal code", de: "Postleitzahl", autocomplete: "postal-code" },
    Shown { name: "city", en: "City", de: "Ort", autocomplete: "address-level2" },
    Shown { name: "country", en: "Country", de: "Land", autocomplete: "country-name" },
    Shown { name: "company", en: "Company", de: "Unternehmen", autocomplete: "organization" },
    Shown { name: "job_title", en: "Job title", de: "Position", autocomplete: "organization-title" },
    Shown {
        name: "decision_maker",
        en: "I make or share purchasing decisions",
        de: "Ich treffe Kaufentscheidungen oder bin daran beteiligt",
        autocomplete: "off",
    },
    Shown { name: "website", en: "Website", de: "Website", autocomplete: "url" },
    Shown { name: "message", en: "Message", de: "Nachricht", autocomplete: "off" },
];

/// Default length caps for custom fields, by type.
const CUSTOM_TEXT_MAX: u32 = 200;
const CUSTOM_TEXTAREA_MAX: u32 = 2000;

impl FieldDef {
    /// The standard field of this name, if it is one.
    pub fn standard(&self) -> Option<&'static Standard> {
        STANDARD.iter().find(|s| s.name == self.name)
    }

    /// How the standard field of this name is shown, if it is one.
    fn shown(&self) -> Option<&'static Shown> {
        SHOWN.iter().find(|s| s.name == self.name)
    }

    /// The field's type: declared, else the standard one, else one line of text.
    pub fn kind(&self) -> FieldType {
        self.ty.or(self.standard().map(|s| s.ty)).unwrap_or(FieldType::Text)
    }

    /// The label in `lang`: the config's own, else the standard one, else the name.
    pub fn label(&self, lang: Lang) -> &str {
        match (&self.label, self.shown()) {
            (Some(texts), _) if !texts.is_empty() => texts.get(lang),
            (_, Some(s)) => match lang {
                Lang::En => s.en,
                Lang::De => s.de,
            },
            _ => &self.name,
        }
    }

    /// The HTML `autocomplete` token.
    pub fn autocomplete(&self) -> &'static str {
        self.shown().map_or("off", |s| s.autocomplete)
    }

    /// The length cap in characters.
    pub fn max_chars(&self) -> usize {
        let default = self.standard().map_or(if self.kind() == FieldType::Textarea { CUSTOM_TEXTAREA_MAX } else { CUSTOM_TEXT_MAX }, |s| s.max_chars);
        self.max_length.map_or(default, |m| m.min(default)) as usize
    }

    /// Applies the field's rule to a raw value. `Ok(None)` is an empty optional field; `Ok(Some(v))` is the
    /// cleaned value to store (trimmed, normalised); `Err(code)` says why it was rejected.
    pub fn check(&self, raw: &str) -> Result<Option<String>, Code> {
        let kind = self.kind();
        // A tick box is never blank: unticked is a value, judged with the others below.
        let blank = match kind {
            FieldType::Checkbox => false,
            FieldType::Email => email::sanitize(raw).is_empty(),
            _ => raw.trim().is_empty(),
        };
        if blank {
            return if self.required { Err(Code::Required) } else { Ok(None) };
        }
        let max = self.max_chars();
        let value = match kind {
            FieldType::Email => email::normalize(raw)?.into_owned(),
            FieldType::Phone => {
                text::single_line(raw, max)?;
                phone::normalize(raw)?
            }
            FieldType::Text => text::single_line(raw, max)?.to_owned(),
            FieldType::Textarea => text::multi_line(raw, max)?.to_owned(),
            FieldType::Url => text::web_address(raw, max)?,
            FieldType::Select => {
                let value = raw.trim();
                if !self.options.iter().any(|o| o.value == value) {
                    return Err(Code::InvalidChoice);
                }
                value.to_owned()
            }
            FieldType::Number => {
                let value = text::single_line(raw, 32)?;
                // German visitors type decimal commas ("2,5"); store the dot form.
                let n = text::decimal(value).ok_or(Code::InvalidNumber)?;
                let in_range = n.is_finite() && self.min.is_none_or(|m| n >= m) && self.max.is_none_or(|m| n <= m);
                if !in_range {
                    return Err(Code::InvalidNumber);
                }
                value.replace(',', ".")
            }
            FieldType::Checkbox => {
                return match raw.trim() {
                    "true" | "on" | "1" | "yes" => Ok(Some("true".into())),
                    "" | "false" | "0" | "no" if self.required => Err(Code::Required),
                    "" | "false" | "0" | "no" => Ok(Some("false".into())),
                    _ => Err(Code::InvalidCheckbox),
                };
            }
        };
        Ok(Some(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::prelude::rust_2021::*;
    use std::vec;

    fn field(name: &str) -> FieldDef {
        FieldDef { name: name.into(), ty: None, required: false, label: None, help: None, options: vec![], min: None, max: None, max_length: None }
    }

    #[test]
    fn every_standard_field_is_shown_and_only_those() {
        let rules: Vec<&str> = STANDARD.iter().map(|s| s.name).collect();
        let shown: Vec<&str> = SHOWN.iter().map(|s| s.name).collect();
        assert_eq!(rules, shown);
    }

    #[test]
    fn standard_fields_know_their_type_label_and_cap() {
        let f = field("company");
        assert_eq!(f.kind(), FieldType::Text);
        assert_eq!(f.label(Lang::De), "Unternehmen");
        assert_eq!(f.autocomplete(), "organization");
        assert_eq!(f.max_chars(), 200);
        let custom = FieldDef { ty: Some(FieldType::Textarea), ..field("notes") };
        assert_eq!(custom.label(Lang::En), "notes");
        assert_eq!(custom.max_chars(), 2000);
        let tighter = FieldDef { max_length: Some(20), ..field("company") };
        assert_eq!(tighter.max_chars(), 20);
        let looser = FieldDef { max_length: Some(5000), ..field("company") };
        assert_eq!(looser.max_chars(), 200, "a config cannot lift the standard cap");
    }

    #[test]
    fn empty_values_depend_on_required() {
        assert_eq!(field("first_name").check("   "), Ok(None));
        let required = FieldDef { required: true, ..field("first_name") };
        assert_eq!(required.check("   "), Err(Code::Required));
        assert_eq!(FieldDef { required: true, ..field("email") }.check(" \n "), Err(Code::Required));
    }

    #[test]
    fn each_type_cleans_its_value() {
        assert_eq!(field("email").check(" a@b.de ").unwrap().as_deref(), Some("a@b.de"));
        assert_eq!(field("phone").check("0171 / 2345678").unwrap().as_deref(), Some("01712345678"));
        assert_eq!(field("phone").check("0171\n2345678"), Err(Code::LineBreak));
        assert_eq!(field("website").check("example.com").unwrap().as_deref(), Some("https://example.com"));
        assert_eq!(field("decision_maker").check("on").unwrap().as_deref(), Some("true"));
        assert_eq!(field("decision_maker").check("").unwrap().as_deref(), Some("false"));
        assert_eq!(field("decision_maker").check("maybe"), Err(Code::InvalidCheckbox));
        let select = FieldDef { ty: Some(FieldType::Select), options: vec![Choice { value: "q1".into(), label: Texts::default() }], ..field("timeframe") };
        assert_eq!(select.check("q1").unwrap().as_deref(), Some("q1"));
        assert_eq!(select.check("q9"), Err(Code::InvalidChoice));
        let number = FieldDef { ty: Some(FieldType::Number), min: Some(1.0), max: Some(10.0), ..field("seats") };
        assert_eq!(number.check("2,5").unwrap().as_deref(), Some("2.5"));
        assert_eq!(number.check("11"), Err(Code::InvalidNumber));
        assert_eq!(number.check("NaN"), Err(Code::InvalidNumber));
        assert_eq!(number.check("ten"), Err(Code::InvalidNumber));
        assert_eq!(number.check("1e1"), Err(Code::InvalidNumber), "no exponents");
        assert_eq!(number.check("-0,5").map(|_| ()), Err(Code::InvalidNumber), "below the minimum");
        assert_eq!(number.check(" +10 ").unwrap().as_deref(), Some("+10"));
    }

    proptest::proptest! {
        /// Whatever a visitor types, a field's problem is one its type lists, so the sheet has its message.
        #[test]
        fn every_problem_is_one_its_type_lists(
            ty in proptest::sample::select(FieldType::ALL.to_vec()),
            required in proptest::bool::ANY,
            max_length in proptest::option::of(0u32..40),
            value in proptest::prop_oneof![".{0,60}", "[ \t\r\n\x00-\x1f\u{2028}a-z0-9@.,:/+()-]{0,30}", "[a-z.]{0,8}@[a-z.-]{0,12}", "(https?://)?[a-z.-]{0,12}(:[0-9]{0,3})?/?"],
        ) {
            let def = FieldDef { ty: Some(ty), required, max_length, min: Some(-5.0), max: Some(5.0), ..field("custom") };
            if let Err(code) = def.check(&value) {
                proptest::prop_assert!(ty.problems().contains(&code), "{:?} gave {:?} for {:?}", ty, code, value);
            }
        }
    }
}
