//! The routes other systems call: behaviour events from the website, the mail tool or a webinar platform
//! (`POST /v1/leads/<id>/events`), and feedback from the CRM (`POST /v1/feedback/<endpoint>`). Each checks
//! its caller its own way (a key, a signature), then hands the work to the qualification service.

use crate::error::Credential;
use crate::glue::context::Cx;
use crate::glue::exchange::{header, json_object, json_response, read_body, required_secret, text_member};
use crate::glue::operator::qualified;
use crate::protocol::backend::{ask, Backend};
use crate::protocol::ledger::cmd;
use crate::protocol::ledger::{Hold, Replay};
use crate::rules::feedback::{self, Refused};
use crate::{rules::access, rules::decoding, rules::id, services::qualification, Error};
use serde_json::json;
use shared::form::FeedbackSource;
use worker::{Request, Response};

/// `POST /v1/leads/<id>/events` with `{"type": "email_click", "at": "2026-11-30T10:00:00Z"}` (`at` is
/// optional): records a behaviour event worth what the form's scoring says, with the admin token or an
/// integration's key (`[[integrations]]`). A lead it takes to the MQL threshold becomes an MQL.
pub(crate) async fn record_event(req: &mut Request, cx: &Cx<'_>, id: &str) -> Result<Response, Error> {
    let config = cx.config()?;
    let scope = authorize_events(req, cx, config)?;
    let by = scope.map_or("admin", |i| i.id.as_str());
    if !id::is_valid("ld_", id) {
        return Err(Error::NotFound);
    }
    let body = json_object(&read_body(req, decoding::MAX_BODY).await?)?;
    let kind = text_member(&body, "type")?.ok_or_else(|| Error::Validation([("type".to_owned(), shared::Code::Required)].into()))?;
    let at = match text_member(&body, "at")? {
        Some(t) => Some(shared::time::parse(t).ok_or_else(|| Error::Validation([("at".to_owned(), shared::Code::InvalidChoice)].into()))?),
        None => None,
    };
    let outcome = qualification::record_event(cx.cloud()?, config, scope, id, kind, at).await?.ok_or(Error::NotFound)?;
    worker::console_log!("event {kind} on {id} from {by} (stage {})", outcome.lead.stage.as_str());
    json_response(&qualified(config, outcome, cx.now)?, 201)
}

/// Who may record behaviour events: the admin token, or the key of one of the config's integrations.
/// Returns the integration, whose scope then applies, or `None` for the admin, whom nothing limits.
fn authorize_events<'a>(req: &Request, cx: &Cx<'_>, config: &'a shared::form::FormsConfig) -> Result<Option<&'a shared::config::Integration>, Error> {
    let as_admin = crate::glue::exchange::authorize(req, cx.env);
    if as_admin.is_ok() {
        return Ok(None);
    }
    let given = header(req, "Authorization");
    for integration in &config.integrations {
        let key = required_secret(cx.env, &integration.key)?;
        if key.chars().count() < access::MIN_TOKEN_CHARS {
            return Err(Error::Misconfigured(integration.key.clone()));
        }
        if access::authorize(given.as_deref(), Some(&key), Credential::EventKey).is_ok() {
            return Ok(Some(integration));
        }
    }
    // No integration's key either: a misconfigured admin token stands; a refusal names what this route takes.
    match as_admin {
        Err(Error::Unauthorized(_)) => Err(Error::Unauthorized(Credential::EventKey)),
        other => other.map(|_| None),
    }
}

/// The largest feedback body read: a HubSpot batch of [`MAX_ASKS`] events fits with room to spare.
const FEEDBACK_BODY: usize = 64 * 1024;

/// The most leads one feedback call may name: each is a few storage operations and, for HubSpot and
/// Pipedrive, one API call, and an invocation may make 50 subrequests on the free plan. Larger batches are
/// refused whole, so nothing is half applied (HubSpot's batch size is set in the app's webhook settings).
const MAX_ASKS: usize = 10;

/// `POST /v1/feedback/<endpoint>`: the CRM (or a mail tool) says what became of leads. The call is verified
/// as its source signs (see `feedback`) before its body is read; a call with a request id already answered
/// (within a day) gets the same answer again and changes nothing. Leads the collector does not know are
/// answered `202` and logged by count only.
pub(crate) async fn receive_feedback(req: &mut Request, cx: &Cx<'_>, id: &str) -> Result<Response, Error> {
    let config = cx.config()?;
    // An unknown endpoint answers as a known one does to a call without a valid signature, after reading
    // the body the same way: a stranger cannot tell which endpoint ids exist.
    let endpoint = config.feedback.iter().find(|f| f.id == id);
    let bytes = read_body(req, FEEDBACK_BODY).await?;
    let endpoint = endpoint.ok_or(Error::Unauthorized(Credential::FeedbackSignature))?;
    let body = String::from_utf8(bytes).map_err(|_| Error::Malformed("The body is not UTF-8.".into()))?;
    let secret = required_secret(cx.env, &endpoint.secret)?;
    let now = cx.now;
    let refused = |r: Refused| {
        worker::console_log!("feedback {id} refused: {r:?}");
        Error::Unauthorized(Credential::FeedbackSignature)
    };
    let (asks, request_id) = match endpoint.source {
        FeedbackSource::Standard => {
            let secrets = crate::rules::webhook::parse_secrets(&secret).map_err(|_| Error::Misconfigured(endpoint.secret.clone()))?;
            let webhook_id = header(req, "webhook-id");
            feedback::verify_standard(
                &secrets,
                webhook_id.as_deref(),
                header(req, "webhook-timestamp").as_deref(),
                header(req, "webhook-signature").as_deref(),
                &body,
                now,
            )
            .map_err(refused)?;
            (vec![feedback::generic(&body).map_err(Error::Malformed)?], webhook_id.unwrap_or_default())
        }
        FeedbackSource::Hubspot => {
            let url = req.inner().url();
            let signature = header(req, "X-HubSpot-Signature-v3");
            feedback::verify_hubspot(&secret, "POST", &url, &body, signature.as_deref(), header(req, "X-HubSpot-Request-Timestamp").as_deref(), now)
                .map_err(refused)?;
            (feedback::hubspot(&body).map_err(Error::Malformed)?, signature.unwrap_or_default())
        }
        FeedbackSource::Pipedrive => {
            feedback::verify_basic(&secret, header(req, "Authorization").as_deref()).map_err(refused)?;
            (feedback::pipedrive(&body).map_err(Error::Malformed)?.into_iter().collect(), body.clone())
        }
    };
    if asks.len() > MAX_ASKS {
        return Err(Error::Malformed(format!("At most {MAX_ASKS} events per call; this one has {}.", asks.len())));
    }
    // One answer per request: the source's id for it, or a digest of what identifies it.
    let key = request_key(&request_id);
    let scope = format!("feedback:{}", endpoint.id);
    let cloud = cx.cloud()?;
    match ask(cloud, cmd::Reserve { form: scope.clone(), key: key.clone(), now }).await? {
        Replay::Answered { answer } => {
            let first: serde_json::Value = serde_json::from_str(&answer)?;
            let status = first.get("status").and_then(serde_json::Value::as_u64).and_then(|s| u16::try_from(s).ok()).unwrap_or(200);
            return json_response(first.get("body").unwrap_or(&serde_json::Value::Null), status);
        }
        Replay::InProgress => return Err(Error::InProgress),
        Replay::Fresh => {}
    }
    let done = match qualification::feedback(cloud, config, endpoint, asks).await {
        Ok(done) => done,
        Err(e) => {
            let _ = cloud.send(cmd::Release { form: scope, hold: Hold::default(), key: Some(key) }).await;
            return Err(e);
        }
    };
    worker::console_log!("feedback {id}: {} applied, {} unchanged, {} unknown", done.applied, done.unchanged, done.unknown);
    let status = if done.applied + done.unchanged == 0 && done.unknown > 0 { 202 } else { 200 };
    let body = serde_json::to_value(done)?;
    let answer = json!({"status": status, "body": body}).to_string();
    cloud.send(cmd::Settle { form: scope, hold: Hold::default(), key: Some(key), answer: Some(answer), deliveries: Vec::new(), entry: None }).await?;
    json_response(&body, status)
}

/// The ledger key for a feedback request: its id when that is a valid key, else a digest of it.
fn request_key(id: &str) -> String {
    match decoding::idempotency_key(id) {
        Ok(key) if !key.is_empty() => key,
        _ => crate::rules::digest::sha256_hex(id.as_bytes()),
    }
}
