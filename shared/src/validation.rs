//! Validating a whole submission against its form: every field's rule plus the consent decision.
//!
//! The widget runs this before sending and the edge runs it again on arrival, so both produce the same
//! error map for the same input.

use crate::consent::{self, Decision, Purpose};
use crate::field::FieldDef;
use crate::Code;
use std::collections::BTreeMap;

/// A submission that passed: the cleaned field values (empty optional fields left out) and the consent decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Valid {
    /// Cleaned values by field name.
    pub fields: BTreeMap<String, String>,
    /// Which purposes were granted and refused.
    pub consent: Decision,
}

/// Field name (or `consent.<purpose>`) to the reason it was rejected.
pub type Errors = BTreeMap<String, Code>;

/// Checks every declared field and the consent ticks against a form's `fields` and `purposes` (borrowed, so
/// the edge validates straight from its config without copying the form). Values for fields the form does
/// not declare are rejected, not silently dropped, so an integration that sends `mail` instead of `email`
/// hears about it.
pub fn validate(defs: &[FieldDef], purposes: &[Purpose], values: &BTreeMap<String, String>, ticked: &[String]) -> Result<Valid, Errors> {
    let mut errors = Errors::new();
    let mut fields = BTreeMap::new();
    for def in defs {
        let raw = values.get(&def.name).map_or("", String::as_str);
        match def.check(raw) {
            Ok(Some(v)) => {
                fields.insert(def.name.clone(), v);
            }
            Ok(None) => {}
            Err(code) => {
                errors.insert(def.name.clone(), code);
            }
        }
    }
    for name in values.keys() {
        if !defs.iter().any(|f| &f.name == name) {
            errors.insert(name.clone(), Code::UnknownField);
        }
    }
    let consent = match consent::decide(purposes, ticked) {
        Ok(d) => Some(d),
        Err(e) => {
            errors.extend(e);
            None
        }
    };
    match consent {
        Some(consent) if errors.is_empty() => Ok(Valid { fields, consent }),
        _ => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::form::{FormDef, PublicForm};

    fn newsletter() -> PublicForm {
        let def: FormDef = serde_json::from_value(serde_json::json!({
            "id": "newsletter", "kind": "newsletter",
            "fields": [{"name": "email", "required": true}, {"name": "first_name"}],
            "consents": [{"id": "marketing_email", "required": true, "text": {"en": "Send me the newsletter."}}]
        }))
        .unwrap();
        PublicForm::from(&def)
    }

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn a_good_submission_is_cleaned() {
        let form = newsletter();
        let v = validate(&form.fields, &form.consents, &values(&[("email", " ada@example.com "), ("first_name", "")]), &["marketing_email".into()]).unwrap();
        assert_eq!(v.fields, values(&[("email", "ada@example.com")]));
        assert_eq!(v.consent.granted, vec!["marketing_email"]);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let form = newsletter();
        let e = validate(&form.fields, &form.consents, &values(&[("email", "ada@"), ("mail", "x"), ("first_name", "A\nB")]), &[]).unwrap_err();
        assert_eq!(
            e,
            [
                ("consent.marketing_email".to_string(), Code::ConsentRequired),
                ("email".to_string(), Code::InvalidEmail),
                ("first_name".to_string(), Code::LineBreak),
                ("mail".to_string(), Code::UnknownField),
            ]
            .into()
        );
    }
}
