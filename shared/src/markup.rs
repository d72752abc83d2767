//! The widget's form as HTML: one escaped string per language, written by the collector into the embed
//! script and set by the widget with a single `innerHTML`.
//!
//! Writing the markup on the collector rather than in the browser keeps the labels, texts and this code out
//! of every page's wasm: the widget only finds the controls by the ids below and wires them. Everything that
//! comes from the form's definition goes through [`escape_into`], so a label can never become markup.

use alloc::string::String;

use crate::consent::{self, Basis};
use crate::field::{FieldDef, FieldType};
use crate::form::{PublicForm, Variant};
use crate::html::escape_into;
use crate::kind::FormKind;
use crate::message::Ui;
use crate::Lang;

/// The stylesheet. Typography is set on the form's own root inside the shadow tree, not on `:host`: the
/// host is the page's element, so a page rule like `*{font-size:1px!important}` wins there and would be
/// inherited. For the same reason every inherited property (`letter-spacing`, `word-spacing`,
/// `text-transform`, `line-height`, ...) is reset on that root with `all:initial`: a `:host` rule loses to
/// any page rule that matches the host element. Custom properties are not touched by `all` and still
/// inherit through the host, which is how theming works.
pub const CSS: &str = ":host{all:initial;display:block}\
*{box-sizing:border-box}\
[hidden]{display:none!important}\
.lg,.lg-form{display:grid;gap:14px}\
.lg{all:initial;display:grid;gap:14px;font-family:var(--lg-font,system-ui,-apple-system,'Segoe UI',Roboto,sans-serif);color:var(--lg-text,#1f1f1f);line-height:1.45;font-size:var(--lg-font-size,16px);text-align:start;max-width:32rem;padding:20px;background:var(--lg-bg,#fff);border:1px solid var(--lg-border,#c4c7c5);border-radius:var(--lg-radius,10px)}\
h2{margin:0;font-size:1.25em}\
.f{display:grid;gap:4px}\
label{font-weight:600}\
.o{font-weight:400;color:var(--lg-muted,#474747)}\
input:not([type=checkbox]),select,textarea{display:block;width:100%;font:inherit;color:inherit;padding:10px 12px;border:1px solid var(--lg-border-strong,#747775);border-radius:calc(var(--lg-radius,10px)*.6);background:#fff}\
textarea{min-height:6em}\
.c{display:grid;grid-template-columns:auto 1fr;gap:4px 10px;align-items:start}\
.c label{font-weight:400}\
.c .e,.c .n{grid-column:2}\
input[type=checkbox]{display:inline-block;width:20px;height:20px;margin:2px 0 0;accent-color:var(--lg-accent,#0b57d0)}\
[aria-invalid=true]{border-color:var(--lg-error,#b3261e)!important;outline-color:var(--lg-error,#b3261e)}\
.e{color:var(--lg-error,#b3261e);font-size:.9em;margin:0}\
.e:empty{display:none}\
button{font:inherit;font-weight:600;padding:12px 18px;border:0;border-radius:calc(var(--lg-radius,10px)*.6);background:var(--lg-accent,#0b57d0);color:var(--lg-on-accent,#fff);cursor:pointer}\
button[disabled]{opacity:.7;cursor:progress}\
:focus-visible{outline:3px solid var(--lg-accent,#0b57d0);outline-offset:2px}\
a{color:var(--lg-accent,#0b57d0)}\
.n,.g{margin:0;font-size:.9em;color:var(--lg-muted,#474747)}\
.s,.i{margin:0}\
.s:empty{display:none}\
.s.err{color:var(--lg-error,#b3261e)}\
.h{position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden}";

/// The id of a field's control; its error message has this id plus `-e`.
fn field_id(name: &str) -> String {
    crate::text::joined(&["lg-f-", name])
}

/// The id of a consent purpose's checkbox; its error message has this id plus `-e`.
fn consent_id(purpose: &str) -> String {
    crate::text::joined(&["lg-consent-", purpose])
}

/// The form's markup in `lang` if it may be shown in that language: a form with a language of its own is
/// shown only in it; one without, in the page's language, so it needs all of them.
pub fn shown_in(form: &PublicForm, lang: Lang) -> Option<String> {
    shown_as(form, lang, None)
}

/// [`shown_in`] with the texts of `variant`.
pub fn shown_as(form: &PublicForm, lang: Lang, variant: Option<&Variant>) -> Option<String> {
    form.lang.is_none_or(|own| own == lang).then(|| render_as(form, lang, variant))
}

/// The whole form in `lang`.
pub fn render(form: &PublicForm, lang: Lang) -> String {
    render_as(form, lang, None)
}

/// The whole form in `lang`, with the texts of `variant` (none: the form's own).
pub fn render_as(form: &PublicForm, lang: Lang, variant: Option<&Variant>) -> String {
    let wording = form.wording(variant);
    let mut h = Html(String::with_capacity(2048));
    h.raw("<div class=\"lg\" lang=\"");
    h.raw(lang.tag());
    h.raw("\">");
    if let Some(title) = wording.title {
        h.raw("<h2>");
        h.text(title.get(lang));
        h.raw("</h2>");
    }
    if let Some(intro) = wording.intro {
        h.raw("<p class=\"i\">");
        h.text(intro.get(lang));
        h.raw("</p>");
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
        if let Some(date) = crate::time::written_date(&g.ends_at, lang) {
            h.raw(" · ");
            h.text(Ui::EntriesClose.text(lang));
            h.raw(" ");
            h.text(&date);
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
    // Where the widget shows Turnstile when it runs it itself: a light-DOM element of the host, slotted here.
    if form.turnstile.is_some() {
        h.raw("<slot name=\"turnstile\"></slot>");
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
    h.text(wording.button.map_or(button.text(lang), |b| b.get(lang)));
    // The live region carries, unshown, what the widget says when the form's rules cannot be loaded: the
    // only text it needs before the rules (whose sheet has every other) are there.
    h.raw("</button></form><p class=\"s\" role=\"status\" aria-live=\"polite\" data-lost=\"");
    h.text(crate::Code::Network.message(lang));
    h.raw("\"></p></div>");
    h.0
}

/// One field: label, help (if any), control and error slot. Checkboxes put the box before the label, as
/// people expect. The help is the control's description (`aria-describedby`, which the widget extends with
/// the error's id while one is shown).
fn field(h: &mut Html, def: &FieldDef, lang: Lang) {
    let id = field_id(&def.name);
    let kind = def.kind();
    let optional = (!def.required).then(|| Ui::Optional.text(lang));
    let help = def.help.as_ref().filter(|t| !t.is_empty()).map(|t| t.get(lang));
    let described = |h: &mut Html| {
        if help.is_some() {
            h.raw(" aria-describedby=\"");
            h.text(&id);
            h.raw("-h\"");
        }
    };
    let hint = |h: &mut Html| {
        if let Some(help) = help {
            h.raw("<p class=\"n\" id=\"");
            h.text(&id);
            h.raw("-h\">");
            h.text(help);
            h.raw("</p>");
        }
    };
    if kind == FieldType::Checkbox {
        h.raw("<div class=\"c\">");
        h.input("checkbox", &id, &def.name, def.required);
        described(h);
        h.raw(">");
        h.label(&id, def.label(lang), None);
        hint(h);
    } else {
        h.raw("<div class=\"f\">");
        h.label(&id, def.label(lang), optional);
        hint(h);
        match kind {
            FieldType::Select => {
                h.open("select", &id, &def.name, def.required);
                described(h);
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
                described(h);
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
                described(h);
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
        crate::wire::decimal(&mut self.0, def.max_chars() as u64);
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
    use crate::form::FormDef;
    use std::prelude::rust_2021::*;

    fn form(json: &str) -> PublicForm {
        let def: FormDef = serde_json::from_str(json).unwrap();
        PublicForm::from(&def)
    }

    /// The widget's view numbers the controls in the order of the markup's named elements (without the
    /// honeypot and the slot Turnstile is shown in); the widget's `Form` numbers them as the sheet lists
    /// them: the fields, then the purposes that have a box. The two orders must be one.
    #[test]
    fn the_named_controls_come_in_the_sheet_order_each_with_its_error_slot() {
        let f = form(
            r#"{"id":"gw","kind":"giveaway","fields":[{"name":"email","required":true},{"name":"decision_maker"},
                {"name":"size","type":"select","label":{"en":"Size"},"options":[{"value":"m","label":{"en":"M"}}]},{"name":"message"}],
                "giveaway":{"starts_at":"2026-01-01","ends_at":"2026-12-24","rules_url":"/r"},
                "consents":[{"id":"giveaway_rules","required":true,"text":{"en":"Rules","de":"Regeln"}},
                            {"id":"b2b_info","basis":"legitimate_interest","text":{"en":"We inform you.","de":"Info"}},
                            {"id":"marketing_email","text":{"en":"News","de":"News"}}],
                "turnstile":{"secret":"TS","site_key":"1x00000000000000000000AA"}}"#,
        );
        let sheet = crate::sheet::Sheet::decode(&crate::sheet::Sheet::encode(&f)).unwrap();
        let fields = sheet.fields.iter().map(|d| d.name.clone());
        let boxes = sheet.consents.iter().filter(|p| p.basis != Basis::LegitimateInterest).map(|p| consent::key(&p.id));
        let expected: Vec<String> = fields.chain(boxes).collect();
        assert_eq!(expected.len(), 6);
        for lang in [Lang::En, Lang::De] {
            let html = render(&f, lang);
            assert!(html.contains("<slot name=\"turnstile\"></slot>"));
            let html = html.replace("<slot name=\"turnstile\"></slot>", "");
            let named: Vec<&str> = html.split(" name=\"").skip(1).filter_map(|rest| rest.split('"').next()).filter(|n| *n != "_hp").collect();
            assert_eq!(named, expected, "{lang:?}");
            for chunk in ["<input ", "<select ", "<textarea "].iter().flat_map(|tag| html.split(tag).skip(1)) {
                let id = chunk.strip_prefix("id=\"").and_then(|r| r.split('"').next()).unwrap();
                assert!(id == "lg-hp" || html.contains(&format!("id=\"{id}-e\"")), "{id} has its error slot");
            }
        }
    }

    #[test]
    fn a_newsletter_has_labelled_controls_and_a_live_region() {
        let f = form(
            r#"{"id":"nl","kind":"newsletter","title":{"en":"News"},"fields":[{"name":"first_name"},{"name":"email","required":true}],
                "consents":[{"id":"marketing_email","required":true,"text":{"en":"Send me news."}}]}"#,
        );
        let html = render(&f, Lang::En);
        assert!(html.starts_with("<div class=\"lg\" lang=\"en\"><h2>News</h2><form novalidate class=\"lg-form\">"));
        assert!(
            html.contains(
                "<div class=\"f\"><label for=\"lg-f-first_name\">First name <span class=\"o\">(optional)</span></label>\
             <input id=\"lg-f-first_name\" name=\"first_name\" type=\"text\" autocomplete=\"given-name\" inputmode=\"text\" maxlength=\"100\">\
             <p class=\"e\" id=\"lg-f-first_name-e\"></p></div>"
            ),
            "{html}"
        );
        assert!(html.contains("<input id=\"lg-f-email\" name=\"email\" aria-required=\"true\" type=\"email\" autocomplete=\"email\" inputmode=\"email\""));
        assert!(html.contains(
            "<div class=\"c\"><input id=\"lg-consent-marketing_email\" name=\"consent.marketing_email\" aria-required=\"true\" type=\"checkbox\">\
             <label for=\"lg-consent-marketing_email\">Send me news.</label><p class=\"e\" id=\"lg-consent-marketing_email-e\"></p></div>"
        ));
        assert!(html.ends_with(
            "<button type=\"submit\">Subscribe</button></form><p class=\"s\" role=\"status\" aria-live=\"polite\" \
             data-lost=\"The connection failed. Please try again.\"></p></div>"
        ));
    }

    #[test]
    fn a_variant_shows_its_texts_and_escapes_them() {
        let f = form(
            r#"{"id":"nl","kind":"newsletter","title":{"en":"News"},"fields":[{"name":"email","required":true}],
                "variants":[{"name":"a"},{"name":"b","title":{"en":"Ideas <weekly>"},"intro":{"en":"One mail & no spam."},"button":{"en":"Count me in"}}]}"#,
        );
        let control = render_as(&f, Lang::En, f.variants.first());
        assert_eq!(control, render(&f, Lang::En), "a variant without texts is the form as it is");
        assert!(control.contains("<h2>News</h2><form") && control.contains(">Subscribe</button>"), "{control}");
        let b = render_as(&f, Lang::En, f.variants.get(1));
        assert!(b.contains("<h2>Ideas &lt;weekly&gt;</h2><p class=\"i\">One mail &amp; no spam.</p><form"), "{b}");
        assert!(b.contains("<button type=\"submit\">Count me in</button>"), "{b}");
    }

    #[test]
    fn a_help_text_stands_under_the_label_and_describes_the_control() {
        let f = form(
            r#"{"id":"nl","kind":"newsletter","fields":[{"name":"email","required":true,"help":{"en":"We never share it <ever>.","de":"Wir geben sie nie weiter."}},
                {"name":"newsletter_ok","type":"checkbox","label":{"en":"Yes"},"help":{"en":"Monthly."}},{"name":"company"}]}"#,
        );
        let html = render(&f, Lang::En);
        assert!(
            html.contains(
                "<label for=\"lg-f-email\">Email</label><p class=\"n\" id=\"lg-f-email-h\">We never share it &lt;ever&gt;.</p>\
                 <input id=\"lg-f-email\" name=\"email\" aria-required=\"true\" type=\"email\" aria-describedby=\"lg-f-email-h\""
            ),
            "{html}"
        );
        assert!(html.contains("aria-describedby=\"lg-f-newsletter_ok-h\">"), "{html}");
        assert!(html.contains("<label for=\"lg-f-newsletter_ok\">Yes</label><p class=\"n\" id=\"lg-f-newsletter_ok-h\">Monthly.</p>"), "{html}");
        assert!(!html.contains("lg-f-company-h"), "no help, no description");
        assert!(render(&f, Lang::De).contains(">Wir geben sie nie weiter.</p>"));
    }

    #[test]
    fn everything_from_the_definition_is_escaped() {
        let f = form(
            r#"{"id":"x","kind":"giveaway","title":{"en":"<script>alert(1)</script>"},
                "fields":[{"name":"size","type":"select","label":{"en":"Size \"&\""},"options":[{"value":"a\"b","label":{"en":"<b>"}}]}],
                "giveaway":{"starts_at":"2026-01-01","ends_at":"2026-12-24","rules_url":"https://x.example/r?a=1&b=\"2\""},
                "consents":[{"id":"giveaway_rules","required":true,"text":{"en":"I <3 rules"}}]}"#,
        );
        let html = render(&f, Lang::En);
        assert!(!html.contains("<script>") && !html.contains("<b>") && !html.contains("<3"));
        assert!(html.contains("<h2>&lt;script&gt;alert(1)&lt;/script&gt;</h2>"));
        assert!(html.contains("<option value=\"a&quot;b\">&lt;b&gt;</option>"));
        assert!(html.contains("href=\"https://x.example/r?a=1&amp;b=&quot;2&quot;\">Giveaway rules</a> · Entries close: 24 December 2026</p>"));
    }

    #[test]
    fn legitimate_interest_is_a_notice_without_a_box_and_german_is_german() {
        let f = form(
            r#"{"id":"b","kind":"download_gate","mode":"b2b","fields":[{"name":"email","required":true},{"name":"message","type":"textarea"}],
                "consents":[{"id":"b2b_marketing","basis":"legitimate_interest","text":{"de":"Wir informieren Sie per E-Mail."}}]}"#,
        );
        let html = render(&f, Lang::De);
        assert!(html.contains("<p class=\"n\">Wir informieren Sie per E-Mail.</p>"));
        assert!(!html.contains("type=\"checkbox\""));
        assert!(html.contains("<textarea id=\"lg-f-message\" name=\"message\""));
        assert!(html.contains(">Download anfordern</button>"));
    }

    #[test]
    fn turnstile_has_a_slot_before_the_button_only_when_the_widget_shows_it() {
        let page_run = form(r#"{"id":"t","kind":"newsletter","fields":[{"name":"email","required":true}],"turnstile":{"secret":"TS"}}"#);
        assert!(page_run.turnstile.is_none(), "without a site key the page runs Turnstile");
        assert!(!render(&page_run, Lang::En).contains("<slot"));
        let own = form(
            r#"{"id":"t","kind":"newsletter","fields":[{"name":"email","required":true}],"turnstile":{"secret":"TS","site_key":"1x00000000000000000000AA"}}"#,
        );
        let widget = own.turnstile.as_ref().unwrap();
        assert_eq!(widget.site_key, "1x00000000000000000000AA");
        assert_eq!(widget.script_url, "https://challenges.cloudflare.com/turnstile/v0/api.js");
        let html = render(&own, Lang::En);
        let slot = html.find("<slot name=\"turnstile\"></slot>").expect("a slot");
        assert!(slot < html.find("<button").unwrap(), "{html}");
    }
}
