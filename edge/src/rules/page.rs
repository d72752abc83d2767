//! The collector's own small HTML pages: thanks and errors for the no-JavaScript form, and the pages behind
//! the links it sends (double opt-in confirmation, downloads).

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

/// The page after a double opt-in link was clicked: `first` is false when it had been clicked before (the
/// link works once; a second click changes nothing and says so). `download` offers a gated file.
pub fn confirmed(lang: Lang, first: bool, download: Option<&str>) -> String {
    let (title, text, link) = match (lang, first) {
        (Lang::En, true) => ("Thank you for confirming!", "Your email address is confirmed.", "Download now"),
        (Lang::En, false) => ("Already confirmed", "This link was used before: your email address is confirmed.", "Download now"),
        (Lang::De, true) => ("Vielen Dank für Ihre Bestätigung!", "Ihre E-Mail-Adresse ist bestätigt.", "Jetzt herunterladen"),
        (Lang::De, false) => ("Bereits bestätigt", "Dieser Link wurde schon verwendet: Ihre E-Mail-Adresse ist bestätigt.", "Jetzt herunterladen"),
    };
    let offer = download.map(|url| format!("<p><a href=\"{}\">{link}</a></p>", escape(url))).unwrap_or_default();
    page(lang, title, &format!("<p>{text}</p>{offer}"))
}

/// The page behind a confirmation link: one button that confirms. Only its POST confirms, because mail
/// security scanners follow the links in mails (GET) without the person.
pub fn confirm_prompt(lang: Lang, changes: bool) -> String {
    let (title, text, button) = match (lang, changes) {
        (Lang::En, false) => ("Confirm your email address", "Press the button to confirm that you want to receive our emails.", "Confirm my email address"),
        (Lang::En, true) => ("Confirm the changes", "Press the button to confirm the changes to your details.", "Confirm the changes"),
        (Lang::De, false) => {
            ("E-Mail-Adresse bestätigen", "Bitte bestätigen Sie mit dem Knopf, dass Sie unsere E-Mails erhalten möchten.", "E-Mail-Adresse bestätigen")
        }
        (Lang::De, true) => ("Änderungen bestätigen", "Bitte bestätigen Sie mit dem Knopf die Änderungen an Ihren Angaben.", "Änderungen bestätigen"),
    };
    page(lang, title, &format!("<p>{text}</p><form method=\"post\"><button type=\"submit\">{button}</button></form>"))
}

/// The page behind a link mailed to confirm one held change: exactly what pressing the button will store
/// (each field with its value, each consent with its text), then the button. `fields` are (label, value)
/// pairs and `consents` the texts of the purposes it would grant; everything is escaped.
pub fn change_prompt(lang: Lang, fields: &[(String, String)], consents: &[String]) -> String {
    let (title, intro, consent_intro, button) = match lang {
        Lang::En => {
            ("Confirm the changes", "Pressing the button stores these details with your address:", "and records your consent to:", "Confirm the changes")
        }
        Lang::De => (
            "Änderungen bestätigen",
            "Mit dem Knopf speichern wir diese Angaben zu Ihrer Adresse:",
            "und vermerken Ihre Einwilligung in:",
            "Änderungen bestätigen",
        ),
    };
    let mut body = String::new();
    if !fields.is_empty() {
        body.push_str(&format!("<p>{intro}</p><ul>"));
        for (label, value) in fields {
            body.push_str(&format!("<li>{}: <strong>{}</strong></li>", escape(label), escape(value)));
        }
        body.push_str("</ul>");
    }
    if !consents.is_empty() {
        body.push_str(&format!("<p>{}</p><ul>", if fields.is_empty() { intro } else { consent_intro }));
        for text in consents {
            body.push_str(&format!("<li>{}</li>", escape(text)));
        }
        body.push_str("</ul>");
    }
    page(lang, title, &format!("{body}<form method=\"post\"><button type=\"submit\">{button}</button></form>"))
}

/// The page behind a link whose change is not held any more: applied before, or given way to newer ones.
pub fn change_gone(lang: Lang) -> String {
    let (title, text) = match lang {
        Lang::En => ("Nothing to confirm", "The changes this link was sent for were confirmed before, or are no longer waiting. Nothing was changed."),
        Lang::De => ("Nichts zu bestätigen", "Die Änderungen zu diesem Link wurden schon bestätigt oder warten nicht mehr. Es wurde nichts geändert."),
    };
    page(lang, title, &format!("<p>{text}</p>"))
}

/// The page after changes held for a confirmed lead were confirmed (or found already applied).
pub fn changes_confirmed(lang: Lang) -> String {
    let (title, text) = match lang {
        Lang::En => ("Thank you for confirming!", "Your details are up to date."),
        Lang::De => ("Vielen Dank für Ihre Bestätigung!", "Ihre Angaben sind aktualisiert."),
    };
    page(lang, title, &format!("<p>{text}</p>"))
}

/// The page behind the withdraw link of a confirmation mail: what pressing the button does, and the button.
pub fn withdraw_prompt(lang: Lang) -> String {
    let (title, text, button) = match lang {
        Lang::En => (
            "Withdraw your consent",
            "If you did not ask for our emails, or no longer want them, press the button: we record the withdrawal, \
             stop using your address for marketing, and erase details that were never confirmed.",
            "Withdraw my consent",
        ),
        Lang::De => (
            "Einwilligung widerrufen",
            "Wenn Sie unsere E-Mails nicht angefordert haben oder nicht mehr möchten, drücken Sie den Knopf: Wir vermerken den \
             Widerruf, nutzen Ihre Adresse nicht mehr für Werbung und löschen Angaben, die nie bestätigt wurden.",
            "Einwilligung widerrufen",
        ),
    };
    page(lang, title, &format!("<p>{text}</p><form method=\"post\"><button type=\"submit\">{button}</button></form>"))
}

/// The page after a withdrawal: `erased` when the lead was still unconfirmed and is now gone.
pub fn withdrawn(lang: Lang, erased: bool) -> String {
    let (title, text) = match (lang, erased) {
        (Lang::En, false) => ("Your consent is withdrawn", "We have recorded your withdrawal and will not use your address for marketing any more."),
        (Lang::En, true) => ("Your details are erased", "We have recorded your withdrawal and erased the details, which were never confirmed."),
        (Lang::De, false) => ("Ihre Einwilligung ist widerrufen", "Wir haben Ihren Widerruf vermerkt und nutzen Ihre Adresse nicht mehr für Werbung."),
        (Lang::De, true) => ("Ihre Angaben sind gelöscht", "Wir haben Ihren Widerruf vermerkt und die nie bestätigten Angaben gelöscht."),
    };
    page(lang, title, &format!("<p>{text}</p>"))
}

/// The page for a request a browser navigated to and the collector refused (an unknown address, a wrong
/// method): the error's message, and nothing else.
pub fn problem(lang: Lang, body: &ErrorBody) -> String {
    let title = match lang {
        Lang::En => "This did not work",
        Lang::De => "Das hat nicht geklappt",
    };
    page(lang, title, &format!("<p>{}</p>", escape(&body.error.message)))
}

/// What is wrong with a link the collector sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkProblem {
    /// Not a link of ours (altered, cut off or forged).
    Invalid,
    /// Past its expiry.
    Expired,
    /// Its lead no longer exists (erased, or never confirmed in time).
    Gone,
    /// A download link whose lead's downloads reached the form's hourly limit.
    TooOften,
}

/// The page for a confirmation or download link that cannot be honoured.
pub fn link_problem(lang: Lang, problem: LinkProblem) -> String {
    let (title, text) = match (lang, problem) {
        (Lang::En, LinkProblem::Invalid) => ("This link is not valid", "Please use the link exactly as it arrived in your email."),
        (Lang::En, LinkProblem::Expired) => ("This link has expired", "Please fill in the form again to get a new link."),
        (Lang::En, LinkProblem::Gone) => ("Nothing to see here any more", "The details this link belonged to have been erased. Please fill in the form again."),
        (Lang::De, LinkProblem::Invalid) => ("Dieser Link ist ungültig", "Bitte verwenden Sie den Link genau so, wie er in Ihrer E-Mail steht."),
        (Lang::De, LinkProblem::Expired) => ("Dieser Link ist abgelaufen", "Bitte füllen Sie das Formular erneut aus, um einen neuen Link zu erhalten."),
        (Lang::De, LinkProblem::Gone) => ("Hier gibt es nichts mehr", "Die zugehörigen Angaben wurden gelöscht. Bitte füllen Sie das Formular erneut aus."),
        (Lang::En, LinkProblem::TooOften) => ("This link was used very often", "Please try again in an hour; the link stays valid until it expires."),
        (Lang::De, LinkProblem::TooOften) => {
            ("Dieser Link wurde sehr oft benutzt", "Bitte versuchen Sie es in einer Stunde erneut; der Link bleibt bis zu seinem Ablauf gültig.")
        }
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

/// An owner's page of one lead (behind the link in their mail): what they need to call, and the buttons
/// for what they did. `said` is what their last press did; `chosen` is the action the mail's link named,
/// whose button gets the focus (the press itself is theirs to make: mail scanners follow links).
pub fn work(lang: Lang, lead: &shared::lead::Lead, what: &str, chosen: Option<&str>, said: Option<&str>) -> String {
    let de = lang == Lang::De;
    let mut body = String::new();
    if let Some(said) = said {
        body.push_str(&format!("<p role=\"status\"><strong>{}</strong></p>", escape(said)));
    }
    body.push_str("<dl>");
    let mut row = |k: &str, v: &str| body.push_str(&format!("<dt>{}</dt><dd>{}</dd>", escape(k), escape(v)));
    for (field, value) in &lead.fields {
        row(field, value);
    }
    row(if de { "Quelle" } else { "Source" }, &format!("{what} ({})", lead.source.page.as_deref().unwrap_or("-")));
    if let Some(campaign) = lead.source.utm.get("utm_campaign") {
        row(if de { "Kampagne" } else { "Campaign" }, campaign);
    }
    row("Score", &format!("{} ({})", lead.score.total, lead.score.reasons.join(", ")));
    row(if de { "Phase" } else { "Stage" }, lead.stage.as_str());
    row(if de { "Zuständig" } else { "Owner" }, lead.owner.as_deref().unwrap_or("-"));
    if let Some(sla) = &lead.sla {
        let state = sla.breached.as_ref().map_or(String::new(), |b| format!(" ({} {b})", if de { "überschritten" } else { "breached" }));
        row(if de { "Erster Kontakt fällig" } else { "First contact due" }, &format!("{}{state}", sla.due));
    }
    if let Some(touch) = &lead.first_touch {
        row(if de { "Erster Kontakt" } else { "First contact" }, &format!("{} ({}, {})", touch.at, touch.by, touch.via));
    }
    body.push_str("</dl>");
    if !lead.history.is_empty() {
        body.push_str("<ul>");
        for c in &lead.history {
            let from = c.from.map_or("-", |s| s.as_str());
            body.push_str(&format!("<li>{} → {} ({}, {}): {}</li>", from, c.to.as_str(), escape(&c.at), escape(&c.by), escape(&c.reason)));
        }
        body.push_str("</ul>");
    }
    let focus = |action: &str| if chosen == Some(action) { " autofocus" } else { "" };
    let (contacted, not_mine, disqualify, reason) =
        if de { ("Kontaktiert", "Nicht meiner", "Disqualifizieren", "Grund") } else { ("Contacted", "Not mine", "Disqualify", "Reason") };
    body.push_str(&format!(
        "<form method=\"post\"><input type=\"hidden\" name=\"action\" value=\"contacted\"><button type=\"submit\" id=\"contacted\"{}>{contacted}</button></form>\
<form method=\"post\"><input type=\"hidden\" name=\"action\" value=\"not_mine\"><button type=\"submit\" id=\"not-mine\"{}>{not_mine}</button></form>\
<form method=\"post\"><input type=\"hidden\" name=\"action\" value=\"disqualify\"><label>{reason} <input name=\"reason\" required maxlength=\"500\"></label> \
<button type=\"submit\" id=\"disqualify\"{}>{disqualify}</button></form>",
        focus("contacted"),
        focus("not_mine"),
        focus("disqualify")
    ));
    let title = lead.fields.get("email").map_or("Lead", String::as_str);
    page(lang, &escape(title), &body)
}

/// The page for an owner's link to a lead that is no longer theirs.
pub fn not_yours(lang: Lang) -> String {
    let (title, text) = match lang {
        Lang::En => ("This lead is no longer yours", "Someone else has it now; nothing was changed."),
        Lang::De => ("Dieser Lead ist nicht mehr Ihrer", "Jemand anderes ist jetzt zuständig; es wurde nichts geändert."),
    };
    page(lang, title, &format!("<p>{text}</p>"))
}

/// The page where an owner asks for their sign-in link; `sent` after the request, which says the same
/// whether or not the address belongs to an owner.
pub fn sign_in(lang: Lang, sent: bool) -> String {
    let de = lang == Lang::De;
    let title = if de { "Ihre Leads" } else { "Your leads" };
    if sent {
        let text = if de {
            "Wenn die Adresse zu einer zuständigen Person gehört, ist der Anmeldelink unterwegs. Er ist 12 Stunden gültig."
        } else {
            "If the address belongs to an owner, the sign-in link is on its way. It works for 12 hours."
        };
        return page(lang, title, &format!("<p role=\"status\">{text}</p>"));
    }
    let (text, label, button) = if de {
        ("Wir schicken Ihnen einen Link zu Ihren Leads an Ihre hinterlegte Adresse.", "E-Mail-Adresse", "Link schicken")
    } else {
        ("We send a link to your leads to the address on file.", "Email address", "Send me the link")
    };
    page(
        lang,
        title,
        &format!("<p>{text}</p><form method=\"post\"><label>{label} <input type=\"email\" name=\"email\" required autocomplete=\"email\"></label> <button type=\"submit\">{button}</button></form>"),
    )
}

/// An owner's leads (`rows`: the lead and the link to its page), the most urgent first.
pub fn mine(lang: Lang, name: &str, rows: &[(shared::lead::Lead, String)], now_ms: u64) -> String {
    let de = lang == Lang::De;
    let mut body = String::new();
    if rows.is_empty() {
        body.push_str(if de { "<p>Sie haben gerade keine Leads.</p>" } else { "<p>You have no leads right now.</p>" });
    } else {
        let heads: [&str; 5] = if de { ["Lead", "Formular", "Phase", "Erster Kontakt", "Fällig"] } else { ["Lead", "Form", "Stage", "First contact", "Due"] };
        body.push_str("<table><thead><tr>");
        for h in heads {
            body.push_str(&format!("<th scope=\"col\">{h}</th>"));
        }
        body.push_str("</tr></thead><tbody>");
        for (lead, link) in rows {
            let who = lead.fields.get("email").map_or("-", String::as_str);
            let touched = lead.first_touch.as_ref().map_or("-".to_owned(), |t| t.at.clone());
            let due = match &lead.sla {
                Some(s) if s.breached.is_some() => if de { "überschritten" } else { "breached" }.to_owned(),
                Some(s) if lead.first_touch.is_none() => {
                    let late = shared::time::parse(&s.due).is_some_and(|d| d < now_ms);
                    format!("{}{}", s.due, if late { " !" } else { "" })
                }
                _ => "-".to_owned(),
            };
            body.push_str(&format!(
                "<tr><td><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(link),
                escape(who),
                escape(&lead.form),
                lead.stage.as_str(),
                escape(&touched),
                escape(&due)
            ));
        }
        body.push_str("</tbody></table>");
    }
    let title = if de { format!("Leads von {name}") } else { format!("{name}'s leads") };
    page(lang, &escape(&title), &body)
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

    #[test]
    fn link_pages_confirm_and_withdraw_only_by_a_button() {
        for lang in [Lang::En, Lang::De] {
            for page in [confirm_prompt(lang, false), confirm_prompt(lang, true), withdraw_prompt(lang)] {
                assert!(page.contains("<form method=\"post\"><button type=\"submit\">"), "{page}");
            }
        }
        assert!(withdrawn(Lang::De, true).contains("gelöscht"));
        for lang in [Lang::En, Lang::De] {
            let change = change_prompt(lang, &[("Company".into(), "<b>Evil</b> Corp".into())], &["Send me <partner> offers.".into()]);
            assert!(change.contains("&lt;b&gt;Evil&lt;/b&gt; Corp") && change.contains("Send me &lt;partner&gt; offers."), "{change}");
            assert!(change.contains("<form method=\"post\"><button type=\"submit\">"));
        }
        let missing = problem(Lang::De, &ErrorBody::new(Code::NotFound, Lang::De));
        assert!(missing.contains("<title>Das hat nicht geklappt</title>") && missing.contains("Nicht gefunden."));
        assert!(withdrawn(Lang::En, false).contains("withdrawal"));
    }
}
