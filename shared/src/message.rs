//! Stable error codes and every user-facing text (German and English), so widget and edge say the same thing.
//!
//! Codes are part of the wire contract (they appear in 4xx bodies and webhook consumers may key on them):
//! add new ones, never rename. Texts are plain `&'static str` on purpose: formatting machinery costs the
//! widget kilobytes, and a message that names its field's label is composed by the form, not here.

use crate::Lang;
use serde::{Deserialize, Serialize};

/// Why a value, a submission or a request was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    /// A required field is empty.
    Required,
    /// Not an email address by the WHATWG `input type=email` rule.
    InvalidEmail,
    /// Longer than allowed (for email: local part over 64 or address over 254 characters, RFC 5321).
    TooLong,
    /// An email address whose domain has no dot (`name@localhost`): browsers accept it, but no mail from
    /// the public internet can reach it.
    EmailDomainIncomplete,
    /// A phone number with characters other than digits, a leading `+`, spaces, dashes, slashes or parentheses.
    InvalidPhone,
    /// A phone number with fewer than 6 digits.
    PhoneTooShort,
    /// A phone number with more than 15 digits (the E.164 maximum).
    PhoneTooLong,
    /// Control characters (other than line breaks in multi-line fields).
    ControlCharacter,
    /// A line break in a single-line field (they enable header injection downstream).
    LineBreak,
    /// A select value that is not one of the form's options.
    InvalidChoice,
    /// Not a number, or a number outside the field's range.
    InvalidNumber,
    /// A checkbox value other than "true"/"false".
    InvalidCheckbox,
    /// Not a web address.
    InvalidUrl,
    /// A field the form does not declare.
    UnknownField,
    /// A required consent purpose (e.g. giveaway rules) was not accepted.
    ConsentRequired,
    /// A consent purpose the form does not declare.
    UnknownPurpose,
    /// The request body is not valid JSON or form data, or has the wrong shape.
    MalformedBody,
    /// The submission has fields that failed their rules; details are per field.
    ValidationFailed,
    /// No form with that id.
    UnknownForm,
    /// Missing or wrong admin token.
    Unauthorized,
    /// No such route or record.
    NotFound,
    /// The request is too large.
    PayloadTooLarge,
    /// The content type is not JSON or form data.
    UnsupportedMediaType,
    /// The page's origin may not submit to this form.
    OriginNotAllowed,
    /// The HTTP method is not allowed on this route.
    MethodNotAllowed,
    /// The form is not open (a giveaway before its start or after its end).
    FormClosed,
    /// This email address has already entered this giveaway.
    AlreadyEntered,
    /// An earlier request with the same `Idempotency-Key` (or for the same address) is still being
    /// processed; retrying in a moment gets its answer.
    InProgress,
    /// A giveaway draw asked for more winners than there are eligible entries (admin API).
    NotEnoughEntries,
    /// A batch id (an import's) was used before for other data: the message names the parameter.
    KeyReused,
    /// The credential is valid but its scope does not reach this (an integration's key and another
    /// form's lead, or an event type it may not record).
    OutOfScope,
    /// A form definition has problems: `fields` lists each by its path in the definition (admin API).
    FormProblems,
    /// The form is managed by the config file: change it there (admin API).
    ManagedByFile,
    /// The form is archived: restore it first (admin API).
    FormArchived,
    /// Too many submissions from this client in a short time; `Retry-After` says when to try again.
    RateLimited,
    /// The Cloudflare Turnstile check was missing or did not pass.
    HumanCheckFailed,
    /// The collector could not finish; nothing was stored. Retrying is safe.
    Internal,
    /// The collector lacks a secret this request needs (the message names it); its operator must set it.
    Misconfigured,
    /// The collector could not be reached (widget only).
    Network,
}

/// The codes a form finds in the browser (a field's rule, a missing consent), numbered for the widget's
/// analytics report: it says which problem it showed by its position here plus one (0 for none), so the
/// widget carries no code names. Append only: a page may still run a widget built before an addition.
pub const FOUND_IN_BROWSER: [Code; 15] = [
    Code::Required,
    Code::InvalidEmail,
    Code::TooLong,
    Code::EmailDomainIncomplete,
    Code::InvalidPhone,
    Code::PhoneTooShort,
    Code::PhoneTooLong,
    Code::ControlCharacter,
    Code::LineBreak,
    Code::InvalidChoice,
    Code::InvalidNumber,
    Code::InvalidCheckbox,
    Code::InvalidUrl,
    Code::ConsentRequired,
    Code::ValidationFailed,
];

impl Code {
    /// The code's number in [`FOUND_IN_BROWSER`] (from 1; 0 for a code the browser does not find).
    pub fn number(self) -> u8 {
        FOUND_IN_BROWSER.iter().position(|c| *c == self).map_or(0, |i| i as u8 + 1)
    }

    /// The code a widget's report numbers `n` (see [`Code::number`]).
    pub fn numbered(n: u8) -> Option<Code> {
        FOUND_IN_BROWSER.get(usize::from(n).checked_sub(1)?).copied()
    }

    /// The code with this wire name (`"invalid_email"`), using serde's own names so there is no second list.
    pub fn from_name(name: &str) -> Option<Code> {
        use serde::de::IntoDeserializer;
        Code::deserialize(IntoDeserializer::<Quiet>::into_deserializer(name)).ok()
    }

    /// The message for this code in `lang`.
    pub fn message(self, lang: Lang) -> &'static str {
        self.browser_message(lang).unwrap_or_else(|| self.collector_message(lang))
    }

    /// The message for a code the browser finds by itself (a field's rule, a missing consent, a failed
    /// connection), in `lang`; `None` for codes only the collector gives, whose messages arrive with its
    /// answers. The widget gets these texts, as far as its form can show them, through the sheet.
    pub fn browser_message(self, lang: Lang) -> Option<&'static str> {
        let (en, de) = match self {
            Code::Required => ("Please fill in this field.", "Bitte füllen Sie dieses Feld aus."),
            Code::InvalidEmail => {
                ("Please enter a valid email address, e.g. name@example.com.", "Bitte geben Sie eine gültige E-Mail-Adresse ein, z. B. name@beispiel.de.")
            }
            Code::TooLong => ("This is too long.", "Diese Eingabe ist zu lang."),
            Code::EmailDomainIncomplete => {
                ("Please enter the full domain, e.g. name@example.com.", "Bitte geben Sie die vollständige Domain ein, z. B. name@beispiel.de.")
            }
            Code::InvalidPhone => (
                "Please use only digits, a leading +, spaces, dashes, slashes or brackets.",
                "Bitte nur Ziffern, ein führendes +, Leerzeichen, Bindestriche, Schrägstriche oder Klammern verwenden.",
            ),
            Code::PhoneTooShort => ("This phone number has too few digits.", "Diese Telefonnummer hat zu wenige Ziffern."),
            Code::PhoneTooLong => ("This phone number has too many digits.", "Diese Telefonnummer hat zu viele Ziffern."),
            Code::ControlCharacter => ("This contains characters that are not allowed.", "Diese Eingabe enthält unzulässige Zeichen."),
            Code::LineBreak => ("Please keep this on one line.", "Bitte geben Sie dies in einer Zeile ein."),
            Code::InvalidChoice => ("Please choose one of the options.", "Bitte wählen Sie eine der Optionen."),
            Code::InvalidNumber => ("Please enter a number in the allowed range.", "Bitte geben Sie eine Zahl im erlaubten Bereich ein."),
            Code::InvalidCheckbox => ("Please tick or untick this box.", "Bitte setzen oder entfernen Sie das Häkchen."),
            Code::InvalidUrl => ("Please enter a web address, e.g. example.com.", "Bitte geben Sie eine Webadresse ein, z. B. beispiel.de."),
            Code::ConsentRequired => ("Please accept this to continue.", "Bitte stimmen Sie zu, um fortzufahren."),
            Code::ValidationFailed => ("Please check the highlighted fields.", "Bitte prüfen Sie die markierten Felder."),
            Code::Internal => (
                "Something went wrong on our side; nothing was saved. Please try again.",
                "Bei uns ist etwas schiefgegangen; nichts wurde gespeichert. Bitte versuchen Sie es erneut.",
            ),
            Code::Network => ("The connection failed. Please try again.", "Die Verbindung ist fehlgeschlagen. Bitte versuchen Sie es erneut."),
            _ => return None,
        };
        Some(match lang {
            Lang::En => en,
            Lang::De => de,
        })
    }

    fn collector_message(self, lang: Lang) -> &'static str {
        let (en, de) = match self {
            Code::UnknownField => ("This form has no such field.", "Dieses Formular hat kein solches Feld."),
            Code::UnknownPurpose => ("This form asks for no such consent.", "Dieses Formular fragt keine solche Einwilligung ab."),
            Code::MalformedBody => ("The request could not be read.", "Die Anfrage konnte nicht gelesen werden."),
            Code::UnknownForm => ("This form does not exist.", "Dieses Formular gibt es nicht."),
            Code::InProgress => (
                "An earlier submission is still being processed. Please try again in a moment.",
                "Eine frühere Übermittlung wird noch verarbeitet. Bitte versuchen Sie es gleich noch einmal.",
            ),
            Code::Misconfigured => {
                ("The collector is not fully set up; nothing was stored.", "Der Collector ist nicht vollständig eingerichtet; nichts wurde gespeichert.")
            }
            Code::Unauthorized => ("A valid admin token is required.", "Ein gültiges Admin-Token ist erforderlich."),
            Code::NotFound => ("Not found.", "Nicht gefunden."),
            Code::PayloadTooLarge => ("The request is too large.", "Die Anfrage ist zu groß."),
            Code::UnsupportedMediaType => ("Send JSON or form data.", "Bitte JSON oder Formulardaten senden."),
            Code::OriginNotAllowed => ("This website may not use this form.", "Diese Website darf dieses Formular nicht verwenden."),
            Code::MethodNotAllowed => ("This method is not allowed here.", "Diese Methode ist hier nicht erlaubt."),
            Code::FormClosed => ("This form is not open for entries.", "Dieses Formular nimmt derzeit keine Einsendungen an."),
            Code::AlreadyEntered => (
                "This email address has already entered this giveaway: one entry per person.",
                "Mit dieser E-Mail-Adresse wurde bereits teilgenommen: eine Teilnahme pro Person.",
            ),
            Code::HumanCheckFailed => (
                "The security check did not pass. Please complete it and send the form again.",
                "Die Sicherheitsprüfung wurde nicht bestanden. Bitte schließen Sie sie ab und senden Sie das Formular erneut.",
            ),
            Code::RateLimited => (
                "Too many attempts in a short time. Please wait a minute and try again.",
                "Zu viele Versuche in kurzer Zeit. Bitte warten Sie eine Minute und versuchen Sie es erneut.",
            ),
            Code::NotEnoughEntries => {
                ("There are not enough eligible entries for that many winners.", "Es gibt nicht genug teilnahmeberechtigte Einsendungen für so viele Gewinner.")
            }
            Code::OutOfScope => (
                "This key may not record this event on this lead: its integration's scope does not reach it.",
                "Dieser Schlüssel darf dieses Ereignis für diesen Lead nicht melden: Der Bereich seiner Integration reicht nicht so weit.",
            ),
            Code::FormProblems => {
                ("The form definition has problems; each is listed under its path.", "Die Formulardefinition hat Probleme; jedes steht unter seinem Pfad.")
            }
            Code::ManagedByFile => (
                "This form is managed by the config file: change it there and deploy.",
                "Dieses Formular wird in der Konfigurationsdatei verwaltet: Ändern Sie es dort und veröffentlichen Sie neu.",
            ),
            Code::FormArchived => ("This form is archived: restore it first.", "Dieses Formular ist archiviert: Stellen Sie es zuerst wieder her."),
            Code::KeyReused => (
                "This id was used before for other data: send the same data again, or use a new id.",
                "Diese ID wurde bereits für andere Daten verwendet: Senden Sie dieselben Daten erneut oder verwenden Sie eine neue ID.",
            ),
            // Codes the browser finds have their text in `browser_message`, which `message` asks first.
            _ => ("", ""),
        };
        match lang {
            Lang::En => en,
            Lang::De => de,
        }
    }
}

/// A deserialisation error that drops its message. Formatting serde's messages would pull float formatting
/// and most of `core::fmt` into the widget (about 20 KB) for text nobody reads.
#[derive(Debug)]
struct Quiet;

impl core::fmt::Display for Quiet {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("not an error code")
    }
}

impl core::error::Error for Quiet {}

impl serde::de::Error for Quiet {
    fn custom<T: core::fmt::Display>(_msg: T) -> Self {
        Quiet
    }
}

/// A fixed text of the form's chrome (buttons, announcements), as opposed to the owner's own labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ui {
    /// The submit button of newsletter forms.
    Subscribe,
    /// The submit button of download gates.
    Download,
    /// The submit button of giveaways.
    Enter,
    /// Shown while the submission is in flight.
    Sending,
    /// Shown after a newsletter sign-up.
    ThanksNewsletter,
    /// Shown after a sign-up that still needs the email confirmation (double opt-in).
    CheckInbox,
    /// Shown after a download-gate submission, above the download link.
    ThanksDownload,
    /// Shown after a submission when there is nothing more to offer right away.
    ThanksReceived,
    /// The download link's text.
    DownloadLink,
    /// Shown after a giveaway entry.
    ThanksGiveaway,
    /// Says that marketing consent was not given and does not affect the giveaway entry.
    GiveawayNoMarketing,
    /// The label before the giveaway's rules link.
    Rules,
    /// The label before the giveaway's closing date.
    EntriesClose,
    /// Marks optional fields.
    Optional,
}

impl Ui {
    /// The text in `lang`.
    pub fn text(self, lang: Lang) -> &'static str {
        let (en, de) = match self {
            Ui::Subscribe => ("Subscribe", "Anmelden"),
            Ui::Download => ("Get the download", "Download anfordern"),
            Ui::Enter => ("Enter the giveaway", "Am Gewinnspiel teilnehmen"),
            Ui::Sending => ("Sending…", "Wird gesendet…"),
            Ui::ThanksNewsletter => ("Thank you! You are signed up.", "Vielen Dank! Sie sind angemeldet."),
            Ui::CheckInbox => (
                "Almost done: please check your inbox and confirm your email address.",
                "Fast geschafft: Bitte prüfen Sie Ihr Postfach und bestätigen Sie Ihre E-Mail-Adresse.",
            ),
            Ui::ThanksDownload => ("Thank you! Your download is ready.", "Vielen Dank! Ihr Download ist bereit."),
            Ui::ThanksReceived => ("Thank you! We have received your details.", "Vielen Dank! Wir haben Ihre Angaben erhalten."),
            Ui::DownloadLink => ("Download now", "Jetzt herunterladen"),
            Ui::ThanksGiveaway => ("Thank you! You are in the draw.", "Vielen Dank! Sie nehmen an der Verlosung teil."),
            Ui::GiveawayNoMarketing => (
                "You entered without marketing consent: that does not affect your chance to win.",
                "Sie nehmen ohne Werbeeinwilligung teil: Das hat keinen Einfluss auf Ihre Gewinnchance.",
            ),
            Ui::Rules => ("Giveaway rules", "Teilnahmebedingungen"),
            Ui::EntriesClose => ("Entries close:", "Einsendeschluss:"),
            Ui::Optional => ("(optional)", "(optional)"),
        };
        match lang {
            Lang::En => en,
            Lang::De => de,
        }
    }
}

/// A text the widget shows by itself: what is wrong with a value (a code's browser message), or a text
/// of the form's chrome. The collector writes the ones a form can show into its sheet
/// ([`crate::sheet`]), in the languages it may be shown in, so no page downloads the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Said {
    /// The browser message of a code.
    Problem(Code),
    /// A text of the form's chrome.
    Ui(Ui),
}

impl Said {
    /// The text in `lang`.
    pub fn text(self, lang: Lang) -> &'static str {
        match self {
            Said::Problem(code) => code.browser_message(lang).unwrap_or_default(),
            Said::Ui(ui) => ui.text(lang),
        }
    }
}

/// Every text the widget may show, numbered by position: the sheet names a text by its number. (Both
/// ends of a sheet come from one build, so the numbers need not be stable across versions.)
pub const WIDGET_TEXTS: [Said; 25] = [
    Said::Problem(Code::Required),
    Said::Problem(Code::InvalidEmail),
    Said::Problem(Code::TooLong),
    Said::Problem(Code::EmailDomainIncomplete),
    Said::Problem(Code::InvalidPhone),
    Said::Problem(Code::PhoneTooShort),
    Said::Problem(Code::PhoneTooLong),
    Said::Problem(Code::ControlCharacter),
    Said::Problem(Code::LineBreak),
    Said::Problem(Code::InvalidChoice),
    Said::Problem(Code::InvalidNumber),
    Said::Problem(Code::InvalidCheckbox),
    Said::Problem(Code::InvalidUrl),
    Said::Problem(Code::ConsentRequired),
    Said::Problem(Code::ValidationFailed),
    Said::Problem(Code::Internal),
    Said::Problem(Code::Network),
    Said::Ui(Ui::Sending),
    Said::Ui(Ui::ThanksNewsletter),
    Said::Ui(Ui::CheckInbox),
    Said::Ui(Ui::ThanksDownload),
    Said::Ui(Ui::ThanksReceived),
    Said::Ui(Ui::DownloadLink),
    Said::Ui(Ui::ThanksGiveaway),
    Said::Ui(Ui::GiveawayNoMarketing),
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::prelude::rust_2021::*;
    use std::vec;

    #[test]
    fn codes_serialise_as_stable_snake_case() {
        assert_eq!(serde_json::to_string(&Code::InvalidEmail).unwrap(), "\"invalid_email\"");
        assert_eq!(serde_json::to_string(&Code::TooLong).unwrap(), "\"too_long\"");
    }

    #[test]
    fn the_browser_numbers_round_trip_and_cover_every_field_problem() {
        for (i, code) in FOUND_IN_BROWSER.iter().enumerate() {
            assert_eq!(code.number() as usize, i + 1);
            assert_eq!(Code::numbered(code.number()), Some(*code));
            assert!(code.browser_message(Lang::En).is_some(), "{code:?} is found in the browser");
        }
        for ty in crate::field::FieldType::ALL {
            for code in ty.problems() {
                assert_ne!(code.number(), 0, "{ty:?}: {code:?} has a number");
            }
        }
        assert_eq!(Code::numbered(0), None);
        assert_eq!(Code::numbered(16), None);
        assert_eq!(Code::UnknownForm.number(), 0);
    }

    #[test]
    fn names_round_trip_through_serde() {
        for code in [Code::Required, Code::InvalidEmail, Code::TooLong, Code::ConsentRequired, Code::Network] {
            let name = serde_json::to_value(code).unwrap();
            assert_eq!(Code::from_name(name.as_str().unwrap()), Some(code));
        }
        assert_eq!(Code::from_name("no_such_code"), None);
    }

    /// Every code. The `match` has no wildcard, so a new code that is not listed here does not compile.
    fn every_code() -> Vec<Code> {
        let all = vec![
            Code::Required,
            Code::InvalidEmail,
            Code::TooLong,
            Code::EmailDomainIncomplete,
            Code::InvalidPhone,
            Code::PhoneTooShort,
            Code::PhoneTooLong,
            Code::ControlCharacter,
            Code::LineBreak,
            Code::InvalidChoice,
            Code::InvalidNumber,
            Code::InvalidCheckbox,
            Code::InvalidUrl,
            Code::UnknownField,
            Code::ConsentRequired,
            Code::UnknownPurpose,
            Code::MalformedBody,
            Code::ValidationFailed,
            Code::UnknownForm,
            Code::Unauthorized,
            Code::NotFound,
            Code::PayloadTooLarge,
            Code::UnsupportedMediaType,
            Code::OriginNotAllowed,
            Code::MethodNotAllowed,
            Code::FormClosed,
            Code::AlreadyEntered,
            Code::InProgress,
            Code::HumanCheckFailed,
            Code::RateLimited,
            Code::NotEnoughEntries,
            Code::KeyReused,
            Code::OutOfScope,
            Code::FormProblems,
            Code::ManagedByFile,
            Code::FormArchived,
            Code::Internal,
            Code::Misconfigured,
            Code::Network,
        ];
        for code in &all {
            match code {
                Code::Required
                | Code::InvalidEmail
                | Code::TooLong
                | Code::EmailDomainIncomplete
                | Code::InvalidPhone
                | Code::PhoneTooShort
                | Code::PhoneTooLong
                | Code::ControlCharacter
                | Code::LineBreak
                | Code::InvalidChoice
                | Code::InvalidNumber
                | Code::InvalidCheckbox
                | Code::InvalidUrl
                | Code::UnknownField
                | Code::ConsentRequired
                | Code::UnknownPurpose
                | Code::MalformedBody
                | Code::ValidationFailed
                | Code::UnknownForm
                | Code::Unauthorized
                | Code::NotFound
                | Code::PayloadTooLarge
                | Code::UnsupportedMediaType
                | Code::OriginNotAllowed
                | Code::MethodNotAllowed
                | Code::FormClosed
                | Code::AlreadyEntered
                | Code::InProgress
                | Code::HumanCheckFailed
                | Code::RateLimited
                | Code::NotEnoughEntries
                | Code::KeyReused
                | Code::OutOfScope
                | Code::FormProblems
                | Code::ManagedByFile
                | Code::FormArchived
                | Code::Internal
                | Code::Misconfigured
                | Code::Network => {}
            }
        }
        all
    }

    #[test]
    fn every_code_has_a_message_in_both_languages() {
        for code in every_code() {
            for lang in [Lang::En, Lang::De] {
                assert!(!code.message(lang).is_empty(), "{code:?} has no {lang:?} message");
            }
        }
        assert_eq!(Code::InvalidEmail.browser_message(Lang::En), Some(Code::InvalidEmail.message(Lang::En)));
        assert_eq!(Code::RateLimited.browser_message(Lang::En), None, "collector-only texts stay out of the widget");
    }

    #[test]
    fn the_widget_texts_are_every_browser_message_once() {
        for code in every_code() {
            let listed = WIDGET_TEXTS.iter().filter(|s| **s == Said::Problem(code)).count();
            assert_eq!(listed, usize::from(code.browser_message(Lang::En).is_some()), "{code:?}");
        }
        for (i, said) in WIDGET_TEXTS.iter().enumerate() {
            assert!(!WIDGET_TEXTS[..i].contains(said), "{said:?} is listed twice");
            assert!(!said.text(Lang::En).is_empty() && !said.text(Lang::De).is_empty(), "{said:?}");
        }
    }

    #[test]
    fn every_message_differs_between_languages_or_is_a_shared_word() {
        // "(optional)" is the same word in both languages; everything else must be translated.
        assert_ne!(Code::Required.message(Lang::En), Code::Required.message(Lang::De));
        assert_ne!(Code::Internal.message(Lang::En), Code::Internal.message(Lang::De));
        assert_eq!(Ui::Optional.text(Lang::En), Ui::Optional.text(Lang::De));
    }
}
