//! The embed script: the widget bundle wrapped with the form's public definition, so one request renders a form.
//!
//! The definition travels as postcard bytes (base64) rather than JSON: decoding postcard in the widget
//! needs no JSON parser and no error formatting, which keeps tens of kilobytes out of every page.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use shared::form::PublicForm;

/// Encodes a form for the widget.
pub fn encode(form: &PublicForm) -> String {
    B64.encode(postcard::to_allocvec(form).expect("a form always serialises"))
}

/// Wraps `bundle` in a function scope holding `__leadgate = {id, form, endpoint}` (`id` in clear, for
/// finding `data-leadgate-form` placeholders; `form` in postcard), so nothing leaks into the page's globals
/// and the widget needs no second request for its config.
pub fn script(bundle: &str, form: &PublicForm, endpoint: &str) -> String {
    let config = serde_json::json!({ "id": form.id, "form": encode(form), "endpoint": endpoint });
    // `</` is escaped so the script can also be inlined into an HTML page safely.
    let config = config.to_string().replace("</", "<\\/");
    format!("(function(){{var __leadgate={config};\n{bundle}\n}})();\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::form::FormDef;

    #[test]
    fn the_script_carries_the_public_form_in_postcard() {
        let def: FormDef = serde_json::from_value(serde_json::json!({
            "id": "nl", "kind": "newsletter", "fields": [{"name": "email", "required": true}],
            "webhooks": [{"id": "crm", "url": "https://crm.example.com/secret-hook"}],
            "title": {"en": "</script><b>"}
        }))
        .unwrap();
        let public = PublicForm::from(&def);
        let s = script("/*bundle*/", &public, "https://c.example.com");
        assert!(s.starts_with("(function(){var __leadgate={"));
        assert!(s.contains("/*bundle*/"));
        assert!(s.contains("\"endpoint\":\"https://c.example.com\""));
        assert!(s.contains("\"id\":\"nl\""), "the id is readable without decoding, for placeholders");
        let encoded = s.split("\"form\":\"").nth(1).unwrap().split('"').next().unwrap();
        let decoded: PublicForm = postcard::from_bytes(&B64.decode(encoded).unwrap()).unwrap();
        assert_eq!(decoded, public, "the widget decodes exactly the public form");
        assert_eq!(decoded.title.unwrap().en.as_deref(), Some("</script><b>"));
    }
}
