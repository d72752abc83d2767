//! Double opt-in emails: the confirmation mail's text in German and English, and the request that hands it
//! to the configured mail API.

use crate::crm::Outbound;
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

/// The confirmation mail for `to` in `lang`, asking to confirm `what` (the form's title) via `link`.
pub fn confirmation(config: &MailConfig, lang: Lang, to: &str, what: Option<&str>, link: &str) -> Mail {
    let hours = config.confirm_within_ms() / 3_600_000;
    let days = config.erase_unconfirmed_after_ms() / 86_400_000;
    let (subject, intro, validity, ignore) = match lang {
        Lang::De => (
            "Bitte bestätigen Sie Ihre E-Mail-Adresse".to_owned(),
            format!("bitte bestätigen Sie mit diesem Link, dass Sie {} erhalten möchten:", what.map_or("E-Mails von uns".into(), |w| format!("„{w}“"))),
            format!("Der Link ist {hours} Stunden gültig."),
            format!("Falls Sie das nicht angefordert haben, ignorieren Sie diese E-Mail: Ohne Bestätigung löschen wir Ihre Angaben nach {days} Tagen."),
        ),
        Lang::En => (
            "Please confirm your email address".to_owned(),
            format!("please confirm with this link that you want to receive {}:", what.map_or("emails from us".into(), |w| format!("“{w}”"))),
            format!("The link works for {hours} hours."),
            format!("If you did not ask for this, ignore this email: without confirmation we erase your details after {days} days."),
        ),
    };
    let greeting = if lang == Lang::De { "Guten Tag," } else { "Hello," };
    let button = if lang == Lang::De { "E-Mail-Adresse bestätigen" } else { "Confirm my email address" };
    let text = format!("{greeting}\n\n{intro}\n{link}\n\n{validity}\n{ignore}\n");
    let html = format!(
        "<p>{}</p><p>{}</p><p><a href=\"{}\">{}</a></p><p>{}<br>{}</p>",
        escape(greeting),
        escape(&intro),
        escape(link),
        escape(button),
        escape(&validity),
        escape(&ignore)
    );
    Mail { from: config.from.clone(), to: to.to_owned(), subject, text, html }
}

/// The mail API request: the mail as JSON, the key as a bearer token.
pub fn request(config: &MailConfig, key: &str, mail: &Mail) -> Outbound {
    Outbound {
        method: "POST",
        url: config.url.clone(),
        headers: vec![("Content-Type", "application/json".into()), ("Authorization", ["Bearer ", key].concat())],
        body: Some(serde_json::to_string(mail).expect("a mail always serialises")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> MailConfig {
        serde_json::from_value(serde_json::json!({"url": "https://mail.example/emails", "from": "Beispiel GmbH <news@example.com>", "confirm_within_hours": 24})).unwrap()
    }

    #[test]
    fn the_confirmation_mail_says_what_how_long_and_what_happens_otherwise() {
        let link = "https://c.example/v1/confirm/abc.def";
        let de = confirmation(&config(), Lang::De, "erika@example.de", Some("Der <Newsletter>"), link);
        assert_eq!(de.subject, "Bitte bestätigen Sie Ihre E-Mail-Adresse");
        assert!(de.text.contains(link) && de.text.contains("24 Stunden") && de.text.contains("nach 30 Tagen"));
        assert!(de.html.contains("„Der &lt;Newsletter&gt;“"), "{}", de.html);
        assert!(de.html.contains(&format!("<a href=\"{link}\">E-Mail-Adresse bestätigen</a>")));
        let en = confirmation(&config(), Lang::En, "ada@example.com", None, link);
        assert!(en.text.starts_with("Hello,\n\nplease confirm with this link that you want to receive emails from us:"));
    }

    #[test]
    fn the_api_gets_json_and_a_bearer_key() {
        let mail = confirmation(&config(), Lang::En, "ada@example.com", None, "https://c.example/x");
        let r = request(&config(), "k3y", &mail);
        assert_eq!(r.url, "https://mail.example/emails");
        assert!(r.headers.contains(&("Authorization", "Bearer k3y".into())));
        let body: serde_json::Value = serde_json::from_str(r.body.as_deref().unwrap()).unwrap();
        assert_eq!(body["to"], "ada@example.com");
        assert_eq!(body["from"], "Beispiel GmbH <news@example.com>");
    }
}
