//! Validating a whole submission against its form: every field's rule plus the consent decision.
//!
//! The edge runs this on arrival. The widget applies the same rules control by control before sending
//! (each field's [`FieldDef::check`], each box's required purpose), which is all a submission made from
//! the form's own controls can get wrong.

use alloc::{borrow::ToOwned, string::String, vec::Vec};

use crate::consent::{self, Decision, Purpose};
use crate::field::FieldDef;
use crate::Code;

/// A submission that passed: the cleaned field values (empty optional fields left out) and the consent decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Valid {
    /// Cleaned values by field name, in the form's order.
    pub fields: Vec<(String, String)>,
    /// Which purposes were granted and refused.
    pub consent: Decision,
}

/// Field name (or `consent.<purpose>`) and the reason it was rejected: fields in the form's order, then
/// undeclared fields, then consent. A list rather than a map, in the order a form shows its controls.
pub type Errors = Vec<(String, Code)>;

/// Checks every declared field and the consent ticks against a form's `fields` and `purposes` (borrowed, so
/// the edge validates straight from its config without copying the form). `values` are `(name, raw value)`
/// pairs. Values for fields the form does not declare are rejected, not silently dropped, so an
/// integration that sends `mail` instead of `email` hears about it.
pub fn validate(defs: &[FieldDef], purposes: &[Purpose], values: &[(&str, &str)], ticked: &[impl AsRef<str>]) -> Result<Valid, Errors> {
    let mut errors = Errors::new();
    let mut fields = Vec::new();
    for def in defs {
        let raw = values.iter().find(|(k, _)| *k == def.name).map_or("", |(_, v)| v);
        match def.check(raw) {
            Ok(Some(v)) => fields.push((def.name.clone(), v)),
            Ok(None) => {}
            Err(code) => errors.push((def.name.clone(), code)),
        }
    }
    for (name, _) in values {
        if !defs.iter().any(|f| f.name == *name) {
            errors.push(((*name).to_owned(), Code::UnknownField));
        }
    }
    match consent::decide(purposes, ticked) {
        Ok(consent) if errors.is_empty() => Ok(Valid { fields, consent }),
        Ok(_) => Err(errors),
        Err(e) => {
            errors.extend(e);
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::form::{FormDef, PublicForm};
    use std::prelude::rust_2021::*;
    use std::vec;

    fn newsletter() -> PublicForm {
        let def: FormDef = serde_json::from_value(serde_json::json!({
            "id": "newsletter", "kind": "newsletter",
            "fields": [{"name": "email", "required": true}, {"name": "first_name"}],
            "consents": [{"id": "marketing_email", "required": true, "text": {"en": "Send me the newsletter."}}]
        }))
        .unwrap();
        PublicForm::from(&def)
    }

    fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn a_good_submission_is_cleaned() {
        let form = newsletter();
        let v = validate(&form.fields, &form.consents, &[("email", " ada@example.com "), ("first_name", "")], &["marketing_email"]).unwrap();
        assert_eq!(v.fields, owned(&[("email", "ada@example.com")]));
        assert_eq!(v.consent.granted, vec!["marketing_email"]);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let form = newsletter();
        let e = validate(&form.fields, &form.consents, &[("email", "ada@"), ("mail", "x"), ("first_name", "A\nB")], &[] as &[&str]).unwrap_err();
        // Form order first (email before first_name), then the undeclared field, then consent.
        assert_eq!(
            e,
            vec![
                ("email".to_string(), Code::InvalidEmail),
                ("first_name".to_string(), Code::LineBreak),
                ("mail".to_string(), Code::UnknownField),
                ("consent.marketing_email".to_string(), Code::ConsentRequired),
            ]
        );
    }
}
