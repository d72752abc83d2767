//! The form's markup, written as one escaped HTML string and handed to the browser in a single `innerHTML`.
//!
//! One string instead of a `createElement` call per node is what keeps the widget small: every DOM call
//! from Rust is an import with its own glue and error path, while string building is a few hundred bytes.
//! Everything that comes from the form's definition goes through [`escape_into`], so a label can never
//! become markup. This module is pure and unit-tested natively; `view` wires the result to events.

use shared::consent::{self, Basis};
use shared::field::{FieldDef, FieldType};
use shared::form::{FormKind, PublicForm};
use shared::html::escape_into;
use shared::message::Ui;
use shared::Lang;

/// The id of a field's control; its error message has this id plus `-e`.
pub fn field_id(name: &str) -> String {
    ["lg-f-", name].concat()
}

/// The id of a consent purpose's checkbox; its error message has this id plus `-e`.
pub fn consent_id(purpose: &str) -> String {
    ["lg-consent-", purpose].concat()
}

/// The whole form in `lang`. `closes` is the giveaway's end date as the page's locale writes it (the view
/// asks the browser, which knows the visitor's date conventions).
pub fn render(form: &PublicForm, lang: Lang, closes: Option<&str>) -> String {
    let mut h = Html(String::with_capacity(2048));
    h.raw("<div class=\"lg\" lang=\"");
    h.raw(lang.tag());
    h.raw("\">");
    if let Some(title) = &form.title {
        h.raw("<h2>");
        h.text(title.get(lang));
        h.raw("</h2>");
    }
    h.raw("<form novalidate class=\"lg-form\">");
    for def in &form.fields {
        field(&mut h, def, lang);
    }
    if let (FormKind::Giveaway, Some(g)) = (form.kind, &form.giveaway) {
        h.raw("<p class=\"g\"><a target=\"_blank\" rel=\"noopener\" href=\"");
        h.text(&g.rules_url);
        h.raw("\">");
        h.text(Ui::Rules.text(lang));
        h.raw("</a>");
        if let Some(date) = closes {
            h.raw(" · ");
            h.text(Ui::EntriesClose.text(lang));
            h.raw(" ");
            h.text(date);
        }
        h.raw("</p>");
    }
    for p in &form.consents {
        let text = p.text.get(lang);
        if p.basis == Basis::LegitimateInterest {
            // A notice, not a choice: legitimate interest needs no tick, only information (GDPR Art. 21).
            h.raw("<p class=\"n\">");
            h.text(text);
            h.raw("</p>");
            continue;
        }
        let id = consent_id(&p.id);
        h.raw("<div class=\"c\">");
        h.input("checkbox", &id, &consent::key(&p.id), p.required);
        h.raw(">");
        h.label(&id, text, None);
        h.error(&id);
        h.raw("</div>");
    }
    // The honeypot: invisible and unreachable for people (off-screen, no tab stop, hidden from assistive
    // technology), filled in by bots that fill in everything.
    h.raw(
        "<div class=\"h\" aria-hidden=\"true\"><label for=\"lg-hp\">Website</label>\
         <input id=\"lg-hp\" name=\"_hp\" tabindex=\"-1\" autocomplete=\"off\"></div><button type=\"submit\">",
    );
    let button = match form.kind {
        FormKind::Newsletter => Ui::Subscribe,
        FormKind::DownloadGate => Ui::Download,
        FormKind::Giveaway => Ui::Enter,
    };
    h.text(button.text(lang));
    h.raw("</button></form><p class=\"s\" role=\"status\" aria-live=\"polite\"></p></div>");
    h.0
}

/// One field: label, control and error slot. Checkboxes put the box before the label, as people expect.
fn field(h: &mut Html, def: &FieldDef, lang: Lang) {
    let id = field_id(&def.name);
    let kind = def.kind();
    let optional = (!def.required).then(|| Ui::Optional.text(lang));
    if kind == FieldType::Checkbox {
        h.raw("<div class=\"c\">");
        h.input("checkbox", &id, &def.name, def.required);
        h.raw(">");
        h.label(&id, def.label(lang), None);
    } else {
        h.raw("<div class=\"f\">");
        h.label(&id, def.label(lang), optional);
        match kind {
            FieldType::Select => {
                h.open("select", &id, &def.name, def.required);
                h.raw(" autocomplete=\"");
                h.raw(def.autocomplete());
                h.raw("\"><option value=\"\">—</option>");
                for o in &def.options {
                    h.raw("<option value=\"");
                    h.text(&o.value);
                    h.raw("\">");
                    h.text(o.label.get(lang));
                    h.raw("</option>");
                }
                h.raw("</select>");
            }
            FieldType::Textarea => {
                h.open("textarea", &id, &def.name, def.required);
                h.attrs_for_text(def, "text");
                h.raw("></textarea>");
            }
            _ => {
                let (ty, mode) = match kind {
                    FieldType::Email => ("email", "email"),
                    FieldType::Phone => ("tel", "tel"),
                    FieldType::Url => ("url", "url"),
                    FieldType::Number => ("text", "decimal"),
                    _ => ("text", "text"),
                };
                h.input(ty, &id, &def.name, def.required);
                h.attrs_for_text(def, mode);
                h.raw(">");
            }
        }
    }
    h.error(&id);
    h.raw("</div>");
}

/// An HTML string under construction.
struct Html(String);

impl Html {
    fn raw(&mut self, s: &str) {
        self.0.push_str(s);
    }

    fn text(&mut self, s: &str) {
        escape_into(&mut self.0, s);
    }

    /// `<tag id name [aria-required]`, left open for more attributes.
    fn open(&mut self, tag: &str, id: &str, name: &str, required: bool) {
        self.raw("<");
        self.raw(tag);
        self.raw(" id=\"");
        self.text(id);
        self.raw("\" name=\"");
        self.text(name);
        self.raw("\"");
        if required {
            self.raw(" aria-required=\"true\"");
        }
    }

    fn input(&mut self, ty: &str, id: &str, name: &str, required: bool) {
        self.open("input", id, name, required);
        self.raw(" type=\"");
        self.raw(ty);
        self.raw("\"");
    }

    fn attrs_for_text(&mut self, def: &FieldDef, mode: &str) {
        self.raw(" autocomplete=\"");
        self.raw(def.autocomplete());
        self.raw("\" inputmode=\"");
        self.raw(mode);
        self.raw("\" maxlength=\"");
        shared::wire::decimal(&mut self.0, def.max_chars() as u64);
        self.raw("\"");
    }

    fn label(&mut self, id: &str, text: &str, optional: Option<&str>) {
        self.raw("<label for=\"");
        self.text(id);
        self.raw("\">");
        self.text(text);
        if let Some(optional) = optional {
            self.raw(" <span class=\"o\">");
            self.text(optional);
            self.raw("</span>");
        }
        self.raw("</label>");
    }

    fn error(&mut self, id: &str) {
        self.raw("<p class=\"e\" id=\"");
        self.text(id);
        self.raw("-e\"></p>");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::form::FormDef;

    fn form(json: &str) -> PublicForm {
        let def: FormDef = serde_json::from_str(json).unwrap();
        PublicForm::from(&def)
    }

    #[test]
    fn a_newsletter_has_labelled_controls_and_a_live_region() {
        let f = form(
            r#"{"id":"nl","kind":"newsletter","title":{"en":"News"},"fields":[{"name":"first_name"},{"name":"email","required":true}],
                "consents":[{"id":"marketing_email","required":true,"text":{"en":"Send me news."}}]}"#,
        );
        let html = render(&f, Lang::En, None);
        assert!(html.starts_with("<div class=\"lg\" lang=\"en\"><h2>News</h2><form novalidate class=\"lg-form\">"));
        assert!(html.contains(
            "<div class=\"f\"><label for=\"lg-f-first_name\">First name <span class=\"o\">(optional)</span></label>\
             <input id=\"lg-f-first_name\" name=\"first_name\" type=\"text\" autocomplete=\"given-name\" inputmode=\"text\" maxlength=\"100\">\
             <p class=\"e\" id=\"lg-f-first_name-e\"></p></div>"
        ), "{html}");
        assert!(html.contains("<input id=\"lg-f-email\" name=\"email\" aria-required=\"true\" type=\"email\" autocomplete=\"email\" inputmode=\"email\""));
        assert!(html.contains(
            "<div class=\"c\"><input id=\"lg-consent-marketing_email\" name=\"consent.marketing_email\" aria-required=\"true\" type=\"checkbox\">\
             <label for=\"lg-consent-marketing_email\">Send me news.</label><p class=\"e\" id=\"lg-consent-marketing_email-e\"></p></div>"
        ));
        assert!(html.ends_with("<button type=\"submit\">Subscribe</button></form><p class=\"s\" role=\"status\" aria-live=\"polite\"></p></div>"));
    }

    #[test]
    fn everything_from_the_definition_is_escaped() {
        let f = form(
            r#"{"id":"x","kind":"giveaway","title":{"en":"<script>alert(1)</script>"},
                "fields":[{"name":"size","type":"select","label":{"en":"Size \"&\""},"options":[{"value":"a\"b","label":{"en":"<b>"}}]}],
                "giveaway":{"starts_at":"2026-01-01","ends_at":"2026-12-24","rules_url":"https://x.example/r?a=1&b=\"2\""},
                "consents":[{"id":"giveaway_rules","required":true,"text":{"en":"I <3 rules"}}]}"#,
        );
        let html = render(&f, Lang::En, Some("<24.12.>"));
        assert!(!html.contains("<script>") && !html.contains("<b>") && !html.contains("<3") && !html.contains("<24"));
        assert!(html.contains("<h2>&lt;script&gt;alert(1)&lt;/script&gt;</h2>"));
        assert!(html.contains("<option value=\"a&quot;b\">&lt;b&gt;</option>"));
        assert!(html.contains("href=\"https://x.example/r?a=1&amp;b=&quot;2&quot;\">Giveaway rules</a> · Entries close: &lt;24.12.&gt;</p>"));
    }

    #[test]
    fn legitimate_interest_is_a_notice_without_a_box_and_german_is_german() {
        let f = form(
            r#"{"id":"b","kind":"download_gate","mode":"b2b","fields":[{"name":"email","required":true},{"name":"message","type":"textarea"}],
                "consents":[{"id":"b2b_marketing","basis":"legitimate_interest","text":{"de":"Wir informieren Sie per E-Mail."}}]}"#,
        );
        let html = render(&f, Lang::De, None);
        assert!(html.contains("<p class=\"n\">Wir informieren Sie per E-Mail.</p>"));
        assert!(!html.contains("type=\"checkbox\""));
        assert!(html.contains("<textarea id=\"lg-f-message\" name=\"message\""));
        assert!(html.contains(">Download anfordern</button>"));
    }
}
