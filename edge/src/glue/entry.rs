//! The Workers' entry points: `fetch` parses the route, authorizes admin routes once, runs the route's
//! handler and turns its [`Error`] into a response in one place (JSON, or a page for a browser
//! navigation), with CORS only where a customer's page calls; `scheduled` runs the upkeep.
//!
//! The crate is built twice (see `Cargo.toml`'s features). The collector, which visitors' pages load,
//! serves the public routes and hands every operator route ([`Route::is_operator`]) to the operator over
//! the `OPERATOR` service binding, unchanged; the operator serves those, runs the cron's upkeep and hosts
//! the ledger object. Each build dispatches only its own side, so the other side's handlers are not linked.

use crate::glue::context::Cx;
#[cfg(not(feature = "operator"))]
use crate::glue::context::OPERATOR;
use crate::glue::exchange::{authorize, error_response, header, html_response, json_response, own_origin, query, visitor_lang};
use crate::glue::integration::{receive_feedback, record_event};
use crate::glue::operator::{
    assign_owner, daily, draw_winners, enable_endpoint, erase, form_analytics, forms, funnel, import, lead_detail, leads_csv, list_deliveries, list_draws,
    list_endpoints, list_leads, me, move_stage, replay, spam_stats, upload, withdraw_by_admin,
};
use crate::glue::upkeep::{backfill_index, backfill_outbox, erase_unconfirmed, fold_downloads, tally_funnel, wake_ledger};
use crate::glue::visitor::{beacon, embed_script, submit};
#[cfg(feature = "operator")]
use crate::glue::{editor, links};
use crate::platform::cloud::served;
use crate::rules::address::Address;
use crate::rules::route::{Miss, Route};
use crate::{rules::page, Error};
use serde_json::json;
use shared::Lang;
use worker::{event, Context, Env, Headers, Request, Response, ScheduleContext, ScheduledEvent};

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(fetch)]
pub async fn fetch(mut req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    let origin = header(&req, "Origin");
    let lang = header(&req, "Accept-Language").and_then(|l| Lang::from_tag(&l)).unwrap_or_default();
    let route = Route::parse(req.method().as_ref(), Address::of(&req.inner().url()).path);
    #[cfg(not(feature = "operator"))]
    if route.as_ref().is_ok_and(Route::is_operator) {
        return forward(req, &env, lang).await;
    }
    // The form a submission named, once its body is read: CORS answers only for that form's origins.
    let mut form_named = None;
    let outcome = match &route {
        Ok(route) => dispatch(route, &mut req, &env, &ctx, &mut form_named).await,
        Err(Miss::NotFound) => Err(Error::NotFound),
        Err(Miss::MethodNotAllowed(allow)) => Err(Error::MethodNotAllowed(allow.clone())),
    };
    let response = match outcome {
        // A person who typed or followed a URL gets a readable page; scripts and API clients get JSON.
        Err(e) if header(&req, "Sec-Fetch-Mode").as_deref() == Some("navigate") => {
            match html_response(&page::problem(visitor_lang(&req), &e.body(visitor_lang(&req))), e.status()) {
                Ok(mut page) => {
                    for (name, value) in e.headers() {
                        page.headers_mut().set(name, &value)?;
                    }
                    page
                }
                Err(_) => error_response(&req, &env, &e, lang)?,
            }
        }
        Ok(r) => r,
        Err(e) => error_response(&req, &env, &e, lang)?,
    };
    match (&route, origin) {
        (Ok(r), Some(origin)) if r.is_cross_origin() && cors_allowed(&req, &origin, form_named.as_deref()) => Ok(with_cors(response, &origin)),
        _ => Ok(response),
    }
}

/// Runs the handler of a route with the request's context, made here once. Admin routes are authorized
/// here, once, before any handler runs.
pub(crate) async fn dispatch(route: &Route, req: &mut Request, env: &Env, ctx: &Context, form_named: &mut Option<String>) -> Result<Response, Error> {
    let admin = if route.is_admin() { Some(authorize(req, env)?) } else { None };
    let mut cx = Cx::with(env, ctx);
    cx.admin = admin;
    cx.load().await?;
    if route.is_operator() {
        operator_route(route, req, &cx).await
    } else {
        visitor_route(route, req, &cx, form_named).await
    }
}

/// The public routes, which the collector serves.
#[cfg(feature = "collector")]
async fn visitor_route(route: &Route, req: &mut Request, cx: &Cx<'_>, form_named: &mut Option<String>) -> Result<Response, Error> {
    match route {
        Route::Submit => submit(req, cx, form_named).await,
        Route::SubmitPreflight => preflight(),
        Route::Health => json_response(&json!({"ok": true}), 200),
        Route::Thanks => {
            let lang = query(req, "lang")?.as_deref().and_then(Lang::from_tag);
            html_response(&page::thanks(lang.unwrap_or_default()), 200)
        }
        Route::Embed(form) => embed_script(req, cx, form).await,
        Route::Beacon => beacon(req, cx).await,
        // The operator's routes, which `dispatch` does not pass here.
        _ => Err(Error::NotFound),
    }
}

/// The operator serves no public route: the collector answers those and never passes them on.
#[cfg(not(feature = "collector"))]
async fn visitor_route(_: &Route, _: &mut Request, _: &Cx<'_>, _: &mut Option<String>) -> Result<Response, Error> {
    Err(Error::NotFound)
}

/// The admin API and what other systems call, which the operator serves.
#[cfg(feature = "operator")]
async fn operator_route(route: &Route, req: &mut Request, cx: &Cx<'_>) -> Result<Response, Error> {
    match route {
        Route::UploadFile(key) => upload(req, cx, key).await,
        Route::ListLeads => list_leads(req, cx).await,
        Route::LeadsCsv => leads_csv(req, cx).await,
        Route::LeadDetail(id) => lead_detail(cx, id, false).await,
        Route::LeadExport(id) => lead_detail(cx, id, true).await,
        Route::EraseLead(id) => erase(cx, id).await,
        Route::WithdrawLead(id) => withdraw_by_admin(req, cx, id).await,
        Route::MoveStage(id) => move_stage(req, cx, id).await,
        Route::AssignOwner(id) => assign_owner(req, cx, id).await,
        Route::RecordEvent(id) => record_event(req, cx, id).await,
        Route::Feedback(endpoint) => receive_feedback(req, cx, endpoint).await,
        Route::WorkPage(token) => crate::glue::sales::work_page(req, cx, token).await,
        Route::Work(token) => crate::glue::sales::work(req, cx, token).await,
        Route::SignInPage => crate::glue::sales::sign_in_page(req),
        Route::SignIn => crate::glue::sales::sign_in(req, cx).await,
        Route::Mine(token) => crate::glue::sales::mine(req, cx, token).await,
        Route::OpenApi => {
            let mut resp = Response::ok(crate::rules::route::OPENAPI)?;
            let _ = resp.headers_mut().set("Content-Type", "application/json");
            let _ = resp.headers_mut().set("Cache-Control", "public, max-age=300");
            Ok(resp)
        }
        Route::Stats => spam_stats(cx).await,
        Route::Me => me(cx),
        Route::Funnel => funnel(req, cx).await,
        Route::Speed => crate::glue::operator::speed(req, cx).await,
        Route::Forms => forms(cx),
        Route::FormAnalytics(form) => form_analytics(req, cx, form).await,
        Route::Catalog => editor::list(cx).await,
        Route::CatalogForm(form) => editor::detail(cx, form).await,
        Route::SaveDraft(form) => editor::save(req, cx, form).await,
        Route::CheckDraft(form) => editor::check(req, cx, form).await,
        Route::Publish(form) => editor::publish(cx, form).await,
        Route::Rollback(form) => editor::rollback(req, cx, form).await,
        Route::Winner(form) => editor::winner(req, cx, form).await,
        Route::Archive(form) => editor::archive(cx, form, true).await,
        Route::Restore(form) => editor::archive(cx, form, false).await,
        Route::FormVersion { form, n } => editor::version(cx, form, *n).await,
        Route::Trail => editor::trail(req, cx).await,
        Route::Daily => daily(req, cx).await,
        Route::Import => import(req, cx).await,
        Route::Deliveries => list_deliveries(req, cx).await,
        Route::ReplayDelivery(id) => replay(cx, id).await,
        Route::Endpoints => list_endpoints(cx).await,
        Route::EnableEndpoint { form, endpoint } => enable_endpoint(cx, form, endpoint).await,
        Route::Draw(form) => draw_winners(req, cx, form).await,
        Route::Draws(form) => list_draws(cx, form).await,
        Route::ConfirmPage(token) => links::confirm_page(req, cx, token).await,
        Route::Confirm(token) => links::confirm(req, cx, token).await,
        Route::WithdrawPage(token) => links::withdraw_page(req, cx, token).await,
        Route::Withdraw(token) => links::withdraw_by_link(req, cx, token).await,
        Route::Download(token) => links::download(req, cx, token).await,
        Route::VerifyReceipt => links::verify_receipt(req, cx),
        Route::DevMailbox => links::dev_mailbox(cx),
        Route::Preview => editor::preview(req).await,
        Route::Repeat => crate::glue::handover::take_over(req, cx).await,
        // The public routes, which `dispatch` does not pass here.
        _ => Err(Error::NotFound),
    }
}

/// The collector hands the operator's routes on before dispatching (see [`forward`]).
#[cfg(not(feature = "operator"))]
async fn operator_route(_: &Route, _: &mut Request, _: &Cx<'_>) -> Result<Response, Error> {
    Err(Error::NotFound)
}

/// Hands a request to the operator, unchanged (URL, headers, body), and its answer back unchanged. The
/// operator sees the URL the visitor used, so the links it builds and the signatures it checks over the URL
/// (HubSpot's) are the same as if it had been called directly.
#[cfg(not(feature = "operator"))]
async fn forward(req: Request, env: &Env, lang: Lang) -> worker::Result<Response> {
    let Ok(operator) = env.service(OPERATOR) else {
        return error_response(&req, env, &Error::Config(format!("the service binding {OPERATOR} is missing")), lang);
    };
    let (method, path) = (req.method(), Address::of(&req.inner().url()).path.to_owned());
    match operator.fetch_request(req).await {
        Ok(response) => Ok(response),
        Err(e) => crate::glue::exchange::error_answer(&method, &path, &Error::Internal(format!("the operator did not answer: {e}")), lang, false),
    }
}

/// The cron's upkeep, every minute: the ledger's alarm, unconfirmed leads, and the moves of older layouts.
#[cfg(feature = "operator")]
#[event(scheduled)]
pub async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let cx = Cx::new(&env);
    if let Err(e) = cx.load().await {
        worker::console_error!("loading the forms failed: {}", e.log_line().unwrap_or_default());
        return;
    }
    let tallied = match wake_ledger(&cx).await {
        Ok(tallied) => tallied,
        Err(e) => {
            worker::console_error!("waking the ledger failed: {}", e.log_line().unwrap_or_default());
            true
        }
    };
    if let Err(e) = erase_unconfirmed(&cx).await {
        worker::console_error!("erasing unconfirmed leads failed: {}", e.log_line().unwrap_or_default());
    }
    if let Err(e) = fold_downloads(&cx).await {
        worker::console_error!("folding downloads failed: {}", e.log_line().unwrap_or_default());
    }
    if let Err(e) = backfill_index(&cx).await {
        worker::console_error!("indexing stored leads failed: {}", e.log_line().unwrap_or_default());
    }
    if !tallied {
        if let Err(e) = tally_funnel(&cx).await {
            worker::console_error!("tallying the funnel failed: {}", e.log_line().unwrap_or_default());
        }
    }
    if let Err(e) = backfill_outbox(&cx).await {
        worker::console_error!("moving stored deliveries failed: {}", e.log_line().unwrap_or_default());
    }
}

/// The collector has no cron trigger of its own when deployed: the operator's config has it. Under `wrangler
/// dev`, though, only the first Worker answers `/__scheduled` (how `cargo xtask dev` and the tests tick the
/// cron), so the collector passes the tick on to the operator's own `scheduled` handler, which then runs
/// exactly as the deployed trigger runs it.
#[cfg(all(feature = "collector", not(feature = "operator")))]
#[event(scheduled)]
pub async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    if let Err(e) = pass_tick(&event, &env).await {
        worker::console_error!("passing the cron tick to the operator failed: {e:?}");
    }
}

/// Calls `scheduled({cron, scheduledTime})` on the operator's binding, which the `worker` crate does not wrap.
#[cfg(all(feature = "collector", not(feature = "operator")))]
async fn pass_tick(event: &ScheduledEvent, env: &Env) -> Result<(), worker::wasm_bindgen::JsValue> {
    use worker::js_sys::{Array, Date, Function, Object, Promise, Reflect};
    use worker::wasm_bindgen::JsCast;
    let operator = env.service(OPERATOR).map_err(|e| e.to_string())?;
    // The runtime's methods need not pass `instanceof Function`, nor their results `instanceof Promise`:
    // they are checked by what they do, not by their prototypes.
    let call = Reflect::get(operator.as_ref(), &"scheduled".into())?;
    if !call.is_function() {
        return Err("the OPERATOR binding has no scheduled()".into());
    }
    let options = Object::new();
    Reflect::set(&options, &"cron".into(), &event.cron().into())?;
    Reflect::set(&options, &"scheduledTime".into(), &Date::new(&event.schedule().into()))?;
    // `Reflect.apply`, not `scheduled.call(...)`: the binding is an RPC stub, which would take `call` for
    // the name of a remote method.
    let promise = Promise::resolve(&Reflect::apply(call.unchecked_ref::<Function>(), operator.as_ref(), &Array::of1(&options))?);
    worker::wasm_bindgen_futures::JsFuture::from(promise).await.map(drop)
}

/// `OPTIONS /v1/leads`: the methods and headers a submission may use. Whether the page may read the answer
/// is the `Access-Control-Allow-Origin` that [`cors_allowed`] decides, for the preflight and the POST alike.
pub(crate) fn preflight() -> Result<Response, Error> {
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
pub(crate) fn cors_allowed(req: &Request, origin: &str, form: Option<&str>) -> bool {
    if own_origin(req) == origin {
        return true;
    }
    let Some(config) = served() else { return false };
    match form.and_then(|id| config.form(id)) {
        Some(f) => f.allows_origin(origin),
        None => form.is_none() && config.forms.iter().any(|f| f.allows_origin(origin)),
    }
}

/// Lets `origin` read the response (the caller has checked that it may).
pub(crate) fn with_cors(mut resp: Response, origin: &str) -> Response {
    let h = resp.headers_mut();
    let _ = h.set("Access-Control-Allow-Origin", origin);
    let _ = h.append("Vary", "Origin");
    resp
}
