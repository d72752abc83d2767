//! The widget in Chromium: rendering, client-side validation with the `shared` rules, and ARIA state.
#![cfg(target_arch = "wasm32")]

use shared::form::{FormDef, PublicForm};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::{Element, HtmlElement, HtmlInputElement, ShadowRoot};

wasm_bindgen_test_configure!(run_in_browser);

/// The form as the collector's embed script carries it: postcard bytes.
fn form(json: &str) -> Vec<u8> {
    let def: FormDef = serde_json_from(json);
    postcard::to_allocvec(&PublicForm::from(&def)).unwrap()
}

/// Test-only JSON parsing through the browser, which keeps serde_json out of the widget's dependencies.
fn serde_json_from<T: serde::de::DeserializeOwned>(json: &str) -> T {
    serde_wasm_bindgen::from_value(js_sys::JSON::parse(json).unwrap()).unwrap()
}

fn mount(json: &str, page_lang: Option<&str>) -> (widget::Mounted, ShadowRoot) {
    let doc = web_sys::window().unwrap().document().unwrap();
    let host = doc.create_element("div").unwrap();
    doc.body().unwrap().append_child(&host).unwrap();
    let mounted = widget::mount(host.clone(), &form(json), "http://127.0.0.1:9".into(), page_lang.map(str::to_owned)).unwrap();
    (mounted, host.shadow_root().unwrap())
}

fn q(root: &ShadowRoot, sel: &str) -> Element {
    root.query_selector(sel).unwrap().unwrap_or_else(|| panic!("{sel} not found"))
}

const NEWSLETTER: &str = r#"{"id":"nl","kind":"newsletter","fields":[{"name":"first_name"},{"name":"email","required":true}],
  "consents":[{"id":"marketing_email","required":true,"text":{"en":"Send me news.","de":"Schickt mir News."}}]}"#;

#[wasm_bindgen_test]
fn renders_labelled_controls_in_a_shadow_root() {
    let (_m, root) = mount(NEWSLETTER, Some("en"));
    for id in ["lg-f-first_name", "lg-f-email", "lg-consent-marketing_email"] {
        let label = q(&root, &format!("label[for='{id}']"));
        assert!(!label.text_content().unwrap().is_empty(), "{id} has a label");
    }
    assert_eq!(q(&root, "#lg-f-email").get_attribute("type").as_deref(), Some("email"));
    assert_eq!(q(&root, "#lg-f-email").get_attribute("autocomplete").as_deref(), Some("email"));
    assert!(q(&root, "label[for='lg-f-first_name']").text_content().unwrap().contains("(optional)"));
    let consent: HtmlInputElement = q(&root, "#lg-consent-marketing_email").unchecked_into();
    assert!(!consent.checked(), "marketing consent starts unticked");
    assert_eq!(q(&root, "[role=status]").get_attribute("aria-live").as_deref(), Some("polite"));
    assert_eq!(q(&root, "button").text_content().as_deref(), Some("Subscribe"));
}

#[wasm_bindgen_test]
fn language_comes_from_the_form_then_the_page() {
    let (_m, root) = mount(NEWSLETTER, Some("de-AT"));
    assert_eq!(q(&root, "button").text_content().as_deref(), Some("Anmelden"));
    assert_eq!(q(&root, "label[for='lg-consent-marketing_email']").text_content().as_deref(), Some("Schickt mir News."));
    let english_form = NEWSLETTER.replacen("\"kind\"", "\"lang\":\"en\",\"kind\"", 1);
    let (_m, root) = mount(&english_form, Some("de"));
    assert_eq!(q(&root, "button").text_content().as_deref(), Some("Subscribe"));
    let (_m, root) = mount(NEWSLETTER, Some("fr"));
    assert_eq!(q(&root, "button").text_content().as_deref(), Some("Subscribe"), "unknown page language falls back to English");
}

#[wasm_bindgen_test]
async fn submitting_invalid_input_marks_fields_and_focuses_the_first() {
    let (_m, root) = mount(NEWSLETTER, Some("en"));
    let email: HtmlInputElement = q(&root, "#lg-f-email").unchecked_into();
    email.set_value("not-an-email");
    q(&root, "button").unchecked_into::<HtmlElement>().click();
    // The submit handler runs as a spawned future; let it run.
    wasm_bindgen_futures::JsFuture::from(js_sys::Promise::resolve(&wasm_bindgen::JsValue::NULL)).await.unwrap();
    assert_eq!(email.get_attribute("aria-invalid").as_deref(), Some("true"));
    assert_eq!(email.get_attribute("aria-describedby").as_deref(), Some("lg-f-email-e"));
    assert_eq!(q(&root, "#lg-f-email-e").text_content().as_deref(), Some(shared::Code::InvalidEmail.message(shared::Lang::En)));
    let consent = q(&root, "#lg-consent-marketing_email");
    assert_eq!(consent.get_attribute("aria-invalid").as_deref(), Some("true"));
    assert_eq!(root.active_element().map(|e| e.id()).as_deref(), Some("lg-f-email"));
    assert_eq!(q(&root, "[role=status]").text_content().as_deref(), Some("Please check the highlighted fields."));
    assert!(q(&root, "#lg-f-first_name").get_attribute("aria-invalid").is_none(), "an empty optional field is fine");

    // Fixing the field clears its error on blur.
    email.set_value("ada@example.com");
    email.dispatch_event(&web_sys::Event::new("blur").unwrap()).unwrap();
    assert!(email.get_attribute("aria-invalid").is_none());
    assert_eq!(q(&root, "#lg-f-email-e").text_content().as_deref(), Some(""));
}

#[wasm_bindgen_test]
fn giveaway_shows_rules_and_separate_optional_marketing() {
    let json = r#"{"id":"win","kind":"giveaway","fields":[{"name":"email","required":true}],
      "giveaway":{"starts_at":"2026-01-01","ends_at":"2026-12-24","rules_url":"/rules.html"},
      "consents":[{"id":"giveaway_rules","required":true,"text":{"en":"I accept the rules."}},
                  {"id":"marketing_email","text":{"en":"Also send me news (optional)."}}]}"#;
    let (_m, root) = mount(json, Some("en"));
    assert_eq!(q(&root, "a[href='/rules.html']").text_content().as_deref(), Some("Giveaway rules"));
    assert!(q(&root, ".g").text_content().unwrap().contains("Entries close:"));
    assert_eq!(q(&root, "#lg-consent-giveaway_rules").get_attribute("aria-required").as_deref(), Some("true"));
    assert!(q(&root, "#lg-consent-marketing_email").get_attribute("aria-required").is_none());
    assert_eq!(q(&root, "button").text_content().as_deref(), Some("Enter the giveaway"));
}

#[wasm_bindgen_test]
fn dropping_the_handle_removes_the_listeners() {
    let (m, root) = mount(NEWSLETTER, Some("en"));
    drop(m);
    let email: HtmlInputElement = q(&root, "#lg-f-email").unchecked_into();
    email.set_value("nope");
    email.dispatch_event(&web_sys::Event::new("blur").unwrap()).unwrap();
    assert!(email.get_attribute("aria-invalid").is_none(), "no listener ran after unmounting");
}
