//! The routes a visitor's browser calls: the embed script, submissions (JSON and the plain form),
//! confirmation and withdraw links, gated downloads, receipts. Each does what needs the request and hands
//! the decisions to the services.

use crate::glue::context::Cx;
use crate::glue::counting;
use crate::glue::exchange::{error_response, header, html_response, json_response, own_origin, query, read_body, redirect, required_secret, signing_key};
use crate::glue::links::linked_lead;
use crate::platform::cloud::secret;
use crate::protocol::analytics::Kind;
use crate::protocol::backend::Backend;
use crate::rules::address::origin_of;
use crate::rules::crm::Read;
use crate::services::analytics;
use crate::services::withdrawal::{self, Withdrawn};
use crate::{
    rules::decoding, rules::embed, rules::intake, rules::page, rules::pseudonym, rules::receipt, rules::repeats, rules::token, rules::turnstile,
    services::confirmation, services::handout, services::submission, Error,
};
use serde_json::json;
use shared::form::{FormDef, FormsConfig, PublicForm};
use shared::lead::{Lead, Status};
use shared::wire::Submission;
use shared::Lang;
use worker::{Request, Response};

/// The widget's loader (its JavaScript, naming the wasm module's hashed path), built by `cargo xtask build`
/// before the edge (see build.rs). The module itself is a static asset (`www/w/`), never in this Worker.
const WIDGET_JS: &str = include_str!(env!("LEADGATE_WIDGET_JS"));

/// Asks Turnstile's siteverify about the submission's token. A missing or refused token is a 403. If
/// siteverify cannot be reached the submission is let through and the fault logged: a Cloudflare outage
/// must not cost real visitors their leads, and the honeypot and fill-time checks still apply.
pub(crate) async fn check_human(req: &Request, cx: &Cx<'_>, settings: &shared::form::Turnstile, token: Option<&str>) -> Result<(), Error> {
    let token = token.filter(|t| !t.is_empty()).ok_or(Error::HumanCheckFailed)?;
    let secret = required_secret(cx.env, &settings.secret)?;
    let ip = header(req, "CF-Connecting-IP");
    match cx.cloud()?.call(&turnstile::request(settings, &secret, token, ip.as_deref()), 10_000, Read::Body).await {
        Ok(reply) if reply.status == 200 => {
            if turnstile::passed(&reply.body) {
                Ok(())
            } else {
                Err(Error::HumanCheckFailed)
            }
        }
        Ok(reply) => {
            worker::console_error!("turnstile siteverify answered {}; letting the submission through", reply.status);
            Ok(())
        }
        Err(e) => {
            worker::console_error!("turnstile siteverify unreachable ({e}); letting the submission through");
            Ok(())
        }
    }
}

/// The binding of the Workers rate limiter (configured from `[rate_limit]`).
pub(crate) const LIMITER: &str = "LIMITER";

/// Counts a submission against the form's and client's budget; `429` with `Retry-After` once it is spent.
/// Without the binding (an older runtime) submissions are not limited, which is logged.
pub(crate) async fn limit_rate(cx: &Cx<'_>, limit: shared::form::RateLimit, form: &str, client: &str) -> Result<(), Error> {
    // The binding's own `limit({key})`, read field by field (see `platform::binding`).
    let key = worker::wasm_bindgen::JsValue::from_str(&format!("{form}:{client}"));
    let outcome = crate::platform::binding::call(cx.env, LIMITER, "limit", &[("key", key)]).await;
    match outcome.map(|o| worker::js_sys::Reflect::get(&o, &"success".into()).map(|s| s.as_bool())) {
        Ok(Ok(Some(true))) => Ok(()),
        Ok(Ok(Some(false))) => Err(Error::RateLimited { retry_after_secs: limit.period }),
        // A limiter fault (a missing binding, an odd answer) must not cost a real visitor their lead.
        other => {
            worker::console_error!("rate limit configured but the {LIMITER} binding failed: {other:?}");
            Ok(())
        }
    }
}

pub(crate) async fn submit(req: &mut Request, cx: &Cx<'_>, form_named: &mut Option<String>) -> Result<Response, Error> {
    let config = cx.config()?;
    let encoding = decoding::encoding(header(req, "Content-Type").as_deref())?;
    let body = read_body(req, decoding::MAX_BODY).await?;
    let sub = decoding::parse(encoding, &body)?;
    *form_named = Some(sub.form.clone());
    if encoding == decoding::Encoding::Json {
        // Messages in the form's language, else the one the widget showed: the same text as in the form.
        let lang = config.form(&sub.form).and_then(|f| f.lang).or(sub.meta.lang);
        return match (take(req, cx, config, sub).await, lang) {
            (Ok((status, body)), _) => json_response(&body, status),
            (Err(e), Some(lang)) => error_response(req, cx.env, &e, lang).map_err(Error::from),
            (Err(e), None) => Err(e),
        };
    }
    // The no-JavaScript form: the browser navigates, so answer with pages, not JSON.
    let form = config.form(&sub.form);
    let lang = Lang::choose(form.and_then(|f| f.lang), sub.meta.lang);
    // Where "back to the form" leads: the page the snippet names in `_page`, else the Referer (which
    // browsers cut to the origin for cross-origin posts), and only when it is on an origin the form allows:
    // an error page must not become a link to anywhere an attacker likes.
    let own = own_origin(req);
    let back = sub
        .meta
        .page
        .clone()
        .or_else(|| header(req, "Referer"))
        .filter(|url| origin_of(url).is_some_and(|o| o == own || form.is_some_and(|f| f.allows_origin(&o))));
    let outcome = take(req, cx, config, sub).await;
    if let (Ok(_), Some(f)) = (&outcome, form) {
        // The plain form's submissions are its only analytics: no script runs to see its views.
        if analytics::count(&counting::buffer(), &f.id, Kind::Posted, cx.now) {
            counting::schedule(cx);
        }
    }
    match (outcome, form) {
        (Ok(_), Some(f)) => redirect(f.thank_you_url.clone().unwrap_or_else(|| format!("/v1/thanks?lang={}", lang.tag()))),
        (Ok(_), None) => redirect(format!("/v1/thanks?lang={}", lang.tag())),
        (Err(e @ (Error::Internal(_) | Error::Config(_) | Error::Misconfigured(_))), _) => Err(e),
        (Err(e), Some(f)) if f.error_url.is_some() => {
            let code = serde_json::to_value(e.body(lang).error.code).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
            let url = f.error_url.clone().unwrap_or_default();
            redirect(format!("{url}{}code={code}", if url.contains('?') { '&' } else { '?' }))
        }
        (Err(e), _) => {
            let label = |key: &str| -> String {
                let Some(f) = form else { return key.to_owned() };
                match key.strip_prefix("consent.") {
                    Some(id) => f.consents.iter().find(|p| p.id == id).map_or(key.to_owned(), |p| p.text.get(lang).to_owned()),
                    None => f.fields.iter().find(|d| d.name == key).map_or(key.to_owned(), |d| d.label(lang).to_owned()),
                }
            };
            let mut resp = html_response(&page::error(lang, &e.body(lang), &label, back.as_deref()), e.status())?;
            for (name, value) in e.headers() {
                let _ = resp.headers_mut().set(name, &value);
            }
            Ok(resp)
        }
    }
}

/// Accepts a submission: what needs the request (origin, secrets, rate limit, Turnstile) here, then the
/// submission service (`submission::take`) over KV and the ledger, then the first delivery attempts.
pub(crate) async fn take(req: &Request, cx: &Cx<'_>, config: &FormsConfig, sub: Submission) -> Result<(u16, serde_json::Value), Error> {
    let origin = header(req, "Origin");
    let own = own_origin(req);
    let current = intake::form_for(config, &sub, origin.as_deref(), &own)?;
    // A page open during a publish sent what the version it showed asks for: checked against that one.
    let form = &match sub.meta.version.filter(|v| Some(*v) != current.version) {
        Some(v) => crate::services::catalog::as_shown(current, shown_version(cx, &current.id, v).await?),
        None => current.clone(),
    };
    // Checked before anything is stored: a lead must never be stored without the receipt its answer owes.
    let signing = required_secret(cx.env, "SIGNING_SECRET")?;
    if let Some(limit) = config.rate_limit {
        let key = required_secret(cx.env, "CLIENT_ID_SECRET")?;
        if let Some(ip) = header(req, "CF-Connecting-IP") {
            limit_rate(cx, limit, &form.id, &pseudonym::client_id(key.as_bytes(), &pseudonym::network(&ip))).await?;
        }
    }
    let key = match header(req, "Idempotency-Key") {
        Some(h) => Some(decoding::idempotency_key(&h)?),
        None => None,
    };
    // Bots are answered by the service before Turnstile is asked: they get a decoy, not a 403.
    if let Some(settings) = form.turnstile.as_ref().filter(|_| !intake::is_spam(&sub, form)) {
        check_human(req, cx, settings, sub.meta.turnstile.as_deref()).await?;
    }
    let cloud = cx.cloud()?;
    let intake = submission::Intake { config, form, signing: &signing, origin: &own, key, client: cx.client(req) };
    // The deliveries are the ledger alarm's to attempt, at once. Nothing is logged for an accepted
    // submission: the runtime's request log has its status, and the line took about 4% of its CPU time in a
    // profile.
    let taken = submission::take(cloud, &intake, sub).await?;
    Ok((taken.status, taken.body))
}

/// A published version this isolate was asked for: `((form, n), its definition if it exists)`.
type Shown = ((String, u32), Option<FormDef>);

thread_local! {
    /// Published versions this isolate was asked for (immutable, so kept as long as the isolate; a few at
    /// most, from pages open during a publish).
    static SHOWN: std::cell::RefCell<Vec<Shown>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Version `n` of `form`, as a page that showed it needs it checked: from the catalog once per isolate.
async fn shown_version(cx: &Cx<'_>, form: &str, n: u32) -> Result<Option<FormDef>, Error> {
    let key = (form.to_owned(), n);
    if let Some(found) = SHOWN.with(|s| s.borrow().iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone())) {
        return Ok(found);
    }
    let found = crate::services::catalog::version(cx.cloud()?, form, n).await?;
    SHOWN.with(|s| {
        let mut s = s.borrow_mut();
        if s.len() >= 32 {
            s.remove(0);
        }
        s.push((key, found.clone()));
    });
    Ok(found)
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

/// A signed download link for a download gate's lead, once it may have the file (see
/// `submission::download_link`); none without a signing secret.
pub(crate) fn download_link(cx: &Cx<'_>, form: &FormDef, lead: &Lead, origin: &str, now: u64) -> Option<String> {
    submission::download_link(&secret(cx.env, "SIGNING_SECRET")?, form, lead, origin, now)
}

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

/// Where a preview's widget would send: a name that never resolves (RFC 2606).
const PREVIEW_ENDPOINT: &str = "https://preview.invalid";

/// `POST /v1/preview` with a form definition: its embed script, as `/embed/<form>.js` would serve it once
/// published (the editor's live preview runs the real widget on it). Nothing is read or stored, so it
/// takes no token; a definition that cannot render (no fields) is a 400.
pub(crate) async fn preview(req: &mut Request) -> Result<Response, Error> {
    let body = read_body(req, 64 * 1024).await?;
    let mut form: FormDef =
        serde_json::from_str(decoding::json_text(&body, "Not a form definition")?).map_err(|e| Error::Malformed(format!("Not a form definition: {e}.")))?;
    // `?variant=<name>`: the form as that variant of its A/B test shows it (else each render draws one).
    if let Some(name) = query(req, "variant")? {
        form =
            form.with_winner(&name).ok_or_else(|| Error::Malformed(format!("`variant`: the draft has no variant `{}`.", shared::text::prefix(&name, 64))))?;
    }
    if form.fields.is_empty() {
        return Err(Error::Malformed("A form needs at least one field to be shown.".into()));
    }
    // Sent nowhere: a preview's submission is refused by the browser and says the collector cannot be
    // reached, rather than becoming a lead of the published form.
    // Its rules come from this collector, like a published form's.
    let mut resp = Response::ok(embed::script(WIDGET_JS, &PublicForm::from(&form), PREVIEW_ENDPOINT, Some(&own_origin(req))))?;
    let _ = resp.headers_mut().set("Content-Type", "text/javascript; charset=utf-8");
    let _ = resp.headers_mut().set("Cache-Control", "no-store");
    Ok(resp)
}

pub(crate) fn embed_script(req: &Request, cx: &Cx<'_>, form_id: &str) -> Result<Response, Error> {
    let config = cx.config()?;
    let form = config.form(form_id).ok_or(Error::UnknownForm)?;
    // Every page view asks (the script is revalidated, never taken from a cache unasked), so each request
    // is a load; a browser that has this version gets a bodiless 304 and runs its copy.
    if analytics::count(&counting::buffer(), &form.id, Kind::Load, cx.now) {
        counting::schedule(cx);
    }
    let origin = own_origin(req);
    let body = embed::script(WIDGET_JS, &PublicForm::from(form), &origin, Some(&origin));
    let digest = crate::rules::digest::sha256_hex(body.as_bytes());
    let etag = format!("\"{}\"", digest.get(..20).unwrap_or_default());
    let fresh = header(req, "If-None-Match").is_some_and(|tags| tags.split(',').any(|t| t.trim().trim_start_matches("W/") == etag));
    let mut resp = if fresh { Response::empty()?.with_status(304) } else { Response::ok(body)? };
    let h = resp.headers_mut();
    let _ = h.set("Content-Type", "text/javascript; charset=utf-8");
    // `no-cache` is "revalidate before use", not "do not cache": the body is downloaded once per version,
    // and a changed form reaches returning visitors at once.
    let _ = h.set("Cache-Control", "no-cache");
    let _ = h.set("ETag", &etag);
    Ok(resp)
}

/// `POST /v1/beacon`: a page view's analytics report (`rules::beacon`), added to the isolate's sums and
/// written with them (`counting`). `204`; a report that is not one, names a form that does not exist or
/// comes from a page the form does not allow is refused like a submission would be (4xx, nothing counted).
/// The rate limit, when configured, applies per form and client network as for submissions.
pub(crate) async fn beacon(req: &mut Request, cx: &Cx<'_>) -> Result<Response, Error> {
    let body = read_body(req, crate::rules::beacon::MAX_BODY).await?;
    let report = crate::rules::beacon::parse(&body)?;
    let config = cx.config()?;
    let form = config.form(&report.form).ok_or(Error::UnknownForm)?;
    if let Some(origin) = header(req, "Origin") {
        if origin != own_origin(req) && !form.allows_origin(&origin) {
            return Err(Error::OriginNotAllowed);
        }
    }
    // As for submissions: per client network, and only where the runtime names the client.
    if let (Some(limit), Some(key), Some(ip)) = (config.rate_limit, secret(cx.env, "CLIENT_ID_SECRET"), header(req, "CF-Connecting-IP")) {
        limit_rate(cx, limit, &format!("views:{}", form.id), &pseudonym::client_id(key.as_bytes(), &pseudonym::network(&ip))).await?;
    }
    let client = cx.client(req).unwrap_or_default();
    let agent = header(req, "User-Agent").unwrap_or_default();
    let sender = analytics::Sender { client: &client, user_agent: &agent };
    if analytics::take(&counting::buffer(), form, &report, &sender, cx.now)? {
        counting::schedule(cx);
    }
    Ok(Response::empty()?.with_status(204))
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
