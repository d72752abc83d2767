//! The Worker's entry points and route table: thin glue between the Workers runtime and the pure modules.

use crate::cloud::{self, config, secret, Cloud};
use crate::crm::Read;
use crate::ledger::{self, Command};
use crate::route::{Miss, Route};
use crate::storage::{ask, Backend};
use crate::withdrawal::{self, Withdrawn};
use crate::{admin, confirmation, draw, drawing, embed, erasure, export, id, intake, listing, page, pseudonym, receipt, store, submission, token, turnstile, Error};
use serde_json::json;
use shared::form::{FormDef, FormKind, FormsConfig, PublicForm};
use shared::lead::{Lead, Status};
use shared::wire::Submission;
use shared::Lang;
use worker::{event, Context, Date, Env, Headers, Request, Response, ScheduleContext, ScheduledEvent};

/// The widget bundle, built by `cargo xtask build` before the edge (see build.rs).
const WIDGET_JS: &str = include_str!(env!("LEADGATE_WIDGET_JS"));

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(fetch)]
pub async fn fetch(mut req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    let origin = header(&req, "Origin");
    let lang = header(&req, "Accept-Language").and_then(|l| Lang::from_tag(&l)).unwrap_or_default();
    let route = Route::parse(req.method().as_ref(), &req.path());
    // The form a submission named, once its body is read: CORS answers only for that form's origins.
    let mut form_named = None;
    let outcome = match &route {
        Ok(route) => dispatch(route, &mut req, &env, &mut form_named).await,
        Err(Miss::NotFound) => Err(Error::NotFound),
        Err(Miss::MethodNotAllowed(allow)) => Err(Error::MethodNotAllowed(allow.clone())),
    };
    let response = match outcome {
        // A person who typed or followed a URL gets a readable page; scripts and API clients get JSON.
        Err(e) if header(&req, "Sec-Fetch-Mode").as_deref() == Some("navigate") => match html_response(&page::problem(visitor_lang(&req), &e.body(visitor_lang(&req))), e.status()) {
            Ok(mut page) => {
                for (name, value) in e.headers() {
                    page.headers_mut().set(name, &value)?;
                }
                page
            }
            Err(_) => error_response(&req, &e, lang)?,
        },
        Ok(r) => r,
        Err(e) => error_response(&req, &e, lang)?,
    };
    match (&route, origin) {
        (Ok(r), Some(origin)) if r.is_cross_origin() && cors_allowed(&req, &env, &origin, form_named.as_deref()) => Ok(with_cors(response, &origin)),
        _ => Ok(response),
    }
}

/// Runs the handler of a route. Admin routes are authorized here, once, before any handler runs.
async fn dispatch(route: &Route, req: &mut Request, env: &Env, form_named: &mut Option<String>) -> Result<Response, Error> {
    if route.is_admin() {
        authorize(req, env)?;
    }
    match route {
        Route::Submit => submit(req, env, form_named).await,
        Route::SubmitPreflight => preflight(),
        Route::Health => json_response(&json!({"ok": true}), 200),
        Route::VerifyReceipt => verify_receipt(req, env),
        Route::ConfirmPage(token) => confirm_page(req, env, token).await,
        Route::Confirm(token) => confirm(req, env, token).await,
        Route::WithdrawPage(token) => withdraw_page(req, env, token).await,
        Route::Withdraw(token) => withdraw_by_link(req, env, token).await,
        Route::Download(token) => download(req, env, token).await,
        Route::Thanks => {
            let lang = query(req, "lang")?.as_deref().and_then(Lang::from_tag);
            html_response(&page::thanks(lang.unwrap_or_default()), 200)
        }
        Route::Embed(form) => embed_script(req, env, form),
        Route::DevMailbox => dev_mailbox(env),
        Route::UploadFile(key) => upload(req, env, key).await,
        Route::ListLeads => list_leads(req, env).await,
        Route::LeadsCsv => leads_csv(req, env).await,
        Route::LeadDetail(id) => lead_detail(env, id, false).await,
        Route::LeadExport(id) => lead_detail(env, id, true).await,
        Route::EraseLead(id) => erase(env, id).await,
        Route::WithdrawLead(id) => withdraw_by_admin(req, env, id).await,
        Route::Stats => spam_stats(env).await,
        Route::Deliveries => list_deliveries(req, env).await,
        Route::ReplayDelivery(id) => replay(env, id).await,
        Route::Endpoints => list_endpoints(env).await,
        Route::EnableEndpoint { form, endpoint } => enable_endpoint(env, form, endpoint).await,
        Route::Draw(form) => draw_winners(req, env, form).await,
        Route::Draws(form) => list_draws(env, form).await,
    }
}

/// A request header's value, if present and readable.
fn header(req: &Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}

/// The one place an [`Error`] becomes a response: its status, headers and JSON body in `lang`, logged
/// without personal data when it is the collector's fault.
fn error_response(req: &Request, e: &Error, lang: Lang) -> worker::Result<Response> {
    if let Some(line) = e.log_line() {
        worker::console_error!("{} {}: {line}", req.method(), req.path());
    }
    let mut resp = Response::from_json(&e.body(lang))?.with_status(e.status());
    for (name, value) in e.headers() {
        resp.headers_mut().set(name, &value)?;
    }
    Ok(resp)
}

#[event(scheduled)]
pub async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    // The watchdog: the ledger's alarm delivers at each delivery's due time; this only sets it again in
    // case it was lost.
    let woken = match Cloud::of(&env) {
        Ok(cloud) => ask::<ledger::Backlog, _>(&cloud, &Command::Wake { now: Date::now().as_millis() }).await,
        Err(e) => Err(e),
    };
    if let Err(e) = woken {
        worker::console_error!("waking the ledger failed: {}", e.log_line().unwrap_or_default());
    }
    if let Err(e) = erase_unconfirmed(&env).await {
        worker::console_error!("erasing unconfirmed leads failed: {}", e.log_line().unwrap_or_default());
    }
    if let Err(e) = backfill_index(&env).await {
        worker::console_error!("indexing stored leads failed: {}", e.log_line().unwrap_or_default());
    }
    if let Err(e) = backfill_outbox(&env).await {
        worker::console_error!("moving stored deliveries failed: {}", e.log_line().unwrap_or_default());
    }
}

/// Where the backfill of the lead index stands (KV): `{"cursor": <KV list cursor>, "done": bool}`.
const BACKFILL_KEY: &str = "meta:index-backfill";

/// How many stored leads one scheduled run indexes: a few KV reads and ledger requests a minute, well
/// within an invocation's limits, and about 57,000 leads a day.
const BACKFILL_PER_RUN: u64 = 40;

/// Builds the ledger's lead index from the lead documents a collector stored before it had one (the
/// upgrade from the KV-only layout), a page per scheduled run until every document has been seen once.
/// Idempotent: indexing a lead again writes the same row, and erased leads are never indexed.
async fn backfill_index(env: &Env) -> Result<(), Error> {
    let kv = kv(env)?;
    let state: Option<serde_json::Value> = kv.get(BACKFILL_KEY).json().await?;
    if state.as_ref().and_then(|s| s.get("done")).and_then(serde_json::Value::as_bool) == Some(true) {
        return Ok(());
    }
    let cursor = state.as_ref().and_then(|s| s.get("cursor")).and_then(|c| c.as_str()).map(str::to_owned);
    let page = store::list(&kv, "lead:", BACKFILL_PER_RUN, cursor).await?;
    let cloud = Cloud::of(env)?;
    for key in &page.keys {
        if let Some(lead) = store::get_lead(&kv, key.name.strip_prefix("lead:").unwrap_or(&key.name)).await? {
            cloud.ledger(&Command::Index { entry: ledger::Entry::of(&lead), only_if_missing: true }).await?;
        }
    }
    let done = page.list_complete || page.cursor.is_none();
    kv.put(BACKFILL_KEY, json!({"cursor": page.cursor, "done": done}).to_string())?.execute().await?;
    if !page.keys.is_empty() {
        worker::console_log!("lead index backfill: {} leads indexed, done={done}", page.keys.len());
    }
    Ok(())
}

/// Set once every delivery of the KV-only layout is in the ledger's outbox.
const OUTBOX_BACKFILL_KEY: &str = "meta:outbox-backfill";

/// How many deliveries of the KV-only layout one scheduled run moves into the ledger's outbox.
const OUTBOX_BACKFILL_PER_RUN: u64 = 40;

/// Moves the pending and dead deliveries a collector stored in KV before it had a ledger into the ledger's
/// outbox (keeping their state, attempts and due time), then deletes their KV keys; delivered ones are only
/// deleted. Idempotent: the outbox keeps a delivery it already has, and a key is deleted only after its
/// delivery is queued.
async fn backfill_outbox(env: &Env) -> Result<(), Error> {
    let kv = kv(env)?;
    // Once nothing is left, a flag saves the KV list a minute (the free plan allows 1,000 lists a day).
    if kv.get(OUTBOX_BACKFILL_KEY).text().await?.is_some() {
        return Ok(());
    }
    let page = store::list(&kv, "dlv:", OUTBOX_BACKFILL_PER_RUN, None).await?;
    if page.keys.is_empty() {
        kv.put(OUTBOX_BACKFILL_KEY, "done")?.execute().await?;
        return Ok(());
    }
    let mut moved = Vec::new();
    for key in &page.keys {
        if let Some(d) = kv.get(&key.name).json::<crate::outbox::Delivery>().await? {
            if d.state != crate::outbox::State::Delivered {
                moved.push(d);
            }
        }
    }
    let count = moved.len();
    if !moved.is_empty() {
        Cloud::of(env)?.ledger(&Command::Queue { deliveries: moved }).await?;
    }
    for key in &page.keys {
        kv.delete(&key.name).await?;
    }
    worker::console_log!("outbox backfill: {count} deliveries moved into the ledger, {} keys removed", page.keys.len());
    Ok(())
}

/// Erases double opt-in leads nobody confirmed in time (see `erasure::erase_unconfirmed`).
async fn erase_unconfirmed(env: &Env) -> Result<(), Error> {
    let erased = erasure::erase_unconfirmed(&Cloud::of(env)?, config(env)?).await?;
    if erased > 0 {
        worker::console_log!("unconfirmed leads erased: {erased}");
    }
    Ok(())
}

/// A secret the request cannot do without: a missing one is a `misconfigured` error naming it, never a
/// silent skip of the feature that needs it.
fn required_secret(env: &Env, name: &str) -> Result<String, Error> {
    secret(env, name).ok_or_else(|| Error::Misconfigured(name.to_owned()))
}

fn own_origin(req: &Request) -> Result<String, Error> {
    let url = req.url()?;
    Ok(url.origin().ascii_serialization())
}

/// Asks Turnstile's siteverify about the submission's token. A missing or refused token is a 403. If
/// siteverify cannot be reached the submission is let through and the fault logged: a Cloudflare outage
/// must not cost real visitors their leads, and the honeypot and fill-time checks still apply.
async fn check_human(req: &Request, env: &Env, settings: &shared::form::Turnstile, token: Option<&str>) -> Result<(), Error> {
    let token = token.filter(|t| !t.is_empty()).ok_or(Error::HumanCheckFailed)?;
    let secret = required_secret(env, &settings.secret)?;
    let ip = header(req, "CF-Connecting-IP");
    match Cloud::of(env)?.call(&turnstile::request(settings, &secret, token, ip.as_deref()), 10_000, Read::Body).await {
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
const LIMITER: &str = "LIMITER";

/// Counts a submission against the form's and client's budget; `429` with `Retry-After` once it is spent.
/// Without the binding (an older runtime) submissions are not limited, which is logged.
async fn limit_rate(env: &Env, limit: shared::form::RateLimit, form: &str, client: &str) -> Result<(), Error> {
    let limiter = match env.rate_limiter(LIMITER) {
        Ok(l) => l,
        Err(e) => {
            worker::console_error!("rate limit configured but the {LIMITER} binding is unusable: {e}");
            return Ok(());
        }
    };
    match limiter.limit(format!("{form}:{client}")).await {
        Ok(outcome) if outcome.success => Ok(()),
        Ok(_) => Err(Error::RateLimited { retry_after_secs: limit.period }),
        Err(e) => {
            // A limiter fault must not cost a real visitor their lead.
            worker::console_error!("rate limiter failed: {e}");
            Ok(())
        }
    }
}

/// The pseudonymous id of the request's client (keyed HMAC of its IP address), if a key is configured.
fn client_id(req: &Request, env: &Env) -> Option<String> {
    let ip = header(req, "CF-Connecting-IP")?;
    Some(pseudonym::client_id(secret(env, "CLIENT_ID_SECRET")?.as_bytes(), &ip))
}

/// The request body, read as a stream and stopped at `limit` bytes: a body without `Content-Length`, or
/// with a false one, is never read further than `limit` + 1 bytes before the 413.
async fn read_body(req: &mut Request, limit: usize) -> Result<Vec<u8>, Error> {
    use futures_util::StreamExt;
    let declared = header(req, "Content-Length").and_then(|l| l.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(Error::TooLarge);
    }
    let Ok(mut stream) = req.stream() else { return Ok(Vec::new()) };
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| Error::Malformed("The body could not be read.".into()))?;
        if body.len().saturating_add(chunk.len()) > limit {
            return Err(Error::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn json_response(value: &serde_json::Value, status: u16) -> Result<Response, Error> {
    Ok(Response::from_json(value)?.with_status(status))
}

fn kv(env: &Env) -> Result<worker::kv::KvStore, Error> {
    cloud::kv(env)
}

async fn submit(req: &mut Request, env: &Env, form_named: &mut Option<String>) -> Result<Response, Error> {
    let config = config(env)?;
    let encoding = intake::encoding(header(req, "Content-Type").as_deref())?;
    let body = read_body(req, intake::MAX_BODY).await?;
    let sub = intake::parse(encoding, &body)?;
    *form_named = Some(sub.form.clone());
    if encoding == intake::Encoding::Json {
        // Messages in the form's language, else the one the widget showed: the same text as in the form.
        let lang = config.form(&sub.form).and_then(|f| f.lang).or(sub.meta.lang);
        return match (take(req, env, config, sub).await, lang) {
            (Ok((status, body)), _) => json_response(&body, status),
            (Err(e), Some(lang)) => error_response(req, &e, lang).map_err(Error::from),
            (Err(e), None) => Err(e),
        };
    }
    // The no-JavaScript form: the browser navigates, so answer with pages, not JSON.
    let form = config.form(&sub.form);
    let lang = Lang::choose(form.and_then(|f| f.lang), sub.meta.lang);
    // Where "back to the form" leads: the page the snippet names in `_page`, else the Referer (which
    // browsers cut to the origin for cross-origin posts), and only when it is on an origin the form allows:
    // an error page must not become a link to anywhere an attacker likes.
    let own = own_origin(req)?;
    let back = sub
        .meta
        .page
        .clone()
        .or_else(|| header(req, "Referer"))
        .filter(|url| origin_of(url).is_some_and(|o| o == own || form.is_some_and(|f| f.allows_origin(&o))));
    let outcome = take(req, env, config, sub).await;
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

/// The origin (`scheme://host[:port]`) of an absolute http(s) URL.
fn origin_of(url: &str) -> Option<String> {
    let parsed = worker::Url::parse(url).ok()?;
    matches!(parsed.scheme(), "http" | "https").then(|| parsed.origin().ascii_serialization())
}

/// Accepts a submission: what needs the request (origin, secrets, rate limit, Turnstile) here, then the
/// submission service (`submission::take`) over KV and the ledger, then the first delivery attempts.
async fn take(req: &Request, env: &Env, config: &'static FormsConfig, sub: Submission) -> Result<(u16, serde_json::Value), Error> {
    let origin = header(req, "Origin");
    let own = own_origin(req)?;
    let form = intake::form_for(config, &sub, origin.as_deref(), &own)?;
    // Checked before anything is stored: a lead must never be stored without the receipt its answer owes.
    let signing = required_secret(env, "SIGNING_SECRET")?;
    if let Some(limit) = config.rate_limit {
        let key = required_secret(env, "CLIENT_ID_SECRET")?;
        if let Some(ip) = header(req, "CF-Connecting-IP") {
            limit_rate(env, limit, &form.id, &pseudonym::client_id(key.as_bytes(), &pseudonym::network(&ip))).await?;
        }
    }
    let key = match header(req, "Idempotency-Key") {
        Some(h) => Some(intake::idempotency_key(&h)?),
        None => None,
    };
    // Bots are answered by the service before Turnstile is asked: they get a decoy, not a 403.
    if let Some(settings) = form.turnstile.as_ref().filter(|_| !intake::is_spam(&sub, form)) {
        check_human(req, env, settings, sub.meta.turnstile.as_deref()).await?;
    }
    let cloud = Cloud::of(env)?;
    let intake = submission::Intake { config, form, signing: &signing, origin: &own, key, client: client_id(req, env) };
    let taken = submission::take(&cloud, &intake, sub).await?;
    // The deliveries are the ledger alarm's to attempt, at once.
    worker::console_log!("submission answered {} form={} deliveries={}", taken.status, form.id, taken.deliveries.len());
    Ok((taken.status, taken.body))
}

/// The collector's signing secret, from which receipts and links derive their keys.
fn signing_key(env: &Env) -> Result<String, Error> {
    required_secret(env, "SIGNING_SECRET")
}

/// The lead a link's token stands for, or (as `Err`) the readable page that says why there is none:
/// 403 for an altered or expired link, 404 when the lead has been erased.
async fn linked_lead(req: &Request, env: &Env, kv: &worker::kv::KvStore, purpose: token::Purpose, given: &str, now: u64) -> Result<Result<Lead, Response>, Error> {
    let guess = visitor_lang(req);
    let problem = match token::verify(signing_key(env)?.as_bytes(), purpose, given, now) {
        Ok(id) => match store::get_lead(kv, &id).await? {
            Some(lead) => return Ok(Ok(lead)),
            None => (page::LinkProblem::Gone, 404),
        },
        Err(token::Problem::Invalid) => (page::LinkProblem::Invalid, 403),
        Err(token::Problem::Expired) => (page::LinkProblem::Expired, 403),
    };
    Ok(Err(html_response(&page::link_problem(guess, problem.0), problem.1)?))
}

/// `GET /v1/confirm/<token>`: a page with one button. Nothing is confirmed by the GET: mail security
/// scanners follow links, and a confirmation must be the person's own act.
async fn confirm_page(req: &Request, env: &Env, given: &str) -> Result<Response, Error> {
    let now = Date::now().as_millis();
    let lead = match linked_lead(req, env, &kv(env)?, token::Purpose::Confirm, given, now).await? {
        Ok(lead) => lead,
        Err(page) => return Ok(page),
    };
    let lang = lead.consent.lang;
    if lead.status == Status::Pending || lead.held.is_some() {
        return html_response(&page::confirm_prompt(lang, lead.status != Status::Pending), 200);
    }
    let link = config(env)?.form(&lead.form).and_then(|f| download_link(env, f, &lead, &own_origin(req).ok()?, now));
    html_response(&page::confirmed(lang, false, link.as_deref()), 200)
}

/// `POST /v1/confirm/<token>`: the second step of double opt-in, or the confirmation of changes a repeat
/// asked for. A pending lead becomes `confirmed` with the time and pseudonymous client of the press, and
/// `lead.confirmed` is queued; held changes are applied and announced as `lead.updated`. The lead is read
/// again right before it is changed, and the delivery ids of `lead.confirmed` are derived from the lead,
/// so a second press changes nothing and two racing presses queue one message (one `webhook-id`).
async fn confirm(req: &Request, env: &Env, given: &str) -> Result<Response, Error> {
    let now = Date::now().as_millis();
    let kv = kv(env)?;
    let lead = match linked_lead(req, env, &kv, token::Purpose::Confirm, given, now).await? {
        Ok(lead) => lead,
        Err(page) => return Ok(page),
    };
    let lang = lead.consent.lang;
    let config = config(env)?;
    let origin = own_origin(req)?;
    let link = |lead: &Lead| config.form(&lead.form).and_then(|f| download_link(env, f, lead, &origin, now));
    let (lead, deliveries, page) = match confirmation::confirm(&Cloud::of(env)?, config, &lead.id, client_id(req, env)).await? {
        None => return html_response(&page::link_problem(lang, page::LinkProblem::Gone), 404),
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
async fn withdraw_page(req: &Request, env: &Env, given: &str) -> Result<Response, Error> {
    let now = Date::now().as_millis();
    match linked_lead(req, env, &kv(env)?, token::Purpose::Withdraw, given, now).await? {
        Ok(lead) if !lead.grants_anything() => html_response(&page::withdrawn(lead.consent.lang, false), 200),
        Ok(lead) => html_response(&page::withdraw_prompt(lead.consent.lang), 200),
        Err(page) => Ok(page),
    }
}

/// `POST /v1/withdraw/<token>`: the person withdraws their consent from the link in a confirmation mail.
async fn withdraw_by_link(req: &Request, env: &Env, given: &str) -> Result<Response, Error> {
    let now = Date::now().as_millis();
    let kv = kv(env)?;
    let lead = match linked_lead(req, env, &kv, token::Purpose::Withdraw, given, now).await? {
        Ok(lead) => lead,
        Err(page) => return Ok(page),
    };
    let lang = lead.consent.lang;
    let done = withdraw(env, &lead, withdrawal::Request { via: "link", client: client_id(req, env), note: None }).await?;
    html_response(&page::withdrawn(lang, done == Withdrawn::Erased), 200)
}

/// `POST /v1/admin/leads/<id>/withdraw` with an optional `{"note": "..."}`: records a withdrawal that
/// reached the owner by other channels (a letter, a call, an unsubscribe in the mail tool).
async fn withdraw_by_admin(req: &mut Request, env: &Env, id: &str) -> Result<Response, Error> {
    if !id::is_valid("ld_", id) {
        return Err(Error::NotFound);
    }
    let body = read_body(req, intake::MAX_BODY).await?;
    let note = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let value: serde_json::Value = serde_json::from_slice(&body).map_err(|e| Error::Malformed(format!("The body is not JSON: {e}.")))?;
        match value.get("note") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(n)) if n.chars().count() <= 500 => Some(n.clone()),
            Some(_) => return Err(Error::Malformed("`note` must be a string of at most 500 characters.".into())),
        }
    };
    let kv = kv(env)?;
    let lead = store::get_lead(&kv, id).await?.ok_or(Error::NotFound)?;
    let done = withdraw(env, &lead, withdrawal::Request { via: "admin", client: None, note }).await?;
    json_response(&json!({"id": id, "withdrawn": true, "erased": done == Withdrawn::Erased}), 200)
}

/// Runs the withdrawal service and logs what it did.
async fn withdraw(env: &Env, lead: &Lead, request: withdrawal::Request) -> Result<Withdrawn, Error> {
    let via = request.via;
    let done = withdrawal::withdraw(&Cloud::of(env)?, config(env)?, lead, request).await?;
    worker::console_log!("consent withdrawn: {} form={} via={via} -> {done:?}", lead.id, lead.form);
    Ok(done)
}

/// The binding of the R2 bucket that holds gated files.
const FILES: &str = "FILES";

/// A signed download link for a download gate's lead, once it may have the file (see
/// `submission::download_link`); none without a signing secret.
fn download_link(env: &Env, form: &FormDef, lead: &Lead, origin: &str, now: u64) -> Option<String> {
    submission::download_link(&secret(env, "SIGNING_SECRET")?, form, lead, origin, now)
}

/// `GET /v1/download/<token>`: streams the gated file to the holder of a valid link and counts the download
/// as engagement on the lead. Altered or expired links get a readable 403 page.
async fn download(req: &Request, env: &Env, given: &str) -> Result<Response, Error> {
    let now = Date::now().as_millis();
    let kv = kv(env)?;
    let mut lead = match linked_lead(req, env, &kv, token::Purpose::Download, given, now).await? {
        Ok(lead) => lead,
        Err(page) => return Ok(page),
    };
    let config = config(env)?;
    let form = config.form(&lead.form).ok_or(Error::NotFound)?;
    let asset = form.asset.as_ref().ok_or(Error::NotFound)?;
    let bucket = env.bucket(FILES).map_err(|_| Error::Config(format!("the R2 binding {FILES} is missing")))?;
    let object = bucket.get(asset.key.clone()).execute().await.map_err(|e| Error::Internal(format!("r2 get: {e}")))?;
    let Some(object) = object else {
        worker::console_error!("gated file {} of form {} is not in the bucket; upload it with PUT /v1/admin/files/{}", asset.key, form.id, asset.key);
        return html_response(&page::link_problem(lead.consent.lang, page::LinkProblem::Gone), 404);
    };
    // Counting the download is engagement, not a condition: a failed write is logged, the file still served.
    lead.engagement.downloads += 1;
    lead.score = shared::score::score(&form.scoring, form.kind, &lead.fields, lead.engagement);
    if let Err(e) = Cloud::of(env)?.put_lead(&lead).await {
        worker::console_error!("download of lead {} not counted: {}", lead.id, e.log_line().unwrap_or_default());
    }
    let body = object.body().ok_or_else(|| Error::Internal("r2 object without body".into()))?.response_body()?;
    let mut resp = Response::from_body(body)?;
    let h = resp.headers_mut();
    let _ = h.set("Content-Type", &asset.content_type);
    let _ = h.set("Content-Disposition", &crate::download::content_disposition(&asset.filename));
    let _ = h.set("Content-Length", &object.size().to_string());
    let _ = h.set("Cache-Control", "private, no-store");
    Ok(resp)
}

/// `PUT /v1/admin/files/<key>`: stores a gated file in R2. Only keys some form's `asset` names are taken,
/// so the bucket holds nothing the config does not explain.
async fn upload(req: &mut Request, env: &Env, key: &str) -> Result<Response, Error> {
    let config = config(env)?;
    let asset = config.forms.iter().filter_map(|f| f.asset.as_ref()).find(|a| a.key == key).ok_or(Error::NotFound)?;
    let bytes = req.bytes().await.map_err(|_| Error::Malformed("The body could not be read.".into()))?;
    if bytes.is_empty() {
        return Err(Error::Malformed("The file is empty.".into()));
    }
    let bucket = env.bucket(FILES).map_err(|_| Error::Config(format!("the R2 binding {FILES} is missing")))?;
    let size = bytes.len();
    bucket
        .put(key.to_owned(), bytes)
        .http_metadata(worker::HttpMetadata { content_type: Some(asset.content_type.clone()), ..Default::default() })
        .execute()
        .await
        .map_err(|e| Error::Internal(format!("r2 put: {e}")))?;
    worker::console_log!("file stored: {key} ({size} bytes)");
    json_response(&json!({"key": key, "size": size}), 201)
}

/// `GET /dev/mailbox`: during development the mail API is the local mailbox of `cargo xtask dev`; this
/// sends the browser there, so the demo's mails are one click from the collector. Anywhere else (a mail
/// API that is not on the loopback host) the route does not exist.
fn dev_mailbox(env: &Env) -> Result<Response, Error> {
    let config = config(env)?;
    let url = config.mail.as_ref().map(|m| m.url.as_str()).unwrap_or_default();
    let local = ["http://127.0.0.1:", "http://localhost:"].iter().any(|p| url.starts_with(p)) && url.ends_with("/dev/mailbox");
    if !local {
        return Err(Error::NotFound);
    }
    redirect(url.to_owned())
}

/// A `303 See Other` to `location`.
fn redirect(location: String) -> Result<Response, Error> {
    let headers = Headers::new();
    let _ = headers.set("Location", &location);
    Ok(Response::empty()?.with_status(303).with_headers(headers))
}

/// The language for a page shown before any lead is known: the browser's first choice if German, else
/// English.
fn visitor_lang(req: &Request) -> Lang {
    let accept = req.headers().get("Accept-Language").ok().flatten().unwrap_or_default();
    Lang::from_tag(accept.split([',', ';']).next().unwrap_or("").trim()).unwrap_or_default()
}


fn html_response(html: &str, status: u16) -> Result<Response, Error> {
    let mut resp = Response::from_html(html)?.with_status(status);
    let _ = resp.headers_mut().set("Cache-Control", "no-store");
    Ok(resp)
}

async fn spam_stats(env: &Env) -> Result<Response, Error> {
    let kv = kv(env)?;
    let page = store::list(&kv, "spam:", 1000, None).await?;
    let mut counts = serde_json::Map::new();
    for key in page.keys {
        let n = kv.get(&key.name).text().await.ok().flatten().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        counts.insert(key.name.strip_prefix("spam:").unwrap_or(&key.name).to_owned(), n.into());
    }
    json_response(&json!({"spam": counts}), 200)
}

/// `OPTIONS /v1/leads`: the methods and headers a submission may use. Whether the page may read the answer
/// is the `Access-Control-Allow-Origin` that [`cors_allowed`] decides, for the preflight and the POST alike.
fn preflight() -> Result<Response, Error> {
    let headers = Headers::new();
    let _ = headers.set("Access-Control-Allow-Methods", "POST, OPTIONS");
    let _ = headers.set("Access-Control-Allow-Headers", "Content-Type, Idempotency-Key");
    let _ = headers.set("Access-Control-Max-Age", "86400");
    Ok(Response::empty()?.with_status(204).with_headers(headers))
}

/// Whether a page on `origin` may read the answer to a submission: the collector's own pages may; a
/// customer's page may when the submission's form allows its origin. A preflight (and a body too broken
/// to name its form) does not say which form is meant: any form that allows the origin will do, and the
/// POST that follows is held to its own form.
fn cors_allowed(req: &Request, env: &Env, origin: &str, form: Option<&str>) -> bool {
    if own_origin(req).is_ok_and(|own| own == origin) {
        return true;
    }
    let Ok(config) = config(env) else { return false };
    match form.and_then(|id| config.form(id)) {
        Some(f) => f.allows_origin(origin),
        None => form.is_none() && config.forms.iter().any(|f| f.allows_origin(origin)),
    }
}

/// Lets `origin` read the response (the caller has checked that it may).
fn with_cors(mut resp: Response, origin: &str) -> Response {
    let h = resp.headers_mut();
    let _ = h.set("Access-Control-Allow-Origin", origin);
    let _ = h.append("Vary", "Origin");
    resp
}

fn embed_script(req: &Request, env: &Env, form_id: &str) -> Result<Response, Error> {
    let config = config(env)?;
    let form = config.form(form_id).ok_or(Error::UnknownForm)?;
    let body = embed::script(WIDGET_JS, &PublicForm::from(form), &own_origin(req)?);
    let mut resp = Response::ok(body)?;
    let h = resp.headers_mut();
    let _ = h.set("Content-Type", "text/javascript; charset=utf-8");
    let _ = h.set("Cache-Control", "public, max-age=300");
    Ok(resp)
}

/// The admin token check, run by [`dispatch`] for every admin route. A missing or short token is the
/// deployment's fault and answered as such; it never opens the admin API.
fn authorize(req: &Request, env: &Env) -> Result<(), Error> {
    let token = required_secret(env, "ADMIN_TOKEN")?;
    if token.chars().count() < admin::MIN_TOKEN_CHARS {
        return Err(Error::Misconfigured("ADMIN_TOKEN".into()));
    }
    admin::authorize(header(req, "Authorization").as_deref(), Some(&token))
}

/// `GET /v1/consent/verify?receipt=...`: whether a consent receipt is the collector's, and what it certifies.
fn verify_receipt(req: &Request, env: &Env) -> Result<Response, Error> {
    let given = query(req, "receipt")?.ok_or_else(|| Error::Malformed("Pass the receipt as ?receipt=<receipt>.".into()))?;
    let key = signing_key(env)?;
    match receipt::verify(key.as_bytes(), &given) {
        Ok(content) => json_response(&json!({"genuine": true, "receipt": content}), 200),
        Err(receipt::Problem::NotGenuine) => json_response(&json!({"genuine": false}), 200),
        Err(receipt::Problem::Malformed) => Err(Error::Malformed("This is not a Leadgate consent receipt.".into())),
    }
}

fn query(req: &Request, name: &str) -> Result<Option<String>, Error> {
    let url = req.url()?;
    Ok(url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned()))
}

/// `GET /v1/admin/deliveries?status=pending|failed|delivered|dead&form=&endpoint=&lead=&limit=&cursor=`:
/// deliveries, newest first, with attempts, last status and next attempt, a page at a time from the
/// ledger's outbox; `failed` means pending after at least one failed attempt. Payloads are left out.
async fn list_deliveries(req: &Request, env: &Env) -> Result<Response, Error> {
    let status = query(req, "status")?;
    if !matches!(status.as_deref(), None | Some("pending" | "failed" | "delivered" | "dead")) {
        return Err(Error::Malformed("`status` must be pending, failed, delivered or dead.".into()));
    }
    let limit = u32::try_from(admin::page_limit(query(req, "limit")?.as_deref())?).unwrap_or(50);
    let filter = ledger::DeliveryFilter { status, form: query(req, "form")?, endpoint: query(req, "endpoint")?, lead: query(req, "lead")? };
    let page: ledger::DeliveryPage = ask(&Cloud::of(env)?, &Command::Deliveries { filter, before: query(req, "cursor")?, limit }).await?;
    let out: Vec<serde_json::Value> = page
        .deliveries
        .iter()
        .map(|d| {
            json!({
                "id": d.id, "lead_id": d.lead_id, "form": d.form, "endpoint": d.endpoint, "event": d.event,
                "status": d.state, "attempts": d.attempts, "last_status": d.last_status, "last_error": d.last_error,
                "next_attempt_at": (d.state == crate::outbox::State::Pending).then(|| shared::time::rfc3339(d.next_at_ms)),
            })
        })
        .collect();
    json_response(&json!({"deliveries": out, "cursor": page.cursor}), 200)
}

/// `POST /v1/admin/deliveries/<id>/replay`: sends a delivery again now, with a fresh retry schedule.
async fn replay(env: &Env, id: &str) -> Result<Response, Error> {
    if !id::is_valid("msg_", id) {
        return Err(Error::NotFound);
    }
    let found: ledger::Found = ask(&Cloud::of(env)?, &Command::Replay { id: id.to_owned(), now: Date::now().as_millis() }).await?;
    if !found.found {
        return Err(Error::NotFound);
    }
    json_response(&json!({"id": id, "status": "pending"}), 202)
}

/// `GET /v1/admin/endpoints`: every configured endpoint and whether it is disabled.
async fn list_endpoints(env: &Env) -> Result<Response, Error> {
    let config = config(env)?;
    let disabled: Vec<ledger::Disabled> = ask(&Cloud::of(env)?, &Command::Endpoints).await?;
    let mut out = Vec::new();
    for form in &config.forms {
        for ep in &form.webhooks {
            let flag = disabled.iter().find(|d| d.form == form.id && d.endpoint == ep.id);
            out.push(json!({"form": form.id, "id": ep.id, "url": ep.url, "disabled": flag.is_some(), "disabled_since": flag.map(|f| shared::time::rfc3339(f.at))}));
        }
    }
    json_response(&json!({"endpoints": out}), 200)
}

/// `POST /v1/admin/endpoints/<form>/<id>/enable`: lifts a 410 block; the waiting deliveries go out at once.
async fn enable_endpoint(env: &Env, form_id: &str, ep_id: &str) -> Result<Response, Error> {
    let form = config(env)?.form(form_id).ok_or(Error::NotFound)?;
    if !form.webhooks.iter().any(|e| e.id == ep_id) {
        return Err(Error::NotFound);
    }
    let enable = Command::Enable { form: form_id.to_owned(), endpoint: ep_id.to_owned(), now: Date::now().as_millis() };
    Cloud::of(env)?.ledger(&enable).await?;
    json_response(&json!({"form": form_id, "id": ep_id, "disabled": false}), 200)
}

/// `GET /v1/admin/leads/<id>` (GDPR Art. 15: everything stored, consent records included) and
/// `/export` (Art. 20: the same, as a downloadable machine-readable file).
async fn lead_detail(env: &Env, id: &str, download: bool) -> Result<Response, Error> {
    if !id::is_valid("ld_", id) {
        return Err(Error::NotFound);
    }
    let lead = store::get_lead(&kv(env)?, id).await?.ok_or(Error::NotFound)?;
    let mut resp = json_response(&serde_json::to_value(&lead)?, 200)?;
    if download {
        let _ = resp.headers_mut().set("Content-Disposition", &format!("attachment; filename=\"lead-{id}.json\""));
    }
    let _ = resp.headers_mut().set("Cache-Control", "no-store");
    Ok(resp)
}

/// `DELETE /v1/admin/leads/<id>` (GDPR Art. 17): erases the lead and every stored delivery of it (their
/// payloads hold the same personal data), and announces `lead.erased` to the form's endpoints so CRMs
/// delete it too (see `erasure`).
async fn erase(env: &Env, id: &str) -> Result<Response, Error> {
    if !id::is_valid("ld_", id) {
        return Err(Error::NotFound);
    }
    let erased = erasure::erase(&Cloud::of(env)?, config(env)?, id, true).await?.ok_or(Error::NotFound)?;
    worker::console_log!("lead erased: {} form={} deliveries deleted={}", erased.lead.id, erased.lead.form, erased.deliveries_deleted);
    json_response(&json!({"id": erased.lead.id, "erased": true, "deliveries_deleted": erased.deliveries_deleted, "erase_by_hand_in": erased.by_hand_in}), 200)
}

/// `POST /v1/admin/giveaways/<form>/draw` with `{"winners": N}`: draws N distinct winners uniformly at
/// random among the form's eligible entries (confirmed ones when the form asks for double opt-in; erased
/// entries no longer exist; earlier winners of this giveaway are left out), records the draw with its seed
/// so it can be repeated (`draw::reproduces`), and announces each winner as `giveaway.winner` (see
/// `drawing`). With an `Idempotency-Key` (the admin page always sends one), a retried request is answered
/// with the draw that was made.
async fn draw_winners(req: &mut Request, env: &Env, form_id: &str) -> Result<Response, Error> {
    let form = config(env)?.form(form_id).filter(|f| f.kind == FormKind::Giveaway).ok_or(Error::NotFound)?;
    let text = read_body(req, intake::MAX_BODY).await?;
    let body: serde_json::Value = serde_json::from_slice(&text).map_err(|e| Error::Malformed(format!("The body is not JSON: {e}.")))?;
    let wanted = body.get("winners").and_then(serde_json::Value::as_u64).ok_or_else(|| Error::Malformed("Send {\"winners\": N} with N a whole number.".into()))?;
    let key = match header(req, "Idempotency-Key") {
        Some(h) => Some(intake::idempotency_key(&h)?),
        None => None,
    };
    let made = drawing::draw(&Cloud::of(env)?, form, wanted, key).await?;
    worker::console_log!("draw {} form={} eligible={} winners={}", made.id, form_id, made.eligible_count, made.winners.len());
    json_response(&serde_json::to_value(&made)?, 201)
}

/// `GET /v1/admin/giveaways/<form>/draws`: every draw of a giveaway, with seeds and lists for re-checking.
async fn list_draws(env: &Env, form_id: &str) -> Result<Response, Error> {
    let draws = drawing::draws(&Cloud::of(env)?, form_id).await?;
    let checked: Vec<serde_json::Value> = draws.iter().map(|d| json!({"draw": d, "reproduces": draw::reproduces(d)})).collect();
    json_response(&json!({"draws": checked}), 200)
}

/// `GET /v1/admin/leads.csv?form=&status=&since=&limit=&cursor=`: leads as CSV, formula-safe, newest first,
/// a page at a time (at most 500 leads: a page's reads stay within an invocation's limits however many
/// leads are stored). The first page carries the header row; `X-Next-Cursor` (and a `Link: rel="next"`)
/// names the next page, so the pages concatenated are one file. The columns come from the config (the
/// form's fields, or every form's), so they are the same on every page.
async fn leads_csv(req: &Request, env: &Env) -> Result<Response, Error> {
    let limit = match query(req, "limit")? {
        None => CSV_PAGE,
        Some(v) => v.parse::<u32>().ok().filter(|n| (1..=CSV_PAGE).contains(n)).ok_or_else(|| Error::Malformed(format!("`limit` must be a number from 1 to {CSV_PAGE}.")))?,
    };
    let filter = lead_filter(req)?;
    let config = config(env)?;
    let mut fields: Vec<&str> = config.forms.iter().filter(|f| filter.form.as_deref().is_none_or(|id| id == f.id)).flat_map(|f| f.fields.iter().map(|d| d.name.as_str())).collect();
    fields.sort_unstable();
    fields.dedup();
    let cursor = query(req, "cursor")?;
    let first = cursor.is_none();
    let (leads, next) = listing::page(&Cloud::of(env)?, &filter, cursor, limit).await?;
    let mut body = if first { export::header(&fields) } else { String::new() };
    body.push_str(&export::rows(&fields, &leads));
    let mut resp = Response::ok(body)?;
    let h = resp.headers_mut();
    let _ = h.set("Content-Type", "text/csv; charset=utf-8");
    let _ = h.set("Content-Disposition", "attachment; filename=\"leads.csv\"");
    let _ = h.set("Cache-Control", "no-store");
    if let Some(next) = next {
        let url = req.url()?;
        let mut link = url.clone();
        let kept: Vec<(String, String)> = url.query_pairs().filter(|(k, _)| k != "cursor").map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        link.query_pairs_mut().clear().extend_pairs(kept).append_pair("cursor", &next);
        let _ = h.set("Link", &format!("<{}{}>; rel=\"next\"", link.path(), link.query().map(|q| format!("?{q}")).unwrap_or_default()));
        let _ = h.set("X-Next-Cursor", &next);
    }
    Ok(resp)
}

/// The most leads one CSV page holds.
const CSV_PAGE: u32 = 500;

/// `GET /v1/admin/leads?form=&status=&since=&limit=&cursor=`: a page of leads, oldest first. Filters apply
/// within the page, so a filtered page can hold fewer than `limit` leads; follow `cursor` to the end.
async fn list_leads(req: &Request, env: &Env) -> Result<Response, Error> {
    let limit = admin::page_limit(query(req, "limit")?.as_deref())?;
    let filter = lead_filter(req)?;
    let (leads, cursor) = listing::page(&Cloud::of(env)?, &filter, query(req, "cursor")?, u32::try_from(limit).unwrap_or(50)).await?;
    json_response(&json!({"leads": leads, "cursor": cursor}), 200)
}

/// The `form`, `status` and `since` filters of an admin list.
fn lead_filter(req: &Request) -> Result<listing::Filter, Error> {
    let since = match query(req, "since")? {
        Some(t) => Some(shared::time::parse(&t).ok_or_else(|| Error::Malformed("`since` must be a date like 2026-11-30 or 2026-11-30T09:00:00Z.".into()))?),
        None => None,
    };
    Ok(listing::Filter { form: query(req, "form")?, status: query(req, "status")?, since })
}
