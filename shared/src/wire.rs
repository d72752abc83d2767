//! Wire types: the JSON the widget posts, the JSON the edge answers, and the error shape both show.
//!
//! These are contracts with website owners' integrations: fields are added, never renamed or removed.
//! Field values travel as strings (checkboxes as `"true"`/`"false"`, numbers in decimal), which keeps one
//! shape for JSON and for the no-JavaScript form post.

use crate::validation::Errors;
use crate::{Code, Lang};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
#[cfg(feature = "server")]
use validator::Validate;

/// `POST /v1/leads`: one form submission.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(validator::Validate))]
pub struct Submission {
    /// The form's id.
    #[cfg_attr(feature = "server", validate(length(min = 1, max = 64)))]
    pub form: String,
    /// Field values by field name, as typed.
    #[cfg_attr(feature = "server", validate(length(max = 60)))]
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// The ids of the consent purposes the visitor ticked.
    #[cfg_attr(feature = "server", validate(length(max = 20)))]
    #[serde(default)]
    pub consent: Vec<String>,
    /// Where and how the form was filled in.
    #[cfg_attr(feature = "server", validate(nested))]
    #[serde(default)]
    pub meta: Meta,
}

/// Context of a submission, captured by the widget.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(validator::Validate))]
pub struct Meta {
    /// The page URL the form was on.
    #[cfg_attr(feature = "server", validate(length(max = 2048)))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    /// The page's referrer.
    #[cfg_attr(feature = "server", validate(length(max = 2048)))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrer: Option<String>,
    /// `utm_source`, `utm_medium`, ... from the page URL, without the `utm_` prefix.
    #[cfg_attr(feature = "server", validate(length(max = 10)))]
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub utm: BTreeMap<String, String>,
    /// The language the form was shown in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<Lang>,
    /// The honeypot field's value: people leave it empty, bots fill it in.
    #[cfg_attr(feature = "server", validate(length(max = 512)))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hp: Option<String>,
    /// Milliseconds between the form being shown and sent; bots are faster than people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elapsed_ms: Option<u64>,
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
        let fields = errors
            .iter()
            .map(|(name, code)| (name.clone(), vec![FieldError { code: *code, message: code.message(lang).to_owned() }]))
            .collect();
        ErrorBody { error: ApiError { code: Code::ValidationFailed, message: Code::ValidationFailed.message(lang).to_owned(), fields } }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
