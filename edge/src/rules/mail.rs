//! Double opt-in emails: the confirmation mail's text in German and English, and the request that hands it
//! to the configured mail provider (generic JSON, Resend, Postmark, SendGrid or Brevo over HTTP; Cloudflare's
//! Email Service through the Worker's binding).

use crate::rules::crm::Outbound;
use serde::{Deserialize, Serialize};
use shared::config::MailProvider;
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

/// What an owner's mail is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    /// The lead is theirs now.
    Assigned,
    /// For a fallback owner: the lead's owner let its response time pass.
    Breached,
}

/// The links in an owner's mail: the lead's page, and the same page with each action chosen.
pub struct WorkLinks<'a> {
    /// The lead's page (`/v1/work/<token>`).
    pub open: &'a str,
}

/// The mail telling `owner` (name, address, language) about `lead` of the form titled `what`: what they
/// need to call (the fields, the source and campaign, the score with its reasons, the history), and the
/// links to open the lead, record the first contact, give it back, or disqualify it. `due` is when the first
/// contact is due under the agreement (RFC 3339), if one runs.
pub fn owner_notice(
    config: &MailConfig,
    owner: (&str, &str, Lang),
    lead: &shared::lead::Lead,
    what: &str,
    due: Option<&str>,
    notice: Notice,
    links: &WorkLinks,
) -> Mail {
    let (name, to, lang) = owner;
    let de = lang == Lang::De;
    let who = lead.fields.get("email").map_or("", String::as_str);
    let subject = match (notice, de) {
        (Notice::Assigned, true) => format!("Neuer Lead für Sie: {who} ({what})"),
        (Notice::Assigned, false) => format!("A new lead for you: {who} ({what})"),
        (Notice::Breached, true) => format!("Nicht rechtzeitig bearbeitet: {who} ({what})"),
        (Notice::Breached, false) => format!("Not worked in time: {who} ({what})"),
    };
    let mut lines: Vec<String> = Vec::new();
    lines.push(if de { format!("Hallo {name},") } else { format!("Hello {name},") });
    lines.push(String::new());
    lines.push(match (notice, de) {
        (Notice::Assigned, true) => "dieser Lead ist jetzt Ihrer.".to_owned(),
        (Notice::Assigned, false) => "this lead is yours now.".to_owned(),
        (Notice::Breached, true) => "niemand hat diesen Lead in der vereinbarten Zeit kontaktiert.".to_owned(),
        (Notice::Breached, false) => "nobody contacted this lead within the agreed time.".to_owned(),
    });
    if let Some(due) = due {
        let when = shared::time::parse(due).map(shared::time::rfc3339).unwrap_or_else(|| due.to_owned());
        lines.push(if de { format!("Erster Kontakt fällig bis {when} (UTC).") } else { format!("First contact due by {when} (UTC).") });
    }
    lines.push(String::new());
    for (field, value) in &lead.fields {
        lines.push(format!("{field}: {value}"));
    }
    lines.push(String::new());
    let source = lead.source.page.as_deref().unwrap_or("-");
    lines.push(format!("{}: {what} ({source})", if de { "Quelle" } else { "Source" }));
    if let Some(campaign) = lead.source.utm.get("utm_campaign") {
        lines.push(format!("{}: {campaign}", if de { "Kampagne" } else { "Campaign" }));
    }
    lines.push(format!("Score: {} ({})", lead.score.total, lead.score.reasons.join(", ")));
    lines.push(format!("{}: {}", if de { "Phase" } else { "Stage" }, lead.stage.as_str()));
    for change in &lead.history {
        lines.push(format!("  {} -> {} ({}, {}): {}", change.from.map_or("-", |s| s.as_str()), change.to.as_str(), change.at, change.by, change.reason));
    }
    lines.push(String::new());
    let actions: [(&str, &str); 4] = if de {
        [("Lead öffnen", ""), ("Kontaktiert", "?do=contacted"), ("Nicht meiner", "?do=not_mine"), ("Disqualifizieren", "?do=disqualify")]
    } else {
        [("Open the lead", ""), ("Contacted", "?do=contacted"), ("Not mine", "?do=not_mine"), ("Disqualify", "?do=disqualify")]
    };
    for (label, query) in actions {
        lines.push(format!("{label}: {}{query}", links.open));
    }
    let text = lines.join("\n") + "\n";
    let html = lines
        .iter()
        .map(|l| match actions.iter().find(|(label, _)| l.starts_with(&format!("{label}: "))) {
            Some((label, query)) => format!("<a href=\"{}{}\">{}</a><br>", escape(links.open), escape(query), escape(label)),
            None => format!("{}<br>", escape(l)),
        })
        .collect::<String>();
    Mail { from: config.from.clone(), to: to.to_owned(), subject, text, html: format!("<p>{html}</p>") }
}

/// The mail with an owner's sign-in link to their leads, valid for `hours`.
pub fn sign_in(config: &MailConfig, owner: (&str, &str, Lang), link: &str, hours: u64) -> Mail {
    let (name, to, lang) = owner;
    let (subject, text) = match lang {
        Lang::De => (
            "Ihre Leads: Anmeldelink".to_owned(),
            format!("Hallo {name},\n\nmit diesem Link sehen Sie Ihre Leads, die dringendsten zuerst:\n{link}\n\nDer Link ist {hours} Stunden gültig. Falls Sie ihn nicht angefordert haben, ignorieren Sie diese E-Mail.\n"),
        ),
        Lang::En => (
            "Your leads: sign-in link".to_owned(),
            format!("Hello {name},\n\nthis link shows your leads, the most urgent first:\n{link}\n\nThe link works for {hours} hours. If you did not ask for it, ignore this email.\n"),
        ),
    };
    let html = format!("<p>{}</p>", escape(&text).replace('\n', "<br>").replace(&escape(link), &format!("<a href=\"{0}\">{0}</a>", escape(link))));
    Mail { from: config.from.clone(), to: to.to_owned(), subject, text, html }
}

/// The name of the `send_email` binding Cloudflare's Email Service is reached through.
pub const BINDING: &str = "EMAIL";

/// Why the Email Service binding did not take a mail: the string code its error carries, if any, and the
/// error's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The error's `code` (`E_SENDER_NOT_VERIFIED`, `E_RATE_LIMIT_EXCEEDED`, ...).
    pub code: Option<String>,
    /// What the error says.
    pub message: String,
}

impl Refusal {
    /// Whether no retry can change the refusal (Cloudflare's table of the binding's error codes): a malformed
    /// or incomplete mail, an unverified sender, a recipient the binding may not write to or that is
    /// suppressed. Rate and daily limits, delivery and internal errors (and errors without a code) pass.
    pub fn is_final(&self) -> bool {
        matches!(
            self.code.as_deref(),
            Some(
                "E_VALIDATION_ERROR"
                    | "E_FIELD_MISSING"
                    | "E_TOO_MANY_RECIPIENTS"
                    | "E_TOO_MANY_ATTACHMENTS"
                    | "E_SENDER_NOT_VERIFIED"
                    | "E_SENDER_DOMAIN_NOT_AVAILABLE"
                    | "E_RECIPIENT_NOT_ALLOWED"
                    | "E_RECIPIENT_SUPPRESSED"
                    | "E_HEADER_NOT_ALLOWED"
                    | "E_CONTENT_TOO_LARGE"
            )
        )
    }
}

/// The request that hands `mail` (delivery `id`) to the configured provider's API with `key`: each
/// provider's address, authentication header and body shape. Where the provider takes an idempotency key
/// (Resend, and the generic `http` shape modelled on it) it is the delivery's id, so a retry after a lost
/// answer sends no second mail. `None` for Cloudflare's Email Service, which takes the mail through the
/// binding ([`BINDING`]) rather than a request.
pub fn request(config: &MailConfig, key: &str, mail: &Mail, id: &str) -> Option<Outbound> {
    use serde_json::json;
    // SendGrid and Brevo take the sender as an object, with the name apart.
    let sender = match shared::email::sender(&mail.from) {
        Some((Some(name), address)) => json!({"email": address, "name": name}),
        Some((None, address)) => json!({"email": address}),
        None => json!({"email": mail.from}),
    };
    let json = "application/json".to_owned();
    let (headers, body) = match config.provider {
        MailProvider::Http => (vec![("Authorization", ["Bearer ", key].concat()), ("Idempotency-Key", id.to_owned())], json!(mail)),
        MailProvider::Resend => (
            vec![("Authorization", ["Bearer ", key].concat()), ("Idempotency-Key", id.to_owned())],
            json!({"from": mail.from, "to": [mail.to], "subject": mail.subject, "text": mail.text, "html": mail.html}),
        ),
        MailProvider::Postmark => (
            vec![("X-Postmark-Server-Token", key.to_owned()), ("Accept", json.clone())],
            json!({
                "From": mail.from, "To": mail.to, "Subject": mail.subject, "TextBody": mail.text, "HtmlBody": mail.html,
                "MessageStream": config.stream.as_deref().unwrap_or("outbound"),
            }),
        ),
        MailProvider::Sendgrid => (
            vec![("Authorization", ["Bearer ", key].concat())],
            json!({
                "personalizations": [{"to": [{"email": mail.to}]}], "from": sender, "subject": mail.subject,
                "content": [{"type": "text/plain", "value": mail.text}, {"type": "text/html", "value": mail.html}],
            }),
        ),
        MailProvider::Brevo => (
            vec![("api-key", key.to_owned()), ("Accept", json.clone())],
            json!({"sender": sender, "to": [{"email": mail.to}], "subject": mail.subject, "htmlContent": mail.html, "textContent": mail.text}),
        ),
        MailProvider::Cloudflare => return None,
    };
    let mut headers = headers;
    headers.insert(0, ("Content-Type", json));
    Some(Outbound { method: "POST", url: config.endpoint().to_owned(), headers, body: Some(body.to_string()) })
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

    /// The same mail for every provider's request.
    fn sent(provider: &str, url: Option<&str>) -> Outbound {
        request_for(provider, url).expect("an HTTP provider")
    }

    fn request_for(provider: &str, url: Option<&str>) -> Option<Outbound> {
        let mut config = config();
        config.provider = serde_json::from_value(serde_json::json!(provider)).unwrap();
        config.url = url.map(str::to_owned);
        let mail = Mail {
            from: "Beispiel GmbH <news@example.com>".into(),
            to: "ada@example.com".into(),
            subject: "Please confirm".into(),
            text: "Hello".into(),
            html: "<p>Hello</p>".into(),
        };
        request(&config, "k3y", &mail, "dl_01")
    }

    fn body(r: &Outbound) -> serde_json::Value {
        serde_json::from_str(r.body.as_deref().unwrap()).unwrap()
    }

    fn header<'a>(r: &'a Outbound, name: &str) -> Option<&'a str> {
        r.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    #[test]
    fn the_generic_api_gets_the_mail_as_json_a_bearer_key_and_the_delivery_as_idempotency_key() {
        let r = sent("http", Some("https://mail.example/emails"));
        assert_eq!((r.method, r.url.as_str()), ("POST", "https://mail.example/emails"));
        assert_eq!(
            (header(&r, "Authorization"), header(&r, "Idempotency-Key"), header(&r, "Content-Type")),
            (Some("Bearer k3y"), Some("dl_01"), Some("application/json"))
        );
        assert_eq!(
            body(&r),
            serde_json::json!({"from": "Beispiel GmbH <news@example.com>", "to": "ada@example.com", "subject": "Please confirm", "text": "Hello", "html": "<p>Hello</p>"})
        );
    }

    #[test]
    fn each_provider_gets_its_own_address_header_and_shape() {
        let r = sent("resend", None);
        assert_eq!(
            (r.url.as_str(), header(&r, "Authorization"), header(&r, "Idempotency-Key")),
            ("https://api.resend.com/emails", Some("Bearer k3y"), Some("dl_01"))
        );
        assert_eq!(body(&r)["to"], serde_json::json!(["ada@example.com"]));

        let r = sent("postmark", None);
        assert_eq!(
            (r.url.as_str(), header(&r, "X-Postmark-Server-Token"), header(&r, "Authorization")),
            ("https://api.postmarkapp.com/email", Some("k3y"), None)
        );
        assert_eq!(
            body(&r),
            serde_json::json!({"From": "Beispiel GmbH <news@example.com>", "To": "ada@example.com", "Subject": "Please confirm",
                               "TextBody": "Hello", "HtmlBody": "<p>Hello</p>", "MessageStream": "outbound"})
        );

        let r = sent("sendgrid", None);
        assert_eq!((r.url.as_str(), header(&r, "Authorization")), ("https://api.sendgrid.com/v3/mail/send", Some("Bearer k3y")));
        assert_eq!(
            body(&r),
            serde_json::json!({"personalizations": [{"to": [{"email": "ada@example.com"}]}], "from": {"email": "news@example.com", "name": "Beispiel GmbH"},
                               "subject": "Please confirm", "content": [{"type": "text/plain", "value": "Hello"}, {"type": "text/html", "value": "<p>Hello</p>"}]})
        );

        let r = sent("brevo", Some("http://127.0.0.1:9/v3/smtp/email"));
        assert_eq!((r.url.as_str(), header(&r, "api-key")), ("http://127.0.0.1:9/v3/smtp/email", Some("k3y")), "a url set is used, a stand-in here");
        assert_eq!(
            body(&r),
            serde_json::json!({"sender": {"email": "news@example.com", "name": "Beispiel GmbH"}, "to": [{"email": "ada@example.com"}],
                               "subject": "Please confirm", "htmlContent": "<p>Hello</p>", "textContent": "Hello"})
        );
    }

    #[test]
    fn cloudflare_takes_the_mail_through_its_binding_and_only_some_of_its_errors_are_final() {
        assert_eq!(request_for("cloudflare", None), None, "no HTTP request: the binding sends");
        let refusal = |code: Option<&str>| Refusal { code: code.map(str::to_owned), message: "x".into() };
        assert!(refusal(Some("E_SENDER_NOT_VERIFIED")).is_final());
        assert!(refusal(Some("E_RECIPIENT_SUPPRESSED")).is_final());
        assert!(!refusal(Some("E_RATE_LIMIT_EXCEEDED")).is_final(), "a limit passes");
        assert!(!refusal(Some("E_INTERNAL_SERVER_ERROR")).is_final());
        assert!(!refusal(None).is_final(), "an error without a code is retried");
    }
}
