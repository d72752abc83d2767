//! The edge's one error type, and the one place it becomes an HTTP status and JSON body.

use shared::validation::Errors;
use shared::wire::ErrorBody;
use shared::{Code, Lang};

/// Everything that can stop a request. Client errors carry what the client needs to fix them; server
/// errors carry a log line without personal data and reach the client as a bare 500.
#[derive(Debug)]
pub enum Error {
    /// The body is not valid JSON or form data, or has the wrong shape; the message says where.
    Malformed(String),
    /// The body is over the size limit.
    TooLarge,
    /// Neither JSON nor form data.
    UnsupportedMediaType,
    /// No such form.
    UnknownForm,
    /// The page's origin may not submit to this form.
    OriginNotAllowed,
    /// One or more fields failed their rules.
    Validation(Errors),
    /// Missing or wrong credentials; the value says which the route takes, so the answer names what is
    /// missing for that route and nothing about what exists behind it.
    Unauthorized(Credential),
    /// No such route or record.
    NotFound,
    /// Wrong method for the route; the value is the `Allow` header (the methods the route takes).
    MethodNotAllowed(String),
    /// The request needs a secret the deployment does not have (or has too short); the value names it.
    Misconfigured(String),
    /// The email address already entered this giveaway.
    AlreadyEntered,
    /// Another request with the same `Idempotency-Key`, or storing the same address, did not finish in time.
    InProgress,
    /// The form is closed (giveaway not started or over).
    FormClosed,
    /// The deployment is misconfigured (missing secret, broken config); the message names what, never a value.
    Config(String),
    /// Storage or runtime failure; the message is for the log.
    Internal(String),
    /// A service the request depends on (a CRM's API asked for a contact's address) failed or did not
    /// answer; the caller may retry. The message is for the log.
    Upstream(String),
    /// The form asks for Cloudflare Turnstile and the token was missing or refused.
    HumanCheckFailed,
    /// Too many submissions from one client to one form; try again after this many seconds.
    RateLimited {
        /// Seconds until the window has passed.
        retry_after_secs: u32,
    },
    /// An id that makes a request idempotent (an import's `batch`, named by the value) came with other
    /// data than the first time: refused rather than answered with the first request's report.
    KeyReused(&'static str),
    /// A valid credential whose scope does not reach the request (an integration's key, see
    /// `Integration::allows`).
    OutOfScope,
    /// A giveaway draw asked for more winners than there are eligible entries (or for none).
    NotEnoughEntries {
        /// How many entries are eligible.
        eligible: usize,
    },
    /// A form definition (a draft, or one to publish) has problems: `(path in the definition, problem)`.
    FormProblems(Vec<(String, String)>),
    /// The form is managed by the config file, so the admin API may not change it.
    ManagedByFile,
    /// The form is archived.
    FormArchived,
}

impl Error {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Error::Malformed(_) => 400,
            Error::Unauthorized(_) => 401,
            Error::OriginNotAllowed | Error::HumanCheckFailed | Error::OutOfScope => 403,
            Error::UnknownForm | Error::NotFound => 404,
            Error::MethodNotAllowed(_) => 405,
            Error::Misconfigured(_) => 503,
            Error::Upstream(_) => 502,
            Error::AlreadyEntered | Error::NotEnoughEntries { .. } | Error::InProgress | Error::KeyReused(_) | Error::ManagedByFile | Error::FormArchived => {
                409
            }
            Error::FormClosed => 410,
            Error::TooLarge => 413,
            Error::RateLimited { .. } => 429,
            Error::UnsupportedMediaType => 415,
            Error::Validation(_) | Error::FormProblems(_) => 422,
            Error::Config(_) | Error::Internal(_) => 500,
        }
    }

    /// The JSON body, with messages in `lang`.
    pub fn body(&self, lang: Lang) -> ErrorBody {
        match self {
            Error::Malformed(detail) => ErrorBody::with_message(Code::MalformedBody, format!("{} {detail}", Code::MalformedBody.message(lang))),
            Error::Validation(errors) => ErrorBody::validation(errors, lang),
            Error::TooLarge => ErrorBody::new(Code::PayloadTooLarge, lang),
            Error::UnsupportedMediaType => ErrorBody::new(Code::UnsupportedMediaType, lang),
            Error::UnknownForm => ErrorBody::new(Code::UnknownForm, lang),
            Error::OriginNotAllowed => ErrorBody::new(Code::OriginNotAllowed, lang),
            Error::Unauthorized(credential) => ErrorBody::with_message(Code::Unauthorized, credential.required(lang).to_owned()),
            Error::NotFound => ErrorBody::new(Code::NotFound, lang),
            Error::MethodNotAllowed(allow) => {
                ErrorBody::with_message(Code::MethodNotAllowed, format!("{} Allowed: {allow}.", Code::MethodNotAllowed.message(lang)))
            }
            // Which secret is missing is for the log and the admin (`admin_body`): a stranger learns only
            // that the deployment is not complete.
            Error::Misconfigured(_) => ErrorBody::new(Code::Misconfigured, lang),
            Error::AlreadyEntered => ErrorBody::new(Code::AlreadyEntered, lang),
            Error::InProgress => ErrorBody::new(Code::InProgress, lang),
            Error::RateLimited { .. } => ErrorBody::new(Code::RateLimited, lang),
            Error::HumanCheckFailed => ErrorBody::new(Code::HumanCheckFailed, lang),
            Error::NotEnoughEntries { eligible } => ErrorBody::with_message(
                Code::NotEnoughEntries,
                format!("{} (eligible: {eligible}; ask for 1 to {eligible})", Code::NotEnoughEntries.message(lang)),
            ),
            Error::FormClosed => ErrorBody::new(Code::FormClosed, lang),
            Error::OutOfScope => ErrorBody::new(Code::OutOfScope, lang),
            Error::KeyReused(name) => ErrorBody::with_message(Code::KeyReused, format!("{} (`{name}`)", Code::KeyReused.message(lang))),
            Error::FormProblems(problems) => {
                let mut body = ErrorBody::new(Code::FormProblems, lang);
                for (path, problem) in problems {
                    body.error.fields.entry(path.clone()).or_default().push(shared::wire::FieldError { code: Code::FormProblems, message: problem.clone() });
                }
                body
            }
            Error::ManagedByFile => ErrorBody::new(Code::ManagedByFile, lang),
            Error::FormArchived => ErrorBody::new(Code::FormArchived, lang),
            Error::Config(_) | Error::Internal(_) => ErrorBody::new(Code::Internal, lang),
            Error::Upstream(_) => ErrorBody::new(Code::Network, lang),
        }
    }

    /// The JSON body for a caller who proved to be the admin: as [`Error::body`], and a `misconfigured`
    /// error names the secret to set.
    pub fn admin_body(&self, lang: Lang) -> ErrorBody {
        match self {
            Error::Misconfigured(secret) => {
                ErrorBody::with_message(Code::Misconfigured, format!("{} Missing or too short: the secret {secret}.", Code::Misconfigured.message(lang)))
            }
            _ => self.body(lang),
        }
    }

    /// The headers an error's response carries besides its body.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        match self {
            Error::RateLimited { retry_after_secs } => vec![("Retry-After", retry_after_secs.to_string())],
            Error::MethodNotAllowed(allow) => vec![("Allow", allow.clone())],
            Error::InProgress => vec![("Retry-After", "1".into())],
            Error::Upstream(_) => vec![("Retry-After", "60".into())],
            _ => Vec::new(),
        }
    }

    /// The line to log: client errors by code, server errors with their (personal-data-free) detail.
    pub fn log_line(&self) -> Option<String> {
        match self {
            Error::Config(m) => Some(format!("config error: {m}")),
            Error::Misconfigured(secret) => Some(format!("misconfigured: the secret {secret} is missing or too short")),
            Error::Internal(m) => Some(format!("internal error: {m}")),
            Error::Upstream(m) => Some(format!("upstream failure: {m}")),
            _ => None,
        }
    }
}

/// What a route takes as proof of who calls it; a 401 names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credential {
    /// The admin API's bearer token.
    AdminToken,
    /// The admin token or the key of one of the config's integrations (behaviour events).
    EventKey,
    /// The signature (or basic auth) of a feedback endpoint's source. Unknown endpoints ask for it too,
    /// so a stranger cannot tell which endpoint ids exist.
    FeedbackSignature,
    /// The seal of a repeat the collector hands over to the operator (`protocol::handover`).
    Seal,
}

impl Credential {
    /// What a caller must send, in `lang`.
    pub fn required(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (Credential::AdminToken, Lang::En) => "A valid admin token is required (Authorization: Bearer <token>).",
            (Credential::AdminToken, Lang::De) => "Ein gültiges Admin-Token ist erforderlich (Authorization: Bearer <Token>).",
            (Credential::EventKey, Lang::En) => {
                "The key of an integration allowed to record this event, or the admin token, is required (Authorization: Bearer <key>)."
            }
            (Credential::EventKey, Lang::De) => {
                "Der Schlüssel einer Integration, die dieses Ereignis melden darf, oder das Admin-Token ist erforderlich (Authorization: Bearer <Schlüssel>)."
            }
            (Credential::FeedbackSignature, Lang::En) => "A valid signature from this feedback endpoint's source is required.",
            (Credential::FeedbackSignature, Lang::De) => "Eine gültige Signatur der Quelle dieses Feedback-Endpunkts ist erforderlich.",
            (Credential::Seal, Lang::En) => "Only this deployment's collector may hand over a repeat, sealed and while it holds it.",
            (Credential::Seal, Lang::De) => "Nur der Collector dieser Installation darf eine Wiederholung übergeben, versiegelt und solange er sie hält.",
        }
    }
}

/// Serialising what the collector built itself cannot fail for data reasons, so a failure is the
/// collector's: a 500 with the detail in the log. (Reading a client's body is `Malformed`, said where it
/// happens.)
impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Error {
        Error::Internal(format!("json: {e}"))
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:?}", self.status(), self.body(Lang::En).error.code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_errors_are_4xx_with_their_code_and_server_errors_say_nothing_inside() {
        let e = Error::Validation([("email".to_string(), Code::InvalidEmail)].into());
        assert_eq!(e.status(), 422);
        assert_eq!(e.body(Lang::De).error.fields["email"][0].code, Code::InvalidEmail);
        let internal = Error::Internal("kv put failed for lead:ld_x".into());
        assert_eq!(internal.status(), 500);
        assert!(!internal.body(Lang::En).error.message.contains("kv"));
        assert_eq!(Error::Malformed("at line 1".into()).body(Lang::En).error.message, "The request could not be read. at line 1");
        let wrong = Error::MethodNotAllowed("POST, OPTIONS".into());
        assert_eq!(wrong.status(), 405);
        assert_eq!(wrong.headers(), vec![("Allow", "POST, OPTIONS".to_string())]);
        let missing = Error::Misconfigured("SIGNING_SECRET".into());
        assert_eq!(missing.status(), 503);
        assert_eq!(missing.body(Lang::En).error.code, Code::Misconfigured);
        assert!(!missing.body(Lang::En).error.message.contains("SIGNING_SECRET"), "a stranger is not told which secret is missing");
        assert!(missing.admin_body(Lang::En).error.message.contains("SIGNING_SECRET"), "the admin is");
        assert!(missing.log_line().unwrap().contains("SIGNING_SECRET"), "and so is the log");
        let feedback = Error::Unauthorized(Credential::FeedbackSignature);
        assert_eq!(feedback.status(), 401);
        assert!(feedback.body(Lang::En).error.message.contains("signature"), "a 401 names what that route takes");
        assert!(!feedback.body(Lang::En).error.message.contains("admin"));
        assert!(Error::Unauthorized(Credential::EventKey).body(Lang::De).error.message.contains("Integration"));
    }
}
