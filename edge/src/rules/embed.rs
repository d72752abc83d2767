//! The embed script: the widget bundle wrapped with the form's sheet, markup and style sheet, so one request
//! renders a form.
//!
//! The collector writes the form's HTML (`shared::markup`) for each language it may be shown in, and its
//! rules as a compact sheet (`shared::sheet`): the browser then needs neither a template engine nor a serde
//! decoder, which keeps tens of kilobytes out of every page.

use shared::form::PublicForm;
use shared::markup;
use shared::sheet::Sheet;
use shared::Lang;

/// Wraps `bundle` in a function scope holding `__leadgate = {id, endpoint, sheet, en, de, css, draw,
/// variants}` (`id` for finding `data-leadgate-form` placeholders; `en` and `de` the markup, only the form's
/// own language when it has one; `css` the style sheet; for a form under an A/B test, a sheet and markup per
/// variant, `draw` the bounds of their shares and `variants` their names), so nothing leaks into the page's globals and the widget needs no second
/// request for its form.
pub fn script(bundle: &str, form: &PublicForm, endpoint: &str) -> String {
    // A form under an A/B test carries its sheet and markup once per variant, the bounds of their shares of
    // page views (the widget draws one: `form::shares`) and their names, in the same order.
    let variants = form.variants.as_slice();
    let shown = |lang: Lang| match variants {
        [] => serde_json::json!(markup::shown_in(form, lang)),
        _ => match variants.iter().map(|v| markup::shown_as(form, lang, Some(v))).collect::<Option<Vec<_>>>() {
            Some(all) => serde_json::json!(all),
            None => serde_json::Value::Null,
        },
    };
    let sheet = match variants {
        [] => serde_json::json!(Sheet::encode(form)),
        _ => serde_json::json!(variants.iter().map(|v| Sheet::encode_as(form, Some(v))).collect::<Vec<_>>()),
    };
    let mut config = serde_json::Map::new();
    config.insert("id".into(), form.id.as_str().into());
    config.insert("endpoint".into(), endpoint.into());
    config.insert("sheet".into(), sheet);
    config.insert("en".into(), shown(Lang::En));
    config.insert("de".into(), shown(Lang::De));
    config.insert("css".into(), markup::CSS.into());
    if !variants.is_empty() {
        config.insert("draw".into(), shared::form::shares(variants).into());
        config.insert("variants".into(), variants.iter().map(|v| v.name.as_str()).collect());
    }
    let config = serde_json::Value::Object(config);
    // `</` is escaped so the script can also be inlined into an HTML page safely.
    let config = config.to_string().replace("</", "<\\/");
    format!("(function(){{var __leadgate={config};\n{bundle}\n}})();\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::form::FormDef;

    fn config_of(script: &str) -> serde_json::Value {
        let json = script.strip_prefix("(function(){var __leadgate=").unwrap().split(";\n").next().unwrap();
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn the_script_carries_the_sheet_and_the_markup() {
        let def: FormDef = serde_json::from_value(serde_json::json!({
            "id": "nl", "kind": "newsletter", "fields": [{"name": "email", "required": true}],
            "webhooks": [{"id": "crm", "url": "https://crm.example.com/secret-hook"}],
            "title": {"en": "</script><b>", "de": "Neuigkeiten"}
        }))
        .unwrap();
        let public = PublicForm::from(&def);
        let s = script("/*bundle*/", &public, "https://c.example.com");
        assert!(s.contains("/*bundle*/"));
        assert!(!s.contains("</script>") && !s.contains("secret-hook"), "{s}");
        let config = config_of(&s);
        assert_eq!(config["id"], "nl", "the id is readable without decoding, for placeholders");
        assert_eq!(config["endpoint"], "https://c.example.com");
        let sheet = Sheet::decode(config["sheet"].as_str().unwrap()).unwrap();
        assert_eq!(sheet.fields, Sheet::decode(&Sheet::encode(&public)).unwrap().fields);
        assert_eq!(config["en"].as_str().unwrap(), markup::render(&public, Lang::En));
        assert_eq!(config["css"], markup::CSS);
        assert!(config["de"].as_str().unwrap().contains("<h2>Neuigkeiten</h2>"));
    }

    #[test]
    fn a_form_under_test_carries_a_markup_per_variant_and_their_names() {
        let def: FormDef = serde_json::from_value(serde_json::json!({
            "id": "nl", "kind": "newsletter", "lang": "de", "fields": [{"name": "email", "required": true}],
            "variants": [{"name": "a"}, {"name": "b", "button": {"de": "Los"}}]
        }))
        .unwrap();
        let public = PublicForm::from(&def);
        let config = config_of(&script("", &public, "https://c.example.com"));
        assert_eq!(config["variants"], serde_json::json!(["a", "b"]));
        assert_eq!(config["draw"], serde_json::json!([0.5, 1.0]));
        assert_eq!(Sheet::decode(config["sheet"][1].as_str().unwrap()).unwrap().variant.as_deref(), Some("b"));
        assert!(config["en"].is_null());
        assert_eq!(config["de"][0].as_str().unwrap(), markup::render(&public, Lang::De));
        assert!(config["de"][1].as_str().unwrap().contains(">Los</button>"));
    }

    #[test]
    fn a_form_with_its_own_language_carries_only_that_markup() {
        let def: FormDef = serde_json::from_value(serde_json::json!({
            "id": "nl", "kind": "newsletter", "lang": "de", "fields": [{"name": "email", "required": true}]
        }))
        .unwrap();
        let config = config_of(&script("", &PublicForm::from(&def), "https://c.example.com"));
        assert!(config["en"].is_null());
        assert!(config["de"].as_str().unwrap().contains(">Anmelden</button>"));
        assert!(config.get("variants").is_none());
    }
}
