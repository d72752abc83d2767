//! Both ends of a repeat's hand-over (`protocol::handover`): the collector seals the repeat it holds and
//! passes it to the operator over the `OPERATOR` service binding; the operator checks the seal, finishes
//! the repeat with `submission::finish_repeat` and answers what the visitor is to be told. A Worker built
//! with both sides finishes the repeat itself.

use crate::glue::context::Cx;
use crate::protocol::handover::{self, Failure, Finished, Handover};
use crate::protocol::ledger::Answer;
use crate::services::submission::{self, Intake};
use crate::Error;
use worker::{Request, Response};

/// Finishes a repeat the intake got to: in the operator, behind the service binding, or here in a Worker
/// that is both. The visitor's answer, or the error the repeat ended in (its hold settled or released).
#[cfg(feature = "operator")]
pub(crate) async fn finish(cx: &Cx<'_>, intake: &Intake<'_>, handover: Handover) -> Result<(u16, serde_json::Value), Error> {
    let taken = submission::finish_repeat(cx.cloud()?, intake, handover).await?;
    Ok((taken.status, taken.body))
}

/// Finishes a repeat the intake got to: in the operator, behind the service binding, or here in a Worker
/// that is both. The visitor's answer, or the error the repeat ended in (its hold settled or released).
///
/// When the operator cannot be reached or its answer is lost, the hold is not released here: the operator
/// may have settled it already, and a hold nobody settles lapses by itself. The visitor is told to try
/// again (and an `Idempotency-Key` then gets the first answer, if there was one).
#[cfg(not(feature = "operator"))]
pub(crate) async fn finish(cx: &Cx<'_>, intake: &Intake<'_>, handover: Handover) -> Result<(u16, serde_json::Value), Error> {
    use worker::wasm_bindgen::JsValue;
    let failed = |e: JsValue| Error::Internal(format!("the operator did not take a repeat: {}", worker::Error::from(e)));
    let body = serde_json::to_string(&handover)?;
    // The runtime's own request, as the ledger's stub builds it (see `cloud`'s outbound calls).
    let headers = worker::web_sys::Headers::new().map_err(failed)?;
    headers.set("Content-Type", "application/json").map_err(failed)?;
    headers.set(handover::SEAL_HEADER, &handover::seal(intake.signing.as_bytes(), body.as_bytes())).map_err(failed)?;
    let init = worker::web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_headers(&headers);
    init.set_body(&JsValue::from_str(&body));
    // The binding takes any host; the path is what the operator routes by.
    let url = format!("{}{}", intake.origin, handover::PATH);
    let request = worker::web_sys::Request::new_with_str_and_init(&url, &init).map_err(failed)?;
    let operator = cx
        .env
        .service(crate::glue::context::OPERATOR)
        .map_err(|_| Error::Config(format!("the service binding {} is missing", crate::glue::context::OPERATOR)))?;
    let mut resp =
        operator.fetch_request(worker::Request::from(request)).await.map_err(|e| Error::Internal(format!("the operator did not take a repeat: {e}")))?;
    let text = resp.text().await.map_err(|e| Error::Internal(format!("the operator's answer to a repeat was lost: {e}")))?;
    if resp.status_code() == 401 {
        return Err(Error::Config("the operator refused the seal of a repeat's hand-over: both Workers need the same SIGNING_SECRET".into()));
    }
    if resp.status_code() != 200 {
        return Err(Error::Internal(format!("the operator refused a repeat ({}): {text}", resp.status_code())));
    }
    let finished: Finished = serde_json::from_str(&text)?;
    finished.map(|answer| (answer.status, answer.body)).map_err(Error::from)
}

/// `POST /v1/internal/repeat`: a repeat the collector handed over. Refused (401, nothing changed) unless
/// sealed by this deployment's collector. A sealed one is answered `200` with a [`Finished`]: finished, or
/// its hold released, or not finished because it came after its hold could have lapsed (nothing changed);
/// the collector turns a failure into the visitor's error. (So a 401 always means a seal the operator does
/// not recognise, which the collector reports as the misconfiguration it is.)
pub(crate) async fn take_over(req: &mut Request, cx: &Cx<'_>) -> Result<Response, Error> {
    let body = crate::glue::exchange::read_body(req, handover::MAX_BODY).await?;
    let signing = crate::glue::exchange::required_secret(cx.env, "SIGNING_SECRET")?;
    let seal = crate::glue::exchange::header(req, handover::SEAL_HEADER).unwrap_or_default();
    if !handover::is_sealed(signing.as_bytes(), &body, &seal) {
        return Err(Error::Unauthorized(crate::error::Credential::Seal));
    }
    let handover: Handover = serde_json::from_slice(&body).map_err(|e| Error::Malformed(e.to_string()))?;
    let finished: Finished = if handover::is_fresh(handover.now, cx.now) {
        finish_here(cx, &signing, handover).await.map_err(Failure::from)
    } else {
        Err(Failure::Internal(format!("a hand-over made at {} came at {}, after its hold could have lapsed", handover.now, cx.now)))
    };
    crate::glue::exchange::json_response(&serde_json::to_value(&finished)?, 200)
}

/// Finishes a handed-over repeat against the form as the collector checked it; when that form cannot be
/// had, releases the hold the hand-over carries.
async fn finish_here(cx: &Cx<'_>, signing: &str, handover: Handover) -> Result<Answer, Error> {
    let cloud = cx.cloud()?;
    let config = cx.config()?;
    let form = match config.form(&handover.form) {
        Some(current) => cx.as_shown(current, handover.version).await,
        None => Err(Error::UnknownForm),
    };
    let form = match form {
        Ok(form) => form,
        Err(e) => {
            submission::give_up(cloud, &handover).await;
            return Err(e);
        }
    };
    let origin = handover.origin.clone();
    let intake = Intake { config, form: &form, signing, origin: &origin, key: None, client: None };
    let taken = submission::finish_repeat(cloud, &intake, handover).await?;
    Ok(Answer { status: taken.status, body: taken.body })
}
