//! The collector's own small HTML pages: thanks and errors for the no-JavaScript form.

use shared::html::escape;
use shared::wire::ErrorBody;
use shared::Lang;

fn page(lang: Lang, title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<link rel=\"icon\" href=\"data:,\"><title>{title}</title><style>body{{font:17px/1.5 system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#1f1f1f}}\
li{{margin:.3em 0}}</style></head><body><main><h1>{title}</h1>{body}</main></body></html>",
        lang.tag()
    )
}

/// The page shown after a successful no-JavaScript submission.
pub fn thanks(lang: Lang) -> String {
    let (title, text) = match lang {
        Lang::En => ("Thank you!", "We have received your details. You can close this page."),
        Lang::De => ("Vielen Dank!", "Wir haben Ihre Angaben erhalten. Sie können diese Seite schließen."),
    };
    page(lang, title, &format!("<p>{text}</p>"))
}

/// The page listing what was wrong with a no-JavaScript submission. `label` names a field the way the
/// form does (`email` -> "E-Mail"); `back` is the form page (the `Referer`), linked so the visitor can fix it.
pub fn error(lang: Lang, body: &ErrorBody, label: &dyn Fn(&str) -> String, back: Option<&str>) -> String {
    let (title, back_text) = match lang {
        Lang::En => ("Please check your entries", "Go back to the form"),
        Lang::De => ("Bitte prüfen Sie Ihre Angaben", "Zurück zum Formular"),
    };
    let mut html = format!("<p>{}</p>", escape(&body.error.message));
    if !body.error.fields.is_empty() {
        html.push_str("<ul>");
        for (field, problems) in &body.error.fields {
            for p in problems {
                html.push_str(&format!("<li><strong>{}</strong>: {}</li>", escape(&label(field)), escape(&p.message)));
            }
        }
        html.push_str("</ul>");
    }
    if let Some(url) = back.filter(|u| u.starts_with("https://") || u.starts_with("http://")) {
        html.push_str(&format!("<p><a href=\"{}\">{back_text}</a></p>", escape(url)));
    }
    page(lang, title, &html)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::Code;

    #[test]
    fn error_pages_list_problems_and_escape_everything() {
        let errors = [("<script>".to_string(), Code::UnknownField), ("email".to_string(), Code::InvalidEmail)].into();
        let label = |f: &str| if f == "email" { "E-Mail".to_string() } else { f.to_string() };
        let html = error(Lang::De, &ErrorBody::validation(&errors, Lang::De), &label, Some("https://shop.example/?a=1&b=\"2"));
        assert!(html.contains("<html lang=\"de\">"));
        assert!(html.contains("<strong>E-Mail</strong>"));
        assert!(html.contains("href=\"https://shop.example/?a=1&amp;b=&quot;2\""));
        assert!(!error(Lang::En, &ErrorBody::validation(&errors, Lang::En), &label, Some("javascript:alert(1)")).contains("javascript:"));
        assert!(html.contains("Bitte geben Sie eine gültige E-Mail-Adresse ein"));
        assert!(html.contains("&lt;script&gt;") && !html.contains("<strong><script>"));
        assert!(thanks(Lang::En).contains("Thank you!"));
    }
}
