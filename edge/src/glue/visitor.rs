//! The routes a customer's page calls, which the collector serves: the embed script, submissions (JSON and
//! the plain form) and the page-view reports. Each does what needs the request and hands the decisions to
//! the services. (The links a person follows from a mail are `links`'.)

use crate::glue::context::Cx;
use crate::glue::counting;
use crate::glue::exchange::{error_response, header, html_response, json_response, own_origin, read_body, redirect, required_secret};
use crate::platform::cloud::secret;
use crate::protocol::analytics::Kind;
use crate::protocol::backend::Backend;
use crate::rules::address::origin_of;
use crate::rules::crm::Read;
use crate::services::analytics;
use crate::{rules::decoding, rules::embed, rules::intake, rules::page, rules::pseudonym, rules::turnstile, services::submission, Error};
use shared::form::{FormDef, FormsConfig, PublicForm};
use shared::lead::Lead;
use shared::wire::Submission;
use shared::Lang;
use worker::{Request, Response};

/// Where the widget's loader (its JavaScript, naming the wasm module's hashed path) is among the static
/// assets: `/w/<the first 16 hex digits of its SHA-256>.js`, which `cargo xtask build` writes before the
/// edge (see build.rs). The collector reads it through the `ASSETS` binding once per isolate and puts it in
/// every embed script, rather than carrying it in its bundle, which a cold start compiles: its 9 KB are
/// about 3.5 KB of the bundle's gzip. The module itself is a static asset too (`www/w/`).
const LOADER: &str = env!("LEADGATE_WIDGET_ASSET");

thread_local! {
    /// The loader, read once per isolate: it is the build's, so it never changes while the isolate lives.
    static LOADER_TEXT: std::cell::RefCell<Option<std::rc::Rc<str>>> = const { std::cell::RefCell::new(None) };
}

/// The widget's loader, from the static assets the first time (see [`LOADER`]).
async fn loader(cx: &Cx<'_>) -> Result<std::rc::Rc<str>, Error> {
    if let Some(text) = LOADER_TEXT.with(|l| l.borrow().clone()) {
        return Ok(text);
    }
    let text: std::rc::Rc<str> = crate::platform::binding::asset_text(cx.env, LOADER).await?.into();
    LOADER_TEXT.with(|l| *l.borrow_mut() = Some(text.clone()));
    Ok(text)
}

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
/// submission service (`submission::receive`) over KV and the ledger; a repeat it gets to is finished by
/// the operator (`handover`). The ledger's alarm attempts the deliveries.
pub(crate) async fn take(req: &Request, cx: &Cx<'_>, config: &FormsConfig, sub: Submission) -> Result<(u16, serde_json::Value), Error> {
    let origin = header(req, "Origin");
    let own = own_origin(req);
    let current = intake::form_for(config, &sub, origin.as_deref(), &own)?;
    // A page open during a publish sent what the version it showed asks for: checked against that one.
    let form = &cx.as_shown(current, sub.meta.version).await?;
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
    match submission::receive(cloud, &intake, sub).await? {
        submission::Received::Taken(taken) => Ok((taken.status, taken.body)),
        // A repeat reads and merges the stored lead, which the operator does (see `protocol::handover`).
        submission::Received::Repeat(handover) => crate::glue::handover::finish(cx, &intake, *handover).await,
    }
}

/// A signed download link for a download gate's lead, once it may have the file (see
/// `submission::download_link`); none without a signing secret.
pub(crate) fn download_link(cx: &Cx<'_>, form: &FormDef, lead: &Lead, origin: &str, now: u64) -> Option<String> {
    submission::download_link(&secret(cx.env, "SIGNING_SECRET")?, form, lead, origin, now)
}

pub(crate) async fn embed_script(req: &Request, cx: &Cx<'_>, form_id: &str) -> Result<Response, Error> {
    let config = cx.config()?;
    let form = config.form(form_id).ok_or(Error::UnknownForm)?;
    // Every page view asks (the script is revalidated, never taken from a cache unasked), so each request
    // is a load; a browser that has this version gets a bodiless 304 and runs its copy.
    if analytics::count(&counting::buffer(), &form.id, Kind::Load, cx.now) {
        counting::schedule(cx);
    }
    let origin = own_origin(req);
    let body = embed::script(&loader(cx).await?, &PublicForm::from(form), &origin, Some(&origin));
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
