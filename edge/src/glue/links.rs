//! The routes behind the links Leadgate hands a person away from the customer's page: the confirmation
//! and withdrawal links and the gated download it mails (or shows after a submission), the consent
//! receipt's check, and the local mailbox where a development collector's mails land. Also the lead behind
//! a mailed link's token, or the readable page that says why there is none, which the owners' links use
//! too.
//!
//! The operator serves these routes (`Route::is_operator`): a click in a mail is no page's first request,
//! so the collector, whose bundle every cold start of a customer's page waits for, does not carry them.

use crate::glue::context::Cx;
use crate::glue::exchange::{html_response, json_response, own_origin, query, redirect, signing_key, visitor_lang};
use crate::glue::visitor::download_link;
use crate::protocol::backend::Backend;
use crate::rules::{page, receipt, repeats, token};
use crate::services::withdrawal::{self, Withdrawn};
use crate::services::{confirmation, handout};
use crate::Error;
use serde_json::json;
use shared::lead::{Lead, Status};
use worker::{Request, Response};

/// The lead a link's token stands for, with the change a confirmation link was mailed for (if it names
/// one), or (as `Err`) the readable page that says why there is none: 403 for an altered or expired link,
/// 404 when the lead has been erased.
pub(crate) async fn linked_lead(req: &Request, cx: &Cx<'_>, purpose: token::Purpose, given: &str) -> Result<Result<(Lead, Option<String>), Response>, Error> {
    let now = cx.now;
    let guess = visitor_lang(req);
    let problem = match token::open(signing_key(cx.env)?.as_bytes(), purpose, given, now) {
        Ok(link) => match cx.cloud()?.lead(&link.lead).await? {
            Some(lead) => return Ok(Ok((lead, link.change))),
            None => (page::LinkProblem::Gone, 404),
        },
        Err(token::Problem::Invalid) => (page::LinkProblem::Invalid, 403),
        Err(token::Problem::Expired) => (page::LinkProblem::Expired, 403),
    };
    Ok(Err(html_response(&page::link_problem(guess, problem.0), problem.1)?))
}

/// `GET /v1/confirm/<token>`: a page with one button. Nothing is confirmed by the GET: mail security
/// scanners follow links, and a confirmation must be the person's own act.
pub(crate) async fn confirm_page(req: &Request, cx: &Cx<'_>, given: &str) -> Result<Response, Error> {
    let now = cx.now;
    let (lead, change) = match linked_lead(req, cx, token::Purpose::Confirm, given).await? {
        Ok(linked) => linked,
        Err(page) => return Ok(page),
    };
    let lang = lead.consent.lang;
    let config = cx.config()?;
    if lead.status == Status::Pending {
        return html_response(&page::confirm_prompt(lang, false), 200);
    }
    // A link mailed for a change shows exactly that change, or that it waits no more.
    if let Some(change) = change {
        return match lead.held.iter().find(|h| repeats::held_hash(h) == change) {
            Some(held) => {
                let form = config.form(&lead.form);
                let label = |name: &str| form.and_then(|f| f.fields.iter().find(|d| d.name == name)).map_or(name.to_owned(), |d| d.label(lang).to_owned());
                let fields: Vec<(String, String)> = held.fill.iter().map(|(name, value)| (label(name), value.clone())).collect();
                let consents: Vec<String> =
                    held.consent.iter().flat_map(|r| r.entries.iter().filter(|e| e.granted && !lead.grants(&e.purpose)).map(|e| e.text.clone())).collect();
                html_response(&page::change_prompt(lang, &fields, &consents), 200)
            }
            None => html_response(&page::change_gone(lang), 200),
        };
    }
    let link = config.form(&lead.form).and_then(|f| download_link(cx, f, &lead, &own_origin(req), now));
    html_response(&page::confirmed(lang, false, link.as_deref()), 200)
}

/// `POST /v1/confirm/<token>`: the second step of double opt-in, or the confirmation of changes a repeat
/// asked for. A pending lead becomes `confirmed` with the time and pseudonymous client of the press, and
/// `lead.confirmed` is queued; held changes are applied and announced as `lead.updated`. The lead is read
/// again right before it is changed, and the delivery ids of `lead.confirmed` are derived from the lead,
/// so a second press changes nothing and two racing presses queue one message (one `webhook-id`).
pub(crate) async fn confirm(req: &Request, cx: &Cx<'_>, given: &str) -> Result<Response, Error> {
    let now = cx.now;
    let (lead, change) = match linked_lead(req, cx, token::Purpose::Confirm, given).await? {
        Ok(linked) => linked,
        Err(page) => return Ok(page),
    };
    let (lang, config, origin) = (lead.consent.lang, cx.config()?, own_origin(req));
    let link = |lead: &Lead| config.form(&lead.form).and_then(|f| download_link(cx, f, lead, &origin, now));
    let (lead, deliveries, page) = match confirmation::confirm(cx.cloud()?, config, &lead.id, change.as_deref(), cx.client(req)).await? {
        None => return html_response(&page::link_problem(lang, page::LinkProblem::Gone), 404),
        Some(confirmation::Confirmed::Already(_)) if change.is_some() => return html_response(&page::change_gone(lang), 200),
        Some(confirmation::Confirmed::Already(lead)) => return html_response(&page::confirmed(lang, false, link(&lead).as_deref()), 200),
        Some(confirmation::Confirmed::Changes(lead, deliveries)) => (lead, deliveries, page::changes_confirmed(lang)),
        Some(confirmation::Confirmed::Address(lead, deliveries)) => {
            let page = page::confirmed(lang, true, link(&lead).as_deref());
            (lead, deliveries, page)
        }
    };
    worker::console_log!("lead confirmed: {} form={} deliveries={}", lead.id, lead.form, deliveries.len());
    html_response(&page, 200)
}

/// `GET /v1/withdraw/<token>`: what withdrawing does, and the button that does it.
pub(crate) async fn withdraw_page(req: &Request, cx: &Cx<'_>, given: &str) -> Result<Response, Error> {
    match linked_lead(req, cx, token::Purpose::Withdraw, given).await? {
        Ok((lead, _)) if !lead.grants_anything() => html_response(&page::withdrawn(lead.consent.lang, false), 200),
        Ok((lead, _)) => html_response(&page::withdraw_prompt(lead.consent.lang), 200),
        Err(page) => Ok(page),
    }
}

/// `POST /v1/withdraw/<token>`: the person withdraws their consent from the link in a confirmation mail.
pub(crate) async fn withdraw_by_link(req: &Request, cx: &Cx<'_>, given: &str) -> Result<Response, Error> {
    let lead = match linked_lead(req, cx, token::Purpose::Withdraw, given).await? {
        Ok((lead, _)) => lead,
        Err(page) => return Ok(page),
    };
    let lang = lead.consent.lang;
    let done = withdraw(cx, &lead, withdrawal::Request { via: "link".into(), client: cx.client(req), note: None, purposes: None }).await?;
    html_response(&page::withdrawn(lang, done == Withdrawn::Erased), 200)
}

/// Runs the withdrawal service and logs what it did.
pub(crate) async fn withdraw(cx: &Cx<'_>, lead: &Lead, request: withdrawal::Request) -> Result<Withdrawn, Error> {
    let via = request.via.clone();
    let done = withdrawal::withdraw(cx.cloud()?, cx.config()?, lead, request).await?;
    worker::console_log!("consent withdrawn: {} form={} via={via} -> {done:?}", lead.id, lead.form);
    Ok(done)
}

/// The binding of the R2 bucket that holds gated files.
pub(crate) const FILES: &str = "FILES";

/// `GET /v1/download/<token>`: streams the gated file to the holder of a valid link and counts the download
/// in the ledger (`handout`: no KV write per download; the count is folded into the lead under its hold).
/// Altered or expired links get a readable 403 page, a link past its hourly limit a 429 page.
pub(crate) async fn download(req: &Request, cx: &Cx<'_>, given: &str) -> Result<Response, Error> {
    let lead = match linked_lead(req, cx, token::Purpose::Download, given).await? {
        Ok((lead, _)) => lead,
        Err(page) => return Ok(page),
    };
    let config = cx.config()?;
    let form = config.form(&lead.form).ok_or(Error::NotFound)?;
    let asset = form.asset.as_ref().ok_or(Error::NotFound)?;
    let bucket = cx.env.bucket(FILES).map_err(|_| Error::Config(format!("the R2 binding {FILES} is missing")))?;
    let object = bucket.get(asset.key.clone()).execute().await?;
    let Some(object) = object else {
        worker::console_error!("gated file {} of form {} is not in the bucket; upload it with PUT /v1/admin/files/{}", asset.key, form.id, asset.key);
        return html_response(&page::link_problem(lead.consent.lang, page::LinkProblem::Gone), 404);
    };
    if let handout::Handout::Limited { retry_after_secs } = handout::count(cx.cloud()?, config, &lead).await? {
        let mut page = html_response(&page::link_problem(lead.consent.lang, page::LinkProblem::TooOften), 429)?;
        let _ = page.headers_mut().set("Retry-After", &retry_after_secs.to_string());
        return Ok(page);
    }
    let body = object.body().ok_or_else(|| Error::Internal("r2 object without body".into()))?.response_body()?;
    let mut resp = Response::from_body(body)?;
    let h = resp.headers_mut();
    let _ = h.set("Content-Type", &asset.content_type);
    let _ = h.set("Content-Disposition", &crate::rules::disposition::content_disposition(&asset.filename));
    let _ = h.set("Content-Length", &object.size().to_string());
    let _ = h.set("Cache-Control", "private, no-store");
    Ok(resp)
}

/// `GET /dev/mailbox`: during development the mail API is the local mailbox of `cargo xtask dev`; this
/// sends the browser there, so the demo's mails are one click from the collector. Anywhere else (a mail
/// API that is not on the loopback host) the route does not exist.
pub(crate) fn dev_mailbox(cx: &Cx<'_>) -> Result<Response, Error> {
    let config = cx.config()?;
    let url = config.mail.as_ref().map(|m| m.endpoint()).unwrap_or_default();
    let local = ["http://127.0.0.1:", "http://localhost:"].iter().any(|p| url.starts_with(p)) && url.ends_with("/dev/mailbox");
    if !local {
        return Err(Error::NotFound);
    }
    redirect(url.to_owned())
}

/// `GET /v1/consent/verify?receipt=...`: whether a consent receipt is the collector's, and what it certifies.
pub(crate) fn verify_receipt(req: &Request, cx: &Cx<'_>) -> Result<Response, Error> {
    let given = query(req, "receipt")?.ok_or_else(|| Error::Malformed("Pass the receipt as ?receipt=<receipt>.".into()))?;
    let key = signing_key(cx.env)?;
    match receipt::verify(key.as_bytes(), &given) {
        Ok(content) => json_response(&json!({"genuine": true, "receipt": content}), 200),
        Err(receipt::Problem::NotGenuine) => json_response(&json!({"genuine": false}), 200),
        Err(receipt::Problem::Malformed) => Err(Error::Malformed("This is not a Leadgate consent receipt.".into())),
    }
}
