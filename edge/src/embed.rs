//! The embed script: the widget bundle wrapped with the form's public definition, so one request renders a form.

use shared::form::PublicForm;

/// Wraps `bundle` in a function scope holding `__leadgate = {form, endpoint}`, so nothing leaks into the
/// page's globals and the widget needs no second request for its config.
pub fn script(bundle: &str, form: &PublicForm, endpoint: &str) -> String {
    let config = serde_json::json!({ "form": form, "endpoint": endpoint });
    // `</` is escaped so the script can also be inlined into an HTML page safely.
    let config = config.to_string().replace("</", "<\\/");
    format!("(function(){{var __leadgate={config};\n{bundle}\n}})();\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::form::FormDef;

    #[test]
    fn the_script_carries_only_the_public_form() {
        let def: FormDef = serde_json::from_value(serde_json::json!({
            "id": "nl", "kind": "newsletter", "fields": [{"name": "email", "required": true}],
            "webhooks": [{"id": "crm", "url": "https://crm.example.com/secret-hook"}],
            "title": {"en": "</script><b>"}
        }))
        .unwrap();
        let s = script("/*bundle*/", &PublicForm::from(&def), "https://c.example.com");
        assert!(s.starts_with("(function(){var __leadgate={"));
        assert!(s.contains("/*bundle*/"));
        assert!(s.contains("\"endpoint\":\"https://c.example.com\""));
        assert!(!s.contains("secret-hook"), "webhook URLs never reach the browser");
        assert!(!s.contains("</script>"));
    }
}
