//! Double opt-in emails: the confirmation mail's text in German and English, and the request that hands it
//! to the configured mail API.

use crate::rules::crm::Outbound;
use serde::{Deserialize, Serialize};
use shared::form::MailConfig;
use shared::html::escape;
use shared::Lang;

/// A mail ready to send.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mail {
    /// The sender.
    pub from: String,
    /// The recipient.
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body.
    pub html: String,
}

/// What a confirmation mail asks the address owner to confirm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ask {
    /// The address itself (double opt-in of a new lead).
    Address,
    /// Changes a repeat submission asked for on a confirmed lead.
    Changes,
    /// Nothing to confirm: a confirmed lead asked a download gate for its file again, and the link
    /// leads to the page with the download.
    Download,
}

/// The links a confirmation mail carries.
pub struct Links<'a> {
    /// Confirms (opens a page with a confirm button).
    pub confirm: &'a str,
    /// "This was not me / withdraw": withdraws consent and erases a still-unconfirmed lead.
    pub withdraw: &'a str,
}

/// The confirmation mail for `to` in `lang`, asking to confirm `what` (the form's title) via the links.
pub fn confirmation(config: &MailConfig, lang: Lang, to: &str, what: Option<&str>, ask: Ask, links: &Links) -> Mail {
    let hours = config.confirm_within_ms() / 3_600_000;
    let days = config.erase_unconfirmed_after_ms() / 86_400_000;
    let (subject, intro, validity, ignore, not_me) = match (lang, ask) {
        (Lang::De, Ask::Address) => (
            "Bitte bestätigen Sie Ihre E-Mail-Adresse".to_owned(),
            format!("bitte bestätigen Sie mit diesem Link, dass Sie {} erhalten möchten:", what.map_or("E-Mails von uns".into(), |w| format!("„{w}“"))),
            format!("Der Link ist {hours} Stunden gültig."),
            format!("Falls Sie das nicht angefordert haben, ignorieren Sie diese E-Mail: Ohne Bestätigung löschen wir Ihre Angaben nach {days} Tagen."),
            "Das war ich nicht / Einwilligung widerrufen:",
        ),
        (Lang::De, Ask::Changes) => (
            "Bitte bestätigen Sie Ihre geänderten Angaben".to_owned(),
            format!(
                "jemand hat Ihre Angaben zu {} mit dieser E-Mail-Adresse ergänzt. Bitte bestätigen Sie die Änderungen mit diesem Link:",
                what.map_or("unserem Angebot".into(), |w| format!("„{w}“"))
            ),
            format!("Der Link ist {hours} Stunden gültig."),
            "Falls Sie das nicht waren, ignorieren Sie diese E-Mail: Ohne Bestätigung ändert sich nichts.".to_owned(),
            "Das war ich nicht / alle Einwilligungen widerrufen:",
        ),
        (Lang::En, Ask::Address) => (
            "Please confirm your email address".to_owned(),
            format!("please confirm with this link that you want to receive {}:", what.map_or("emails from us".into(), |w| format!("“{w}”"))),
            format!("The link works for {hours} hours."),
            format!("If you did not ask for this, ignore this email: without confirmation we erase your details after {days} days."),
            "This was not me / withdraw my consent:",
        ),
        (Lang::En, Ask::Changes) => (
            "Please confirm the changes to your details".to_owned(),
            format!(
                "someone added to your details for {} with this email address. Please confirm the changes with this link:",
                what.map_or("our offer".into(), |w| format!("“{w}”"))
            ),
            format!("The link works for {hours} hours."),
            "If this was not you, ignore this email: without confirmation nothing changes.".to_owned(),
            "This was not me / withdraw all my consent:",
        ),
        (Lang::De, Ask::Download) => (
            "Ihr Download".to_owned(),
            format!("hier ist der Link zu {}, den Sie angefordert haben:", what.map_or("unserem Download".into(), |w| format!("„{w}“"))),
            format!("Der Link ist {hours} Stunden gültig."),
            "Falls Sie das nicht angefordert haben, ignorieren Sie diese E-Mail: Es ändert sich nichts.".to_owned(),
            "Keine E-Mails mehr / alle Einwilligungen widerrufen:",
        ),
        (Lang::En, Ask::Download) => (
            "Your download".to_owned(),
            format!("here is the link to {} you asked for:", what.map_or("our download".into(), |w| format!("“{w}”"))),
            format!("The link works for {hours} hours."),
            "If you did not ask for this, ignore this email: nothing changes.".to_owned(),
            "No more emails / withdraw all my consent:",
        ),
    };
    let greeting = if lang == Lang::De { "Guten Tag," } else { "Hello," };
    let button = match (lang, ask) {
        (Lang::De, Ask::Address) => "E-Mail-Adresse bestätigen",
        (Lang::De, Ask::Changes) => "Änderungen bestätigen",
        (Lang::De, Ask::Download) => "Zum Download",
        (Lang::En, Ask::Address) => "Confirm my email address",
        (Lang::En, Ask::Changes) => "Confirm the changes",
        (Lang::En, Ask::Download) => "Go to the download",
    };
    let text = format!("{greeting}\n\n{intro}\n{}\n\n{validity}\n{ignore}\n\n{not_me}\n{}\n", links.confirm, links.withdraw);
    let html = format!(
        "<p>{}</p><p>{}</p><p><a href=\"{}\">{}</a></p><p>{}<br>{}</p><p>{} <a href=\"{}\">{}</a></p>",
        escape(greeting),
        escape(&intro),
        escape(links.confirm),
        escape(button),
        escape(&validity),
        escape(&ignore),
        escape(not_me),
        escape(links.withdraw),
        escape(links.withdraw),
    );
    Mail { from: config.from.clone(), to: to.to_owned(), subject, text, html }
}

/// The mail API request: the mail as JSON, the key as a bearer token.
pub fn request(config: &MailConfig, key: &str, mail: &Mail) -> Outbound {
    Outbound {
        method: "POST",
        url: config.url.clone(),
        headers: vec![("Content-Type", "application/json".into()), ("Authorization", ["Bearer ", key].concat())],
        body: Some(serde_json::to_string(mail).unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> MailConfig {
        serde_json::from_value(
            serde_json::json!({"url": "https://mail.example/emails", "from": "Beispiel GmbH <news@example.com>", "confirm_within_hours": 24}),
        )
        .unwrap()
    }

    #[test]
    fn the_confirmation_mail_says_what_how_long_and_what_happens_otherwise() {
        let link = "https://c.example/v1/confirm/abc.def";
        let withdraw = "https://c.example/v1/withdraw/ghi.jkl";
        let links = Links { confirm: link, withdraw };
        let de = confirmation(&config(), Lang::De, "erika@example.de", Some("Der <Newsletter>"), Ask::Address, &links);
        assert_eq!(de.subject, "Bitte bestätigen Sie Ihre E-Mail-Adresse");
        assert!(de.text.contains(link) && de.text.contains("24 Stunden") && de.text.contains("nach 30 Tagen"));
        assert!(de.html.contains("„Der &lt;Newsletter&gt;“"), "{}", de.html);
        assert!(de.html.contains(&format!("<a href=\"{link}\">E-Mail-Adresse bestätigen</a>")));
        assert!(de.text.contains(&format!("Das war ich nicht / Einwilligung widerrufen:\n{withdraw}")));
        assert!(de.html.contains(&format!("<a href=\"{withdraw}\">")));
        let en = confirmation(&config(), Lang::En, "ada@example.com", None, Ask::Address, &links);
        assert!(en.text.starts_with("Hello,\n\nplease confirm with this link that you want to receive emails from us:"));
        assert!(en.text.contains(withdraw));
        let changes = confirmation(&config(), Lang::En, "ada@example.com", Some("News"), Ask::Changes, &links);
        assert_eq!(changes.subject, "Please confirm the changes to your details");
        assert!(changes.text.contains("without confirmation nothing changes") && changes.text.contains(link) && changes.text.contains(withdraw));
    }

    #[test]
    fn the_api_gets_json_and_a_bearer_key() {
        let mail = confirmation(
            &config(),
            Lang::En,
            "ada@example.com",
            None,
            Ask::Address,
            &Links { confirm: "https://c.example/x", withdraw: "https://c.example/y" },
        );
        let r = request(&config(), "k3y", &mail);
        assert_eq!(r.url, "https://mail.example/emails");
        assert!(r.headers.contains(&("Authorization", "Bearer k3y".into())));
        let body: serde_json::Value = serde_json::from_str(r.body.as_deref().unwrap()).unwrap();
        assert_eq!(body["to"], "ada@example.com");
        assert_eq!(body["from"], "Beispiel GmbH <news@example.com>");
    }
}
