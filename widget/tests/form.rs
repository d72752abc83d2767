//! The widget in Chromium: rendering, client-side validation with the `shared` rules, and ARIA state.
#![cfg(target_arch = "wasm32")]

use shared::form::{FormDef, PublicForm};
use shared::sheet::Sheet;
use shared::{markup, Lang};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::{Element, HtmlElement, HtmlInputElement, ShadowRoot};

wasm_bindgen_test_configure!(run_in_browser);

/// The form as the collector's embed script carries it (`edge::embed`): its sheet, and its markup in each
/// language it may be shown in.
fn form(json: &str) -> (String, Option<String>, Option<String>) {
    let def: FormDef = serde_json_from(json);
    let form = PublicForm::from(&def);
    (Sheet::encode(&form), markup::shown_in(&form, Lang::En), markup::shown_in(&form, Lang::De))
}

/// Test-only JSON parsing through the browser, which keeps serde_json out of the widget's dependencies.
fn serde_json_from<T: serde::de::DeserializeOwned>(json: &str) -> T {
    serde_wasm_bindgen::from_value(js_sys::JSON::parse(json).unwrap()).unwrap()
}

/// A mounted form, unmounted when dropped.
struct View(wasm_bindgen::JsValue);

impl View {
    /// Hands the view its rules, as the entry does once the module has arrived: the module's functions and
    /// the form's number.
    fn ready(&self, form: u32) {
        let ready: js_sys::Function = js_sys::Reflect::get(&self.0, &"ready".into()).unwrap().unchecked_into();
        ready.call2(&self.0, &functions(), &form.into()).unwrap();
    }
}

/// The module's functions by name, as `widget/js/entry.js` hands them to a view: `js/rules.js` over this
/// test module's own exports (it has the widget's, `widget::abi`, beside wasm-bindgen's for the test), so
/// the views below ask the rules through the very exchange the bundle uses.
fn functions() -> JsValue {
    let instance = js_sys::Object::new();
    js_sys::Reflect::set(&instance, &"exports".into(), &wasm_bindgen::exports()).unwrap();
    rules_functions(&instance)
}

#[wasm_bindgen(module = "/js/rules.js")]
extern "C" {
    /// The page's side of the module's exports.
    #[wasm_bindgen(js_name = functions)]
    fn rules_functions(instance: &JsValue) -> JsValue;
}

impl Drop for View {
    fn drop(&mut self) {
        let unmount: js_sys::Function = js_sys::Reflect::get(&self.0, &"unmount".into()).unwrap().unchecked_into();
        unmount.call0(&self.0).unwrap();
    }
}

#[wasm_bindgen(module = "/js/view.js")]
extern "C" {
    /// The view the embed script mounts.
    #[wasm_bindgen(js_name = mount)]
    fn mount_view(host: &Element, css: &str, markup: &str, endpoint: &str) -> wasm_bindgen::JsValue;
}

/// Shows a form as `widget/js/entry.js` does before its rules have arrived: its markup in the language the
/// Rust form chooses for the page. Returns the view, the shadow root and the form to hand it.
fn show(json: &str, page_lang: Option<&str>) -> (View, ShadowRoot, u32) {
    let doc = web_sys::window().unwrap().document().unwrap();
    let host = doc.create_element("div").unwrap();
    doc.body().unwrap().append_child(&host).unwrap();
    let (sheet, en, de) = form(json);
    // The entry's choice: the page's language when the script carries its markup, else English, else the
    // form's only one.
    let wanted = page_lang.map(|l| l.split(['-', '_']).next().unwrap_or_default().to_ascii_lowercase());
    let shown = match (wanted.as_deref(), &en, &de) {
        (Some("de"), _, Some(_)) | (_, None, _) => "de",
        _ => "en",
    };
    let form = widget::open(&sheet, Some(shown.to_owned()));
    assert_ne!(form, 0, "the sheet opens");
    let markup = match widget::lang(form).as_str() {
        "en" => en,
        "de" => de,
        other => panic!("no markup for {other}"),
    };
    let view = mount_view(&host, markup::CSS, &markup.unwrap(), "http://127.0.0.1:9");
    (View(view), host.shadow_root().unwrap(), form)
}

/// Mounts a form with its rules ready.
fn mount(json: &str, page_lang: Option<&str>) -> (View, ShadowRoot) {
    let (view, root, form) = show(json, page_lang);
    view.ready(form);
    (view, root)
}

fn q(root: &ShadowRoot, sel: &str) -> Element {
    root.query_selector(sel).unwrap().unwrap_or_else(|| panic!("{sel} not found"))
}

const NEWSLETTER: &str = r#"{"id":"nl","kind":"newsletter","fields":[{"name":"first_name"},{"name":"email","required":true}],
  "consents":[{"id":"marketing_email","required":true,"text":{"en":"Send me news.","de":"Schickt mir News."}}]}"#;

#[wasm_bindgen_test]
fn a_form_is_known_by_its_number_until_it_is_closed() {
    let (sheet, _, _) = form(NEWSLETTER);
    assert_eq!(widget::open("not a sheet", None), 0, "a damaged sheet opens no form");
    let first = widget::open(&sheet, Some("en".into()));
    let second = widget::open(&sheet, Some("de".into()));
    assert!(first > 0 && second > first, "numbers are not reused: {first}, {second}");
    assert_eq!(widget::check(first, 1, "nope").as_deref(), Some("Please enter a valid email address, e.g. name@example.com."));
    assert_eq!(widget::shown(first), shared::Code::InvalidEmail.number(), "the problem shown, for the analytics report");
    assert_eq!(widget::lang(second), "de");
    widget::close(first);
    assert_eq!(widget::check(first, 1, "nope"), None, "a closed form has nothing to say");
    assert_eq!(widget::say(first, 1), "");
    assert_eq!(widget::submit(first, None, None, String::new(), 3000.0, None), None);
    assert_eq!(widget::check(0, 1, "nope"), None, "nor has number 0");
    assert_eq!(widget::check(u32::MAX, 1, "nope"), None, "nor any number never given");
    assert!(widget::check(second, 1, "nope").is_some(), "the other form is still open");
    widget::close(second);
}

/// Calls function `name` of `functions` with `args`.
fn call(functions: &JsValue, name: &str, args: &[JsValue]) -> JsValue {
    let f: js_sys::Function = js_sys::Reflect::get(functions, &name.into()).unwrap().unchecked_into();
    f.apply(&JsValue::NULL, &args.iter().collect::<js_sys::Array>()).unwrap()
}

#[wasm_bindgen_test]
fn text_crosses_the_exchange_unchanged_both_ways() {
    let page = functions();
    let (sheet, _, _) = form(NEWSLETTER);
    let n = call(&page, "open", &[sheet.into(), "de".into()]).as_f64().unwrap() as u32;
    assert_ne!(n, 0, "the sheet opens through the exchange");
    // Out of Rust: a German message, with its umlauts.
    let message = call(&page, "check", &[n.into(), 1.into(), "nope".into()]).as_string().unwrap();
    assert_eq!(Some(message.clone()), widget::check(n, 1, "nope"));
    assert!(!message.is_ascii(), "{message}");
    assert_eq!(call(&page, "check", &[n.into(), 1.into(), "anna@example.com".into()]), JsValue::UNDEFINED, "no problem is undefined");
    // Into Rust: two- and four-byte characters, and a page address longer than the module's memory, which
    // grows while the exchange writes it (made in JavaScript, so that Rust has not grown it before).
    let name = "Jürgen 🦀 Groß";
    let memory = || wasm_bindgen::memory().unchecked_into::<js_sys::WebAssembly::Memory>().buffer().unchecked_into::<js_sys::ArrayBuffer>().byte_length();
    let before = memory();
    let address = js_sys::JsString::from("https://example.com/?q=").concat(&js_sys::JsString::from("ä").repeat((before / 2 + 1) as i32));
    for (i, value) in [name, "jurgen@example.com", "true"].into_iter().enumerate() {
        call(&page, "set", &[n.into(), i.into(), value.into()]);
    }
    let body = call(&page, "submit", &[n.into(), address.clone().into(), JsValue::UNDEFINED, "".into(), 3000.into(), JsValue::UNDEFINED]);
    assert!(memory() > before, "the memory grew during the call");
    let (body, address) = (body.as_string().expect("a valid form submits"), String::from(address));
    assert!(body.contains(name) && body.contains(&address), "the values arrived whole");
    let start: String = body.chars().take(200).collect();
    assert!(!body.contains("\"referrer\"") && !body.contains("\"hp\""), "undefined is none, the empty honeypot empty: {start}");
    assert_eq!(Some(body), widget::submit(n, Some(address), None, String::new(), 3000.0, None), "the same as asked in Rust");

    // What a page's script could pass the exports directly: lengths past the buffer, negative lengths,
    // bytes that are not UTF-8. Each such string counts as none; nothing traps.
    let exports = wasm_bindgen::exports();
    let raw = |name: &str, args: &[JsValue]| call(&exports, name, args).as_f64().unwrap();
    assert_eq!(raw("open", &[(-5).into(), (-1).into()]), 0.0, "no sheet opens no form");
    raw("io", &[0.into()]);
    assert!(raw("check", &[n.into(), 1.into(), 1_000_000.into()]) > 0.0, "a value past the buffer is none: the field is required");
    let at = raw("io", &[2.into()]) as u32;
    js_sys::Uint8Array::new(&wasm_bindgen::memory().unchecked_into::<js_sys::WebAssembly::Memory>().buffer())
        .set(&js_sys::Uint8Array::from(&[0xff, 0xfe][..]), at);
    let problem = raw("check", &[n.into(), 1.into(), 2.into()]);
    assert!(problem > 0.0, "bytes that are not UTF-8 are none");
    widget::close(n);
}

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
async fn a_help_text_describes_its_control_before_during_and_after_an_error() {
    let json = NEWSLETTER.replacen(r#"{"name":"email","required":true}"#, r#"{"name":"email","required":true,"help":{"en":"For the newsletter only."}}"#, 1);
    let (_m, root) = mount(&json, Some("en"));
    let email: HtmlInputElement = q(&root, "#lg-f-email").unchecked_into();
    assert_eq!(q(&root, "#lg-f-email-h").text_content().as_deref(), Some("For the newsletter only."));
    assert_eq!(email.get_attribute("aria-describedby").as_deref(), Some("lg-f-email-h"));
    email.set_value("not-an-email");
    email.dispatch_event(&web_sys::Event::new("blur").unwrap()).unwrap();
    assert_eq!(email.get_attribute("aria-describedby").as_deref(), Some("lg-f-email-e lg-f-email-h"), "the error first, the help still");
    email.set_value("ada@example.com");
    email.dispatch_event(&web_sys::Event::new("blur").unwrap()).unwrap();
    assert_eq!(email.get_attribute("aria-describedby").as_deref(), Some("lg-f-email-h"), "the help stays when the error goes");
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
fn unmounting_removes_the_listeners() {
    let (view, root) = mount(NEWSLETTER, Some("en"));
    let email: HtmlInputElement = q(&root, "#lg-f-email").unchecked_into();
    email.set_value("nope");
    email.dispatch_event(&web_sys::Event::new("blur").unwrap()).unwrap();
    assert_eq!(email.get_attribute("aria-invalid").as_deref(), Some("true"), "the listener runs while mounted");
    drop(view);
    // A listener would now clear the error; none is left to do it.
    email.set_value("kim@example.com");
    email.dispatch_event(&web_sys::Event::new("blur").unwrap()).unwrap();
    assert_eq!(email.get_attribute("aria-invalid").as_deref(), Some("true"), "no listener ran after unmounting");
}

/// Replaces the page's `fetch` with one that answers every request with `status` and the JSON `body`, the way
/// the collector would, and records each request's URL, body and idempotency key in `__lgRequests`.
/// Returns the original `fetch`, to be put back with [`restore_fetch`].
fn answer_with(status: u16, body: &str) -> wasm_bindgen::JsValue {
    let window = web_sys::window().unwrap();
    let original = js_sys::Reflect::get(&window, &"fetch".into()).unwrap();
    let stub = js_sys::Function::new_with_args(
        "url, init",
        &format!(
            "(window.__lgRequests = window.__lgRequests || []).push([url, init.body, init.headers.get('Idempotency-Key')]);\
             return Promise.resolve(new Response({body:?}, {{status: {status}, headers: {{'Content-Type': 'application/json'}}}}));"
        ),
    );
    js_sys::Reflect::set(&window, &"fetch".into(), &stub).unwrap();
    js_sys::Reflect::set(&window, &"__lgRequests".into(), &js_sys::Array::new()).unwrap();
    original
}

fn restore_fetch(original: &wasm_bindgen::JsValue) {
    js_sys::Reflect::set(&web_sys::window().unwrap(), &"fetch".into(), original).unwrap();
}

fn requests() -> js_sys::Array {
    js_sys::Reflect::get(&web_sys::window().unwrap(), &"__lgRequests".into()).unwrap().unchecked_into()
}

/// Waits (up to 3 s, in 10 ms steps) until `done` holds: the submission runs through real promises.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..300 {
        if done() {
            return;
        }
        let tick = js_sys::Promise::new(&mut |resolve, _| {
            web_sys::window().unwrap().set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 10).unwrap();
        });
        wasm_bindgen_futures::JsFuture::from(tick).await.unwrap();
    }
    panic!("{what} did not happen within 3 s");
}

/// Fills the newsletter form with valid values and sends it.
fn fill_and_send(root: &ShadowRoot) {
    q(root, "#lg-f-email").unchecked_into::<HtmlInputElement>().set_value("ada@example.com");
    q(root, "#lg-consent-marketing_email").unchecked_into::<HtmlInputElement>().set_checked(true);
    q(root, "button").unchecked_into::<HtmlElement>().click();
}

fn status_text(root: &ShadowRoot) -> String {
    q(root, "[role=status]").text_content().unwrap_or_default()
}

#[wasm_bindgen_test]
async fn field_errors_from_the_collector_are_shown_on_their_fields() {
    // The collector can know more than the page (a stale form, a rule changed since the script was cached):
    // its per-field answer must land on the field, in the form's language, with focus there.
    let body = r#"{"error":{"code":"validation_failed","message":"Bitte prüfen Sie die markierten Felder.","fields":{"email":[{"code":"invalid_email","message":"Bitte geben Sie eine gültige E-Mail-Adresse ein."}]}}}"#;
    let original = answer_with(400, body);
    let (_m, root) = mount(NEWSLETTER, Some("de"));
    fill_and_send(&root);
    until("the error summary", || status_text(&root) == "Bitte prüfen Sie die markierten Felder.").await;
    restore_fetch(&original);
    let email = q(&root, "#lg-f-email");
    assert_eq!(email.get_attribute("aria-invalid").as_deref(), Some("true"));
    assert_eq!(email.get_attribute("aria-describedby").as_deref(), Some("lg-f-email-e"));
    assert_eq!(q(&root, "#lg-f-email-e").text_content().as_deref(), Some("Bitte geben Sie eine gültige E-Mail-Adresse ein."), "the collector's own words");
    assert_eq!(root.active_element().map(|e| e.id()).as_deref(), Some("lg-f-email"));
    assert_eq!(q(&root, "[role=status]").get_attribute("class").as_deref(), Some("s err"));
    assert!(q(&root, "button").get_attribute("disabled").is_none(), "the visitor can correct and resend");
    assert!(q(&root, "form").get_attribute("hidden").is_none());
    let sent = requests();
    assert_eq!(sent.length(), 1, "a 4xx is not retried");
    let request = js_sys::Array::from(&sent.get(0));
    assert_eq!(request.get(0).as_string().as_deref(), Some("http://127.0.0.1:9/v1/leads"));
    let json = js_sys::JSON::parse(&request.get(1).as_string().unwrap()).unwrap();
    let fields = js_sys::Reflect::get(&json, &"fields".into()).unwrap();
    assert_eq!(js_sys::Reflect::get(&fields, &"email".into()).unwrap().as_string().as_deref(), Some("ada@example.com"));
    assert_eq!(
        js_sys::Reflect::get(&json, &"consent".into()).unwrap().unchecked_into::<js_sys::Array>().get(0).as_string().as_deref(),
        Some("marketing_email")
    );
    assert_eq!(request.get(2).as_string().map(|k| k.len()), Some(32), "an idempotency key goes along");
}

#[wasm_bindgen_test]
async fn an_error_without_fields_is_announced_and_the_next_attempt_gets_a_new_key() {
    let body = r#"{"error":{"code":"already_entered","message":"This email address has already entered this giveaway: one entry per person."}}"#;
    let original = answer_with(409, body);
    let (_m, root) = mount(NEWSLETTER, Some("en"));
    fill_and_send(&root);
    until("the announcement", || status_text(&root).starts_with("This email address has already entered")).await;
    assert!(q(&root, "#lg-f-email").get_attribute("aria-invalid").is_none(), "no field is blamed");
    q(&root, "button").unchecked_into::<HtmlElement>().click();
    until("the second request", || requests().length() == 2).await;
    restore_fetch(&original);
    let key = |i: u32| js_sys::Array::from(&requests().get(i)).get(2).as_string();
    assert_ne!(key(0), key(1), "a rejected submission is not retried under its old key");
}

#[wasm_bindgen_test]
async fn success_hides_the_form_and_offers_the_download() {
    let json = r#"{"id":"gate","kind":"download_gate","fields":[{"name":"email","required":true}],
      "consents":[{"id":"marketing_email","required":true,"text":{"en":"Send me news."}}]}"#;
    let original = answer_with(201, r#"{"id":"l1","status":"new","download_url":"https://c.example/v1/download/t?a=1&b=2"}"#);
    let (_m, root) = mount(json, Some("en"));
    fill_and_send(&root);
    until("the thanks", || status_text(&root).starts_with("Thank you! Your download is ready.")).await;
    restore_fetch(&original);
    assert_eq!(q(&root, "form").get_attribute("hidden").as_deref(), Some(""));
    let link = q(&root, "[role=status] a");
    assert_eq!(link.get_attribute("href").as_deref(), Some("https://c.example/v1/download/t?a=1&b=2"));
    assert_eq!(link.text_content().as_deref(), Some("Download now"));
}

#[wasm_bindgen_test]
async fn a_5xx_is_retried_under_the_same_idempotency_key() {
    // First a 503 (the collector wrote nothing), then the 201: one lead, two requests, one key.
    let window = web_sys::window().unwrap();
    let original = js_sys::Reflect::get(&window, &"fetch".into()).unwrap();
    let stub = js_sys::Function::new_with_args(
        "url, init",
        "(window.__lgRequests = window.__lgRequests || []).push([url, init.body, init.headers.get('Idempotency-Key')]);\
         const first = window.__lgRequests.length === 1;\
         return Promise.resolve(new Response(first ? '{}' : '{\"id\":\"l1\",\"status\":\"new\"}', {status: first ? 503 : 201, headers: {'Content-Type': 'application/json'}}));",
    );
    js_sys::Reflect::set(&window, &"fetch".into(), &stub).unwrap();
    js_sys::Reflect::set(&window, &"__lgRequests".into(), &js_sys::Array::new()).unwrap();
    let (_m, root) = mount(NEWSLETTER, Some("en"));
    fill_and_send(&root);
    until("the thanks after the retry", || status_text(&root).starts_with("Thank you! You are signed up.")).await;
    restore_fetch(&original);
    let key = |i: u32| js_sys::Array::from(&requests().get(i)).get(2).as_string();
    assert_eq!(requests().length(), 2);
    assert_eq!(key(0), key(1), "the retry carries the first attempt's key, so the collector stores one lead");
}

#[wasm_bindgen_test]
async fn a_submit_before_the_rules_are_ready_waits_for_them_and_is_checked() {
    let original = answer_with(201, r#"{"id":"l1","status":"new"}"#);
    // Invalid input sent before the rules: nothing goes out, the button is busy; with the rules, the
    // problems are shown and still nothing goes out.
    let (view, root, form) = show(NEWSLETTER, Some("en"));
    let email: HtmlInputElement = q(&root, "#lg-f-email").unchecked_into();
    email.set_value("not-an-email");
    email.dispatch_event(&web_sys::Event::new("blur").unwrap()).unwrap();
    assert!(email.get_attribute("aria-invalid").is_none(), "nothing is decided without the rules");
    q(&root, "button").unchecked_into::<HtmlElement>().click();
    assert_eq!(q(&root, "button").get_attribute("aria-busy").as_deref(), Some("true"), "the submit waits");
    assert_eq!(requests().length(), 0, "never sent unchecked");
    view.ready(form);
    assert_eq!(email.get_attribute("aria-invalid").as_deref(), Some("true"), "the rules checked what waited");
    assert_eq!(status_text(&root), "Please check the highlighted fields.");
    assert!(q(&root, "button").get_attribute("disabled").is_none(), "the visitor can correct and resend");
    assert_eq!(requests().length(), 0, "an invalid submission is not sent");
    drop(view);

    // Valid input sent before the rules goes out once they are there.
    let (view, root, form) = show(NEWSLETTER, Some("en"));
    fill_and_send(&root);
    assert_eq!(requests().length(), 0);
    view.ready(form);
    until("the thanks", || status_text(&root).starts_with("Thank you! You are signed up.")).await;
    restore_fetch(&original);
    assert_eq!(requests().length(), 1, "sent once, when the rules had checked it");
    drop(view);
}
