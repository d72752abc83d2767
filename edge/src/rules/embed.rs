//! The embed script: the widget's loader wrapped with the form's sheet, markup and style sheet, so one small
//! request shows a form; its rules (the wasm module, one per build) follow from a cached URL.
//!
//! The collector writes the form's HTML (`shared::markup`) for each language it may be shown in, and its
//! rules as a compact sheet (`shared::sheet`): the browser then needs neither a template engine nor a serde
//! decoder, which keeps tens of kilobytes out of every page.

use shared::form::PublicForm;
use shared::markup;
use shared::sheet::Sheet;
use shared::Lang;

/// The line an embed script starts with: V8's magic comment asking it to compile all the script's functions
/// at once (see [`script`]); other engines read a comment.
pub const COMPILE_HINT: &str = "//# allFunctionsCalledOnLoad\n";

/// Wraps `bundle` in a function scope holding `__leadgate = {id, endpoint, base, sheet, markup, css, draw,
/// variants, turnstile}` (`id` for finding `data-leadgate-form` placeholders; `base` where the widget's wasm module is
/// fetched from, when not from `endpoint`; `markup` the form's HTML by language, only the form's own
/// language when it has one; `css` the style sheet; for a form under an A/B test, a sheet and markup per
/// variant, `draw` the bounds of their shares and `variants` their names; `turnstile` the site key and
/// script URL when the widget shows Turnstile itself), so nothing leaks into the page's
/// globals and the form is shown from this one script: only its rules (the wasm module, the same for every
/// form and cached for good) come in a second request.
pub fn script(bundle: &str, form: &PublicForm, endpoint: &str, base: Option<&str>) -> String {
    // A form under an A/B test carries its sheet and markup once per variant, the bounds of their shares of
    // page views (the widget draws one: `form::shares`) and their names, in the same order.
    let variants = form.variants.as_slice();
    let shown = |lang: Lang| match variants {
        [] => markup::shown_in(form, lang).map(serde_json::Value::from),
        _ => variants.iter().map(|v| markup::shown_as(form, lang, Some(v))).collect::<Option<Vec<_>>>().map(serde_json::Value::from),
    };
    // Inserted one by one: collecting would sort first (see `shared::order`).
    let mut markups = serde_json::Map::new();
    for (lang, shown) in [Lang::En, Lang::De].into_iter().filter_map(|lang| Some((lang, shown(lang)?))) {
        markups.insert(lang.tag().to_owned(), shown);
    }
    let sheet = match variants {
        [] => serde_json::json!(Sheet::encode(form)),
        _ => serde_json::json!(variants.iter().map(|v| Sheet::encode_as(form, Some(v))).collect::<Vec<_>>()),
    };
    let mut config = serde_json::Map::new();
    config.insert("id".into(), form.id.as_str().into());
    config.insert("endpoint".into(), endpoint.into());
    if let Some(base) = base.filter(|b| *b != endpoint) {
        config.insert("base".into(), base.into());
    }
    config.insert("sheet".into(), sheet);
    config.insert("markup".into(), markups.into());
    config.insert("css".into(), markup::CSS.into());
    // Turnstile shown by the widget: its site key and script, loaded on the form's first focus.
    if let Some(t) = &form.turnstile {
        config.insert("turnstile".into(), serde_json::json!([t.site_key, t.script_url]));
    }
    if !variants.is_empty() {
        config.insert("draw".into(), shared::form::shares(variants).into());
        config.insert("variants".into(), variants.iter().map(|v| v.name.as_str()).collect());
    }
    let config = serde_json::Value::Object(config);
    // `</` is escaped so the script can also be inlined into an HTML page safely.
    let config = config.to_string().replace("</", "<\\/");
    // The first line is V8's compile hint (Chromium 136 on): compile every function with the script instead of
    // each on its first call. The view's `mount` is called at once, and compiling it lazily, on the call, had
    // held the form back: the script ran 1.7 ms before `mount` began, 0.8 ms with the hint, and the form was
    // shown 0.8 ms sooner after the script arrived (`cargo xtask bench render`'s page, median of 20 loads).
    // It moves that compiling to the background thread that streams the script in, before the run: in a tab
    // whose main thread is idle the form then comes 1-2 ms later (the bench's warm tab), but the host page's
    // main thread, busy on a real page, is spared about 2 ms (see ARCHITECTURE.md, section "Size": the warm tab).
    format!("{COMPILE_HINT}(function(){{var __leadgate={config};\n{bundle}\n}})();\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::form::FormDef;

    fn config_of(script: &str) -> serde_json::Value {
        let json = script.strip_prefix(COMPILE_HINT).unwrap().strip_prefix("(function(){var __leadgate=").unwrap().split(";\n").next().unwrap();
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
        let s = script("/*bundle*/", &public, "https://c.example.com", Some("https://c.example.com"));
        assert!(s.contains("/*bundle*/"));
        assert!(!s.contains("</script>") && !s.contains("secret-hook"), "{s}");
        let config = config_of(&s);
        assert_eq!(config["id"], "nl", "the id is readable without decoding, for placeholders");
        assert_eq!(config["endpoint"], "https://c.example.com");
        assert!(config.get("base").is_none(), "the module comes from where submissions go");
        let sheet = Sheet::decode(config["sheet"].as_str().unwrap()).unwrap();
        assert_eq!(sheet.fields, Sheet::decode(&Sheet::encode(&public)).unwrap().fields);
        assert_eq!(config["markup"]["en"].as_str().unwrap(), markup::render(&public, Lang::En));
        assert_eq!(config["css"], markup::CSS);
        assert!(config["markup"]["de"].as_str().unwrap().contains("<h2>Neuigkeiten</h2>"));
        assert!(config.get("turnstile").is_none());
    }

    #[test]
    fn a_form_with_a_turnstile_site_key_carries_it_and_the_script_but_never_the_secret() {
        let def: FormDef = serde_json::from_value(serde_json::json!({
            "id": "nl", "kind": "newsletter", "fields": [{"name": "email", "required": true}],
            "turnstile": {"secret": "TS_SECRET_NAME", "site_key": "1x00000000000000000000AA"}
        }))
        .unwrap();
        let s = script("", &PublicForm::from(&def), "https://c.example.com", None);
        assert!(!s.contains("TS_SECRET_NAME"));
        let config = config_of(&s);
        assert_eq!(config["turnstile"], serde_json::json!(["1x00000000000000000000AA", "https://challenges.cloudflare.com/turnstile/v0/api.js"]));
    }

    #[test]
    fn a_form_under_test_carries_a_markup_per_variant_and_their_names() {
        let def: FormDef = serde_json::from_value(serde_json::json!({
            "id": "nl", "kind": "newsletter", "lang": "de", "fields": [{"name": "email", "required": true}],
            "variants": [{"name": "a"}, {"name": "b", "button": {"de": "Los"}}]
        }))
        .unwrap();
        let public = PublicForm::from(&def);
        let config = config_of(&script("", &public, "https://preview.invalid", Some("https://c.example.com")));
        assert_eq!(config["variants"], serde_json::json!(["a", "b"]));
        assert_eq!(config["draw"], serde_json::json!([0.5, 1.0]));
        assert_eq!(Sheet::decode(config["sheet"][1].as_str().unwrap()).unwrap().variant.as_deref(), Some("b"));
        assert_eq!(config["base"], "https://c.example.com", "a preview sends nowhere but loads its rules");
        assert!(config["markup"].get("en").is_none());
        assert_eq!(config["markup"]["de"][0].as_str().unwrap(), markup::render(&public, Lang::De));
        assert!(config["markup"]["de"][1].as_str().unwrap().contains(">Los</button>"));
    }

    #[test]
    fn a_form_with_its_own_language_carries_only_that_markup() {
        let def: FormDef = serde_json::from_value(serde_json::json!({
            "id": "nl", "kind": "newsletter", "lang": "de", "fields": [{"name": "email", "required": true}]
        }))
        .unwrap();
        let config = config_of(&script("", &PublicForm::from(&def), "https://c.example.com", None));
        assert!(config["markup"].get("en").is_none(), "only the form's language is carried");
        assert!(config["markup"]["de"].as_str().unwrap().contains(">Anmelden</button>"));
        assert!(config.get("variants").is_none());
    }
}
