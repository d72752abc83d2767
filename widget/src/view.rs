//! The rendered form in its shadow root: finding its controls, showing errors accessibly, and driving a
//! submission.
//!
//! Accessibility is part of the contract: every control has a real `<label>` (see `shared::markup`), invalid
//! controls get `aria-invalid` and `aria-describedby` pointing at their message, focus moves to the first
//! invalid control, and errors and success are announced through a polite live region.

use crate::listener::Listeners;
use crate::transport::{self, Reply};
use shared::form::FormKind;
use shared::html::escape_into;
use shared::markup::{self, CSS};
use shared::message::Ui;
use shared::sheet::Sheet;
use shared::validation;
use shared::wire::Draft;
use shared::{Code, Lang};
use alloc::borrow::ToOwned;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Element, Event, HtmlElement, HtmlInputElement, ShadowRoot};

/// A rendered form and its event listeners.
pub struct View {
    _listeners: Listeners,
}

/// One control the visitor fills in: a field or a consent box.
struct Control {
    /// The error key: the field name or `consent.<purpose>`.
    key: String,
    /// The input, select or textarea. Typed as an input because all three have `value`, and only real
    /// inputs are ever asked for `checked`.
    el: HtmlInputElement,
    /// The element that shows this control's error.
    error: Element,
    /// The field's index in the form (`None` for consent boxes).
    field: Option<usize>,
}

struct State {
    form: Sheet,
    lang: Lang,
    endpoint: String,
    controls: Vec<Control>,
    form_el: Element,
    button: Element,
    status: Element,
    honeypot: HtmlInputElement,
    shown_at: f64,
    sending: Cell<bool>,
    /// Set between pointerdown and pointerup inside the form. A blur caused by a click would show its error
    /// while the click is in progress, shift the layout under the pointer and make the click miss; such
    /// checks wait in `deferred` until the pointer is released.
    pressing: Cell<bool>,
    deferred: RefCell<Vec<usize>>,
    /// One key per submission attempt chain: kept across retries, renewed when the visitor edits and resends.
    idempotency_key: RefCell<Option<String>>,
}

fn by_id(root: &ShadowRoot, id: &str) -> Result<Element, JsValue> {
    root.get_element_by_id(id).ok_or_else(|| JsValue::from_str("leadgate: the form markup is incomplete"))
}

impl View {
    /// Puts the form's `markup` into a new shadow root on `host` and wires its events.
    pub fn mount(host: &Element, form: Sheet, markup: &str, lang: Lang, endpoint: String) -> Result<View, JsValue> {
        let window = web_sys::window().ok_or("no window")?;
        let root = host.attach_shadow(&web_sys::ShadowRootInit::new(web_sys::ShadowRootMode::Open))?;
        // A constructed stylesheet rather than a <style> element: CSP `style-src` does not apply to it, so
        // the form looks right on pages whose policy forbids inline styles.
        let sheet = web_sys::CssStyleSheet::new()?;
        sheet.replace_sync(CSS)?;
        root.set_adopted_style_sheets(&js_sys::Array::of1(&sheet));
        root.set_inner_html(markup);

        let mut controls = Vec::new();
        for (i, def) in form.fields.iter().enumerate() {
            controls.push(control(&root, def.name.clone(), markup::field_id(&def.name), Some(i))?);
        }
        for p in form.consents.iter().filter(|p| p.basis != shared::consent::Basis::LegitimateInterest) {
            controls.push(control(&root, shared::consent::key(&p.id), markup::consent_id(&p.id), None)?);
        }
        let form_el = root.query_selector("form")?.ok_or("no form")?;
        let state = Rc::new(State {
            form,
            lang,
            endpoint,
            controls,
            button: root.query_selector("button")?.ok_or("no button")?,
            status: root.query_selector("[role=status]")?.ok_or("no status")?,
            honeypot: by_id(&root, "lg-hp")?.unchecked_into(),
            form_el: form_el.clone(),
            shown_at: window.performance().map_or(0.0, |p| p.now()),
            sending: Cell::new(false),
            pressing: Cell::new(false),
            deferred: RefCell::new(Vec::new()),
            idempotency_key: RefCell::new(None),
        });

        // One callback for every event the form cares about, registered in the capture phase so the
        // form sees its controls' `blur` (which does not bubble). Pointer releases are watched on the
        // window, so a press that ends outside the form still ends.
        let s = state.clone();
        let mut listeners = Listeners::new(move |e| s.handle(e));
        for kind in ["blur", "change", "pointerdown", "submit"] {
            listeners.listen(&form_el, kind);
        }
        for kind in ["pointerup", "pointercancel"] {
            listeners.listen(&window, kind);
        }
        Ok(View { _listeners: listeners })
    }
}

fn control(root: &ShadowRoot, key: String, id: String, field: Option<usize>) -> Result<Control, JsValue> {
    Ok(Control { key, el: by_id(root, &id)?.unchecked_into(), error: by_id(root, &[&id, "-e"].concat())?, field })
}

impl Control {
    /// The control's value as the wire carries it.
    fn value(&self) -> String {
        if self.el.type_() == "checkbox" {
            return if self.el.checked() { "true" } else { "false" }.into();
        }
        self.el.value()
    }

    /// Shows or clears this control's error message, keeping the ARIA state in step.
    fn show(&self, message: Option<&str>) {
        match message {
            Some(message) => {
                self.error.set_text_content(Some(message));
                let _ = self.el.set_attribute("aria-invalid", "true");
                let _ = self.el.set_attribute("aria-describedby", &self.error.id());
            }
            None => {
                self.error.set_text_content(None);
                let _ = self.el.remove_attribute("aria-invalid");
                let _ = self.el.remove_attribute("aria-describedby");
            }
        }
    }
}

impl State {
    fn handle(self: &Rc<Self>, e: Event) {
        let kind = e.type_();
        match kind.as_str() {
            "submit" => {
                e.prevent_default();
                self.submit();
            }
            "pointerdown" => self.pressing.set(true),
            "pointerup" | "pointercancel" => {
                self.pressing.set(false);
                let pending = core::mem::take(&mut *self.deferred.borrow_mut());
                for i in pending {
                    self.check_one(i);
                }
            }
            // Fields are checked when they lose focus, consent boxes when they change.
            _ => {
                let target = e.target().map(JsValue::from);
                let hit = self.controls.iter().position(|c| Some(c.el.as_ref()) == target.as_ref() && c.field.is_some() == (kind == "blur"));
                match hit {
                    Some(i) if self.pressing.get() => self.deferred.borrow_mut().push(i),
                    Some(i) => self.check_one(i),
                    None => {}
                }
            }
        }
    }

    /// Checks one control on blur (fields) or change (consent boxes).
    fn check_one(&self, i: usize) {
        let c = &self.controls[i];
        let code = match c.field {
            Some(f) => self.form.fields[f].check(&c.value()).err(),
            None => {
                let p = self.form.consents.iter().find(|p| shared::consent::key(&p.id) == c.key);
                (p.is_some_and(|p| p.required) && c.value() != "true").then_some(Code::ConsentRequired)
            }
        };
        c.show(code.map(|code| self.text_of(code)));
    }

    /// The browser's own message for a code it found.
    fn text_of(&self, code: Code) -> &'static str {
        code.browser_message(self.lang).unwrap_or_default()
    }

    /// Shows all errors (`(control key, message)`), moves focus to the first invalid control and announces
    /// `summary`.
    fn show_errors<'m>(&self, errors: impl Iterator<Item = (&'m str, &'m str)> + Clone, summary: &str) {
        let mut first = None;
        for c in &self.controls {
            let message = errors.clone().find(|(k, _)| *k == c.key).map(|(_, m)| m);
            c.show(message);
            if message.is_some() && first.is_none() {
                first = Some(c.el.clone());
            }
        }
        self.announce(summary, true);
        if let Some(f) = first {
            let _ = f.unchecked_ref::<HtmlElement>().focus();
        }
    }

    fn announce(&self, message: &str, error: bool) {
        self.status.set_text_content(Some(message));
        let _ = self.status.set_attribute("class", if error { "s err" } else { "s" });
    }

    fn submit(self: &Rc<Self>) {
        if self.sending.get() {
            return;
        }
        let values: Vec<(&str, String)> = self.controls.iter().filter(|c| c.field.is_some()).map(|c| (c.key.as_str(), c.value())).collect();
        let fields: Vec<(&str, &str)> = values.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let ticked: Vec<&str> = self.controls.iter().filter(|c| c.field.is_none() && c.value() == "true").filter_map(|c| c.key.strip_prefix("consent.")).collect();
        if let Err(errors) = validation::validate(&self.form.fields, &self.form.consents, &fields, &ticked) {
            self.idempotency_key.replace(None);
            let messages = errors.iter().map(|(k, code)| (k.as_str(), self.text_of(*code)));
            return self.show_errors(messages, self.text_of(Code::ValidationFailed));
        }
        for c in &self.controls {
            c.show(None);
        }
        let window = web_sys::window().expect("a page has a window");
        let elapsed = window.performance().map_or(0.0, |p| p.now()) - self.shown_at;
        let page = window.location().href().ok();
        let referrer = window.document().map(|d| d.referrer()).filter(|r| !r.is_empty());
        let utm_values = transport::utm(&window);
        let utm: Vec<(&str, &str)> = utm_values.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let hp = self.honeypot.value();
        // Turnstile, when the page runs it, leaves its token in a hidden input of the page.
        let turnstile = window
            .document()
            .and_then(|d| d.query_selector("[name=cf-turnstile-response]").ok().flatten())
            .map(|e| e.unchecked_into::<HtmlInputElement>().value())
            .filter(|t| !t.is_empty());
        let body = Draft {
            form: &self.form.id,
            fields: &fields,
            consent: &ticked,
            page: page.as_deref(),
            referrer: referrer.as_deref(),
            utm: &utm,
            lang: Some(self.lang),
            hp: Some(hp.as_str()).filter(|v| !v.is_empty()),
            elapsed_ms: elapsed.max(0.0) as u64,
            turnstile: turnstile.as_deref(),
        }
        .to_json();
        let key = self.idempotency_key.borrow_mut().get_or_insert_with(transport::new_key).clone();
        self.sending.set(true);
        let _ = self.button.set_attribute("disabled", "");
        let _ = self.button.set_attribute("aria-busy", "true");
        self.announce(Ui::Sending.text(self.lang), false);
        let granted: Vec<String> = ticked.iter().map(|t| (*t).to_owned()).collect();
        let s = self.clone();
        transport::post(&self.endpoint, &body, &key, move |reply| s.settle(reply, &granted));
    }

    /// Shows what the collector answered to a submission with the purposes `granted`.
    fn settle(&self, reply: Reply, granted: &[String]) {
        self.sending.set(false);
        let _ = self.button.remove_attribute("disabled");
        let _ = self.button.remove_attribute("aria-busy");
        match reply {
            Reply::Accepted { status, download } => self.succeed(&status, download.as_deref(), granted),
            Reply::Rejected { message, fields } => {
                // The collector found problems the browser did not (or a stale form); start a new key for
                // the corrected submission. Its message is already in the form's language.
                self.idempotency_key.replace(None);
                if fields.is_empty() {
                    self.announce(&message, true);
                } else {
                    self.show_errors(fields.iter().map(|(k, m)| (k.as_str(), m.as_str())), &message);
                }
            }
            Reply::Failed(code) => self.announce(self.text_of(code), true),
        }
    }

    fn succeed(&self, status: &str, download: Option<&str>, consent: &[String]) {
        let lang = self.lang;
        let mut html = String::new();
        let mut say = |ui: Ui| {
            if !html.is_empty() {
                html.push(' ');
            }
            escape_into(&mut html, ui.text(lang));
        };
        match (self.form.kind, status) {
            (_, "pending") => say(Ui::CheckInbox),
            (FormKind::Newsletter, _) => say(Ui::ThanksNewsletter),
            (FormKind::DownloadGate, _) if download.is_some() => say(Ui::ThanksDownload),
            (FormKind::DownloadGate, _) => say(Ui::ThanksReceived),
            (FormKind::Giveaway, _) => {
                say(Ui::ThanksGiveaway);
                if !self.form.consents.iter().any(|p| p.id != shared::consent::GIVEAWAY_RULES && consent.contains(&p.id)) {
                    say(Ui::GiveawayNoMarketing);
                }
            }
        }
        if let Some(url) = download {
            html.push_str(" <a download href=\"");
            escape_into(&mut html, url);
            html.push_str("\">");
            escape_into(&mut html, Ui::DownloadLink.text(lang));
            html.push_str("</a>");
        }
        let _ = self.form_el.set_attribute("hidden", "");
        let _ = self.status.set_attribute("class", "s");
        self.status.set_inner_html(&html);
    }
}
