//! Building the form in a shadow root, showing errors accessibly, and driving a submission.
//!
//! Accessibility is part of the contract: every control has a real `<label>`, invalid controls get
//! `aria-invalid` and `aria-describedby` pointing at their message, focus moves to the first invalid
//! control, and errors and success are announced through a polite live region.

use crate::listener::Listener;
use crate::style::CSS;
use crate::transport::{self, Reply};
use shared::consent::Basis;
use shared::field::{FieldDef, FieldType};
use shared::form::{FormKind, PublicForm};
use shared::message::Ui;
use shared::validation::{self, Errors};
use shared::wire::{Meta, Submission};
use shared::{Code, Lang};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Document, Element, HtmlElement, HtmlInputElement, HtmlSelectElement, HtmlTextAreaElement};

/// A rendered form and its listeners.
pub struct View {
    _listeners: Vec<Listener>,
}

/// One control the visitor fills in: a field or a consent box.
struct Control {
    /// The error key: the field name or `consent.<purpose>`.
    key: String,
    /// The input, select or textarea.
    el: Element,
    /// The element that shows this control's error.
    error: Element,
    /// The field's definition (`None` for consent boxes).
    def: Option<FieldDef>,
}

struct State {
    form: PublicForm,
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

fn el(doc: &Document, tag: &str, attrs: &[(&str, &str)]) -> Result<Element, JsValue> {
    let e = doc.create_element(tag)?;
    for (k, v) in attrs {
        e.set_attribute(k, v)?;
    }
    Ok(e)
}

fn text(doc: &Document, tag: &str, attrs: &[(&str, &str)], content: &str) -> Result<Element, JsValue> {
    let e = el(doc, tag, attrs)?;
    e.set_text_content(Some(content));
    Ok(e)
}

impl View {
    /// Renders the form into a new shadow root on `host` and wires its events.
    pub fn mount(host: &Element, form: PublicForm, lang: Lang, endpoint: String) -> Result<View, JsValue> {
        let window = web_sys::window().ok_or("no window")?;
        let doc = window.document().ok_or("no document")?;
        let root = host.attach_shadow(&web_sys::ShadowRootInit::new(web_sys::ShadowRootMode::Open))?;
        // A constructed stylesheet rather than a <style> element: CSP `style-src` does not apply to it, so
        // the form looks right on pages whose policy forbids inline styles.
        let sheet = web_sys::CssStyleSheet::new()?;
        sheet.replace_sync(CSS)?;
        root.set_adopted_style_sheets(&js_sys::Array::of1(&sheet));
        let wrap = el(&doc, "div", &[("class", "lg"), ("lang", lang.tag())])?;
        root.append_child(&wrap)?;
        if let Some(title) = &form.title {
            wrap.append_child(&text(&doc, "h2", &[], title.get(lang))?.into())?;
        }
        let form_el = el(&doc, "form", &[("novalidate", ""), ("class", "lg-form")])?;
        wrap.append_child(&form_el)?;

        let mut controls = Vec::new();
        for def in &form.fields {
            controls.push(field(&doc, &form_el, def, lang)?);
        }
        if let (FormKind::Giveaway, Some(g)) = (form.kind, &form.giveaway) {
            let p = el(&doc, "p", &[("class", "g")])?;
            let a = text(&doc, "a", &[("href", &g.rules_url), ("target", "_blank"), ("rel", "noopener")], Ui::Rules.text(lang))?;
            p.append_child(&a)?;
            if let Some(ms) = shared::time::parse(&g.ends_at) {
                let date = js_sys::Date::new(&JsValue::from_f64(ms as f64));
                let shown: String = date.to_locale_date_string(lang.tag(), &JsValue::UNDEFINED).into();
                p.append_child(&doc.create_text_node(&[" · ", Ui::EntriesClose.text(lang), " ", &shown].concat()))?;
            }
            form_el.append_child(&p)?;
        }
        for purpose in &form.consents {
            let key = shared::consent::key(&purpose.id);
            if purpose.basis == Basis::LegitimateInterest {
                form_el.append_child(&text(&doc, "p", &[("class", "n")], purpose.text.get(lang))?.into())?;
                continue;
            }
            let id = ["lg-", &key.replace('.', "-")].concat();
            let err_id = [&id, "-e"].concat();
            let row = el(&doc, "div", &[("class", "c")])?;
            let mut attrs = vec![("type", "checkbox"), ("id", &id), ("name", &key)];
            if purpose.required {
                attrs.push(("aria-required", "true"));
            }
            let input = el(&doc, "input", &attrs)?;
            row.append_child(&input)?;
            row.append_child(&text(&doc, "label", &[("for", &id)], purpose.text.get(lang))?.into())?;
            let error = el(&doc, "p", &[("class", "e"), ("id", &err_id)])?;
            row.append_child(&error)?;
            form_el.append_child(&row)?;
            controls.push(Control { key, el: input, error, def: None });
        }
        // The honeypot: invisible and unreachable for people (off-screen, no tab stop, hidden from assistive
        // technology), filled in by bots that fill in everything.
        let hp_wrap = el(&doc, "div", &[("class", "h"), ("aria-hidden", "true")])?;
        let hp_label = text(&doc, "label", &[("for", "lg-hp")], "Website")?;
        let honeypot: HtmlInputElement = el(&doc, "input", &[("id", "lg-hp"), ("name", "_hp"), ("tabindex", "-1"), ("autocomplete", "off")])?.unchecked_into();
        hp_wrap.append_child(&hp_label)?;
        hp_wrap.append_child(&honeypot)?;
        form_el.append_child(&hp_wrap)?;

        let label = match form.kind {
            FormKind::Newsletter => Ui::Subscribe,
            FormKind::DownloadGate => Ui::Download,
            FormKind::Giveaway => Ui::Enter,
        };
        let button = text(&doc, "button", &[("type", "submit")], label.text(lang))?;
        form_el.append_child(&button)?;
        let status = el(&doc, "p", &[("class", "s"), ("role", "status"), ("aria-live", "polite")])?;
        wrap.append_child(&status)?;

        let shown_at = window.performance().map_or(0.0, |p| p.now());
        let state = Rc::new(State {
            form,
            lang,
            endpoint,
            controls,
            form_el: form_el.clone(),
            button,
            status,
            honeypot,
            shown_at,
            sending: Cell::new(false),
            pressing: Cell::new(false),
            deferred: RefCell::new(Vec::new()),
            idempotency_key: RefCell::new(None),
        });

        let mut listeners = Vec::new();
        for (i, c) in state.controls.iter().enumerate() {
            let s = state.clone();
            let kind = if c.def.is_some() { "blur" } else { "change" };
            listeners.push(Listener::new(&c.el, kind, move |_| {
                if s.pressing.get() {
                    s.deferred.borrow_mut().push(i);
                } else {
                    s.check_one(i);
                }
            }));
        }
        let s = state.clone();
        listeners.push(Listener::new(&form_el, "pointerdown", move |_| s.pressing.set(true)));
        for kind in ["pointerup", "pointercancel"] {
            let s = state.clone();
            // On the window, so a press that ends outside the form still ends.
            listeners.push(Listener::new(&window, kind, move |_| {
                s.pressing.set(false);
                let pending = std::mem::take(&mut *s.deferred.borrow_mut());
                for i in pending {
                    s.check_one(i);
                }
            }));
        }
        let s = state.clone();
        listeners.push(Listener::new(&form_el, "submit", move |e| {
            e.prevent_default();
            let s = s.clone();
            wasm_bindgen_futures::spawn_local(async move { s.submit().await });
        }));
        Ok(View { _listeners: listeners })
    }
}

/// Renders one field with its label and error slot.
fn field(doc: &Document, form_el: &Element, def: &FieldDef, lang: Lang) -> Result<Control, JsValue> {
    let id = ["lg-f-", &def.name].concat();
    let err_id = [&id, "-e"].concat();
    let kind = def.kind();
    let checkbox = kind == FieldType::Checkbox;
    let row = el(doc, "div", &[("class", if checkbox { "c" } else { "f" })])?;
    let label = text(doc, "label", &[("for", &id)], def.label(lang))?;
    if !def.required && !checkbox {
        label.append_child(&doc.create_text_node(" "))?;
        label.append_child(&text(doc, "span", &[("class", "o")], Ui::Optional.text(lang))?.into())?;
    }
    let max = def.max_chars().to_string();
    let mut attrs: Vec<(&str, &str)> = vec![("id", &id), ("name", &def.name), ("autocomplete", def.autocomplete())];
    if def.required {
        attrs.push(("aria-required", "true"));
    }
    let input = match kind {
        FieldType::Textarea => el(doc, "textarea", &attrs)?,
        FieldType::Select => {
            let select = el(doc, "select", &attrs)?;
            select.append_child(&text(doc, "option", &[("value", "")], "—")?.into())?;
            for o in &def.options {
                select.append_child(&text(doc, "option", &[("value", &o.value)], o.label.get(lang))?.into())?;
            }
            select
        }
        _ => {
            let (ty, mode) = match kind {
                FieldType::Email => ("email", "email"),
                FieldType::Phone => ("tel", "tel"),
                FieldType::Url => ("url", "url"),
                FieldType::Number => ("text", "decimal"),
                FieldType::Checkbox => ("checkbox", ""),
                _ => ("text", "text"),
            };
            attrs.push(("type", ty));
            if !checkbox {
                attrs.push(("inputmode", mode));
                attrs.push(("maxlength", &max));
            }
            el(doc, "input", &attrs)?
        }
    };
    let error = el(doc, "p", &[("class", "e"), ("id", &err_id)])?;
    if checkbox {
        row.append_child(&input)?;
        row.append_child(&label)?;
    } else {
        row.append_child(&label)?;
        row.append_child(&input)?;
    }
    row.append_child(&error)?;
    form_el.append_child(&row)?;
    Ok(Control { key: def.name.clone(), el: input, error, def: Some(def.clone()) })
}

impl Control {
    /// The control's value as the wire carries it.
    fn value(&self) -> String {
        if let Some(i) = self.el.dyn_ref::<HtmlInputElement>() {
            if i.type_() == "checkbox" {
                return if i.checked() { "true" } else { "false" }.into();
            }
            return i.value();
        }
        if let Some(s) = self.el.dyn_ref::<HtmlSelectElement>() {
            return s.value();
        }
        self.el.dyn_ref::<HtmlTextAreaElement>().map(|t| t.value()).unwrap_or_default()
    }

    /// Shows or clears this control's error, keeping the ARIA state in step.
    fn show(&self, code: Option<Code>, lang: Lang) {
        match code {
            Some(code) => {
                self.error.set_text_content(Some(code.message(lang)));
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
    /// Checks one control on blur (fields) or change (consent boxes).
    fn check_one(&self, i: usize) {
        let c = &self.controls[i];
        let code = match &c.def {
            Some(def) => def.check(&c.value()).err(),
            None => {
                let p = self.form.consents.iter().find(|p| shared::consent::key(&p.id) == c.key);
                (p.is_some_and(|p| p.required) && c.value() != "true").then_some(Code::ConsentRequired)
            }
        };
        c.show(code, self.lang);
    }

    /// Shows all errors, moves focus to the first invalid control and announces the summary.
    fn show_errors(&self, errors: &Errors, summary: Code) {
        let mut first = None;
        for c in &self.controls {
            let code = errors.get(&c.key).copied();
            c.show(code, self.lang);
            if code.is_some() && first.is_none() {
                first = Some(c.el.clone());
            }
        }
        self.announce(summary.message(self.lang), true);
        if let Some(f) = first.and_then(|f| f.dyn_into::<HtmlElement>().ok()) {
            let _ = f.focus();
        }
    }

    fn announce(&self, message: &str, error: bool) {
        self.status.set_text_content(Some(message));
        let _ = self.status.set_attribute("class", if error { "s err" } else { "s" });
    }

    fn submission(&self) -> (BTreeMap<String, String>, Vec<String>) {
        let mut fields = BTreeMap::new();
        let mut consent = Vec::new();
        for c in &self.controls {
            match &c.def {
                Some(def) => {
                    fields.insert(def.name.clone(), c.value());
                }
                None if c.value() == "true" => consent.push(c.key["consent.".len()..].to_owned()),
                None => {}
            }
        }
        (fields, consent)
    }

    async fn submit(self: Rc<Self>) {
        if self.sending.get() {
            return;
        }
        let (fields, consent) = self.submission();
        if let Err(errors) = validation::validate(&self.form.fields, &self.form.consents, &fields, &consent) {
            self.idempotency_key.replace(None);
            return self.show_errors(&errors, Code::ValidationFailed);
        }
        for c in &self.controls {
            c.show(None, self.lang);
        }
        let window = web_sys::window().expect("a page has a window");
        let elapsed = window.performance().map_or(0.0, |p| p.now()) - self.shown_at;
        let sub = Submission {
            form: self.form.id.clone(),
            fields,
            consent: consent.clone(),
            meta: Meta {
                page: window.location().href().ok(),
                referrer: window.document().map(|d| d.referrer()).filter(|r| !r.is_empty()),
                utm: transport::utm(&window),
                lang: Some(self.lang),
                hp: Some(self.honeypot.value()).filter(|v| !v.is_empty()),
                elapsed_ms: Some(elapsed.max(0.0) as u64),
            },
        };
        let key = self.idempotency_key.borrow_mut().get_or_insert_with(transport::new_key).clone();
        self.sending.set(true);
        let _ = self.button.set_attribute("disabled", "");
        let _ = self.button.set_attribute("aria-busy", "true");
        self.announce(Ui::Sending.text(self.lang), false);
        let reply = transport::post(&self.endpoint, &sub, &key).await;
        self.sending.set(false);
        let _ = self.button.remove_attribute("disabled");
        let _ = self.button.remove_attribute("aria-busy");
        match reply {
            Reply::Accepted(status, download) => self.succeed(&status, download.as_deref(), &consent),
            Reply::Rejected(body) => {
                // The collector found problems the browser did not (or a stale form); start a new key for
                // the corrected submission.
                self.idempotency_key.replace(None);
                let errors: Errors = body.error.fields.iter().filter_map(|(k, v)| Some((k.clone(), v.first()?.code))).collect();
                if errors.is_empty() {
                    self.announce(&body.error.message, true);
                } else {
                    self.show_errors(&errors, body.error.code);
                }
            }
            Reply::Failed(code) => self.announce(code.message(self.lang), true),
        }
    }

    fn succeed(&self, status: &str, download: Option<&str>, consent: &[String]) {
        let lang = self.lang;
        let message = match (self.form.kind, status) {
            (_, "pending") => Ui::CheckInbox.text(lang).to_owned(),
            (FormKind::Newsletter, _) => Ui::ThanksNewsletter.text(lang).to_owned(),
            (FormKind::DownloadGate, _) if download.is_some() => Ui::ThanksDownload.text(lang).to_owned(),
            (FormKind::DownloadGate, _) => Ui::ThanksReceived.text(lang).to_owned(),
            (FormKind::Giveaway, _) => {
                let marketing = self.form.consents.iter().any(|p| p.id != shared::consent::GIVEAWAY_RULES && consent.contains(&p.id));
                let mut m = Ui::ThanksGiveaway.text(lang).to_owned();
                if !marketing {
                    m.push(' ');
                    m.push_str(Ui::GiveawayNoMarketing.text(lang));
                }
                m
            }
        };
        let _ = self.form_el.set_attribute("hidden", "");
        self.announce(&message, false);
        if let (Some(url), Some(doc)) = (download, self.status.owner_document()) {
            if let Ok(link) = text(&doc, "a", &[("href", url), ("download", "")], Ui::DownloadLink.text(lang)) {
                let _ = self.status.append_child(&doc.create_text_node(" "));
                let _ = self.status.append_child(&link);
            }
        }
    }
}
