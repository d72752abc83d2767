//! The admin API's routes (authorized in `entry::dispatch` before any of these runs): leads and their
//! CSV, GDPR access, export, erasure and withdrawal, deliveries and endpoints, giveaway draws, gated files,
//! bot counts.

use crate::glue::context::Cx;
use crate::glue::exchange::{header, json_object, json_response, own_origin, query, read_body, signing_key, text_member};
use crate::glue::links::{withdraw, FILES};
use crate::protocol::backend::{ask, Backend};
use crate::protocol::ledger::cmd;
use crate::protocol::ledger::{self, Command, Hold};
use crate::rules::address::Address;
use crate::services::withdrawal::{self, Withdrawn};
use crate::{
    rules::access, rules::decoding, rules::draw, rules::export, rules::id, rules::intake, services::erasure, services::giveaway, services::listing,
    services::qualification, Error,
};
use serde_json::json;
use shared::form::FormKind;
use shared::lead::Lead;
use shared::stage::{Mover, Stage};
use worker::{Request, Response};

/// `POST /v1/admin/leads/<id>/withdraw` with an optional `{"note": "...", "purposes": ["..."]}`: records a
/// withdrawal that reached the owner by other channels (a letter, a call, an unsubscribe in the mail tool),
/// of the purposes named, or of every one when `purposes` is left out. An unknown purpose is a `422` and
/// changes nothing.
pub(crate) async fn withdraw_by_admin(req: &mut Request, cx: &Cx<'_>, id: &str) -> Result<Response, Error> {
    if !id::is_valid("ld_", id) {
        return Err(Error::NotFound);
    }
    let body = read_body(req, decoding::MAX_BODY).await?;
    let (note, purposes) = if body.iter().all(u8::is_ascii_whitespace) {
        (None, None)
    } else {
        let value = json_object(&body)?;
        let note = match value.get("note") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(n)) if n.chars().count() <= 500 => Some(n.clone()),
            Some(_) => return Err(Error::Malformed("`note` must be a string of at most 500 characters.".into())),
        };
        let purposes = match value.get("purposes") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::Array(list)) if list.len() <= 20 => Some(
                list.iter()
                    .map(|p| p.as_str().map(str::to_owned))
                    .collect::<Option<Vec<String>>>()
                    .ok_or_else(|| Error::Malformed("`purposes` must be a list of purpose ids.".into()))?,
            ),
            Some(_) => return Err(Error::Malformed("`purposes` must be a list of at most 20 purpose ids.".into())),
        };
        (note, purposes)
    };
    let lead = cx.cloud()?.lead(id).await?.ok_or(Error::NotFound)?;
    let done = withdraw(cx, &lead, withdrawal::Request { via: "admin".into(), client: None, note, purposes }).await?;
    json_response(&json!({"id": id, "withdrawn": true, "erased": done == Withdrawn::Erased}), 200)
}

/// `POST /v1/admin/leads/<id>/stage` with `{"stage": "sql", "reason": "..."}`: a person moves a lead in
/// the funnel, any way, always with a reason (see `qualification::move_stage`). Moving a lead to the stage
/// it is at changes nothing (`"changed": false`).
pub(crate) async fn move_stage(req: &mut Request, cx: &Cx<'_>, id: &str) -> Result<Response, Error> {
    if !id::is_valid("ld_", id) {
        return Err(Error::NotFound);
    }
    let body = json_object(&read_body(req, decoding::MAX_BODY).await?)?;
    let stage = text_member(&body, "stage")?.ok_or_else(|| Error::Validation([("stage".to_owned(), shared::Code::Required)].into()))?;
    let to = Stage::parse(stage).ok_or_else(|| Error::Validation([("stage".to_owned(), shared::Code::InvalidChoice)].into()))?;
    let reason = text_member(&body, "reason")?.unwrap_or_default();
    let config = cx.config()?;
    let outcome = qualification::move_stage(cx.cloud()?, config, id, to, &Mover::Admin, reason).await?.ok_or(Error::NotFound)?;
    worker::console_log!("stage of {id}: {} by admin (changed: {})", outcome.lead.stage.as_str(), outcome.change.is_some());
    json_response(&qualified(config, outcome, cx.now)?, 200)
}

/// `POST /v1/admin/leads/<id>/owner` with `{"owner": "ben", "reason": "..."}` (the reason is optional): a
/// person gives a lead to an owner from the config's `[[owners]]`, announced as `lead.assigned`.
pub(crate) async fn assign_owner(req: &mut Request, cx: &Cx<'_>, id: &str) -> Result<Response, Error> {
    if !id::is_valid("ld_", id) {
        return Err(Error::NotFound);
    }
    let body = json_object(&read_body(req, decoding::MAX_BODY).await?)?;
    let owner = text_member(&body, "owner")?.ok_or_else(|| Error::Validation([("owner".to_owned(), shared::Code::Required)].into()))?;
    let reason = text_member(&body, "reason")?.unwrap_or_default();
    let (lead, record) = qualification::reassign(cx.cloud()?, cx.config()?, id, owner, reason).await?.ok_or(Error::NotFound)?;
    json_response(&json!({"id": lead.id, "owner": lead.owner, "changed": record.is_some(), "assignment": record}), 200)
}

/// What the qualification routes answer: the lead's id, stage, score as of now, cooling, and the change
/// made, if any.
pub(crate) fn qualified(config: &shared::form::FormsConfig, outcome: qualification::Outcome, now: u64) -> Result<serde_json::Value, Error> {
    let changed = outcome.change.is_some();
    let lead = as_of_now(config, outcome.lead, now)?;
    Ok(json!({
        "id": lead.get("id"), "stage": lead.get("stage"), "owner": lead.get("owner"), "score": lead.get("score"), "cooling": lead.get("cooling"),
        "changed": changed, "change": outcome.change,
    }))
}

/// `PUT /v1/admin/files/<key>`: stores a gated file in R2. Only keys some form's `asset` names are taken,
/// so the bucket holds nothing the config does not explain.
pub(crate) async fn upload(req: &mut Request, cx: &Cx<'_>, key: &str) -> Result<Response, Error> {
    let config = cx.config()?;
    let asset = config.forms.iter().filter_map(|f| f.asset.as_ref()).find(|a| a.key == key).ok_or(Error::NotFound)?;
    let bytes = req.bytes().await.map_err(|_| Error::Malformed("The body could not be read.".into()))?;
    if bytes.is_empty() {
        return Err(Error::Malformed("The file is empty.".into()));
    }
    let bucket = cx.env.bucket(FILES).map_err(|_| Error::Config(format!("the R2 binding {FILES} is missing")))?;
    let size = bytes.len();
    bucket
        .put(key.to_owned(), bytes)
        .http_metadata(worker::HttpMetadata { content_type: Some(asset.content_type.clone()), ..Default::default() })
        .execute()
        .await?;
    worker::console_log!("file stored: {key} ({size} bytes)");
    json_response(&json!({"key": key, "size": size}), 201)
}

/// `GET /v1/admin/me`: the name the token was given (in `ADMIN_TOKENS` or `VIEWER_TOKENS`; `admin` for
/// `ADMIN_TOKEN`) and whether it is a viewer's, which reads and changes nothing: the admin page hides
/// what a viewer could not do rather than let them try.
pub(crate) fn me(cx: &Cx<'_>) -> Result<Response, Error> {
    let name = cx.admin.as_deref().unwrap_or_default();
    let (name, viewer) = match name.strip_prefix(crate::rules::access::VIEWER) {
        Some(viewer) => (viewer, true),
        None => (name, false),
    };
    json_response(&json!({"name": name, "viewer": viewer}), 200)
}

/// `GET /v1/admin/stats`: dropped bot submissions per form and day (`{"spam": {"<form>:<day>": n}}`), for
/// the last 90 days, from the ledger: one request however long the collector has run.
pub(crate) async fn spam_stats(cx: &Cx<'_>) -> Result<Response, Error> {
    let since = shared::time::rfc3339(cx.now.saturating_sub(STATS_DAYS * 86_400_000));
    let bots: Vec<ledger::BotCount> = ask(cx.cloud()?, cmd::Bots { since: since.get(..10).unwrap_or(&since).to_owned() }).await?;
    let counts: serde_json::Map<String, serde_json::Value> = bots.into_iter().map(|b| (format!("{}:{}", b.form, b.day), b.count.into())).collect();
    json_response(&json!({"spam": counts}), 200)
}

/// `GET /v1/admin/funnel?form=&from=&to=&by=source|campaign|form|owner`: per group, how many of the leads
/// created in the period (default: all) reached each stage (or a later one), how many are in it now, the
/// conversion between consecutive stages and the median days between them; from the ledger's aggregates in
/// one request (see `funnel`).
pub(crate) async fn funnel(req: &Request, cx: &Cx<'_>) -> Result<Response, Error> {
    let by = group_by(req, crate::protocol::funnel::By::Source)?;
    let (form, from, to) = (query(req, "form")?, time_param(req, "from")?, time_param(req, "to")?);
    let groups = ask(cx.cloud()?, cmd::Funnel { form: form.clone(), from, to, by }).await?.groups();
    json_response(&json!({"by": by, "form": form, "from": from.map(shared::time::rfc3339), "to": to.map(shared::time::rfc3339), "groups": groups}), 200)
}

/// `GET /v1/admin/speed?by=owner|form|source&form=&since=`: minutes of working time to the first touch
/// (median, 90th percentile), agreements kept and broken, per group, over the leads created since `since`
/// (default: 90 days ago).
pub(crate) async fn speed(req: &Request, cx: &Cx<'_>) -> Result<Response, Error> {
    use crate::rules::speed::By;
    let by_name = query(req, "by")?.unwrap_or_else(|| "owner".into());
    let by = By::parse(&by_name).ok_or_else(|| Error::Malformed("`by` must be owner, form or source.".into()))?;
    let config = cx.config()?;
    let form = query(req, "form")?;
    if form.as_deref().is_some_and(|f| config.form(f).is_none()) {
        return Err(Error::UnknownForm);
    }
    let since = time_param(req, "since")?.unwrap_or(cx.now.saturating_sub(90 * 86_400_000));
    let filter = listing::Filter { form: form.clone(), since: Some(since), ..listing::Filter::default() };
    let (groups, read, complete) = crate::services::sales::speed(cx.cloud()?, config, &filter, by).await?;
    json_response(&json!({"by": by_name, "form": form, "since": shared::time::rfc3339(since), "leads_read": read, "complete": complete, "groups": groups}), 200)
}

/// `GET /v1/admin/forms`: the config's forms, in its order: what a dashboard shows a panel for.
pub(crate) fn forms(cx: &Cx<'_>) -> Result<Response, Error> {
    let forms: Vec<serde_json::Value> = cx
        .config()?
        .forms
        .iter()
        .map(|f| json!({"id": f.id, "kind": f.kind, "double_opt_in": f.double_opt_in, "shards": f.shards, "unique_visitors": f.unique_visitors}))
        .collect();
    json_response(&json!({"forms": forms}), 200)
}

/// `GET /v1/admin/forms/<form>/analytics?from=&to=&by=source|campaign|day`: the form's page views to
/// customers (see `analytics::Report`) over whole UTC days: from `from`'s day (default: 29 days before
/// today) to the day before `to` (default: tomorrow; a `to` within a day counts that day whole), at most 366
/// days. One request to the form's views object and one per ledger object of the form.
pub(crate) async fn form_analytics(req: &Request, cx: &Cx<'_>, form: &str) -> Result<Response, Error> {
    use crate::protocol::analytics::{By, DAY_MS};
    let config = cx.config()?;
    let form = config.form(form).ok_or(Error::UnknownForm)?;
    let by = match query(req, "by")? {
        Some(b) => By::parse(&b).ok_or_else(|| Error::Malformed("`by` must be source, campaign or day.".into()))?,
        None => By::Source,
    };
    let today = cx.now / DAY_MS;
    let first = time_param(req, "from")?.map_or(today.saturating_sub(29), |ms| ms / DAY_MS);
    let end = time_param(req, "to")?.map_or(today + 1, |ms| ms.div_ceil(DAY_MS));
    if end <= first {
        return Err(Error::Malformed("`to` must be after `from`.".into()));
    }
    if end - first > 366 {
        return Err(Error::Malformed("The period can be at most 366 days.".into()));
    }
    let report = crate::services::analytics::report(cx.cloud()?, form, first, end, by).await?;
    let mut body = serde_json::to_value(report)?;
    if let Some(o) = body.as_object_mut() {
        o.insert("from".into(), json!(crate::protocol::analytics::date(first)));
        o.insert("to".into(), json!(crate::protocol::analytics::date(end)));
    }
    json_response(&body, 200)
}

/// `GET /v1/admin/daily?days=30&by=form|source|campaign|owner`: leads created per day (UTC) over the last
/// `days` (1 to 366, default 30), per group, in one ledger request: `{"days": [{"day": "2026-11-30",
/// "key": "fair", "count": 12}, ...]}` (days without leads are left out).
pub(crate) async fn daily(req: &Request, cx: &Cx<'_>) -> Result<Response, Error> {
    let days = match query(req, "days")? {
        Some(d) => {
            d.trim().parse::<u64>().ok().filter(|d| (1..=366).contains(d)).ok_or_else(|| Error::Malformed("`days` must be a number from 1 to 366.".into()))?
        }
        None => 30,
    };
    let by = group_by(req, crate::protocol::funnel::By::Form)?;
    let today = cx.now / 86_400_000;
    let from = (today + 1).saturating_sub(days) * 86_400_000;
    let rows: Vec<ledger::Daily> = ask(cx.cloud()?, cmd::Daily { from, by }).await?;
    let out: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|r| {
            let day = shared::time::rfc3339(r.day * 86_400_000);
            json!({"day": day.get(..10).unwrap_or(&day), "key": r.key.unwrap_or_else(|| crate::protocol::funnel::NONE.to_owned()), "count": r.count})
        })
        .collect();
    let first = shared::time::rfc3339(from);
    json_response(&json!({"by": by, "from": first.get(..10).unwrap_or(&first), "days": out}), 200)
}

/// The largest import body read: 1,000 rows of a wide form.
const IMPORT_BODY: usize = 2 * 1024 * 1024;

/// `POST /v1/admin/import?form=&batch=&source=&basis=consent|legitimate_interest|none&proof=` with a CSV
/// (header row) or JSON-lines body of at most 1,000 rows: leads from other channels (see `import`). The
/// answer is a report per row; a batch id answered before (within a day) gets the same report again.
pub(crate) async fn import(req: &mut Request, cx: &Cx<'_>) -> Result<Response, Error> {
    let config = cx.config()?;
    let required = |name: &str| -> Result<String, Error> {
        query(req, name)?.filter(|v| !v.trim().is_empty()).ok_or_else(|| Error::Validation([(name.to_owned(), shared::Code::Required)].into()))
    };
    let form = config.form(&required("form")?).ok_or(Error::UnknownForm)?;
    let batch_id = decoding::idempotency_key(&required("batch")?).map_err(|_| Error::Validation([("batch".to_owned(), shared::Code::InvalidChoice)].into()))?;
    let basis = crate::services::import::LegalBasis::parse(&required("basis")?)
        .ok_or_else(|| Error::Validation([("basis".to_owned(), shared::Code::InvalidChoice)].into()))?;
    let confirmed = match query(req, "opt_in")?.as_deref() {
        None | Some("") => false,
        Some("confirmed") => true,
        Some(_) => return Err(Error::Validation([("opt_in".to_owned(), shared::Code::InvalidChoice)].into())),
    };
    let (signing, origin) = (signing_key(cx.env)?, own_origin(req));
    let batch = crate::services::import::Batch {
        config,
        form,
        id: batch_id.clone(),
        source: required("source")?,
        basis,
        proof: query(req, "proof")?.filter(|p| !p.trim().is_empty()),
        confirmed,
        signing: &signing,
        origin: &origin,
    };
    batch.check()?;
    let content_type = header(req, "Content-Type");
    let format = crate::rules::rows::format(content_type.as_deref())?;
    let body = read_body(req, IMPORT_BODY).await?;
    let rows = crate::rules::rows::read(format, &body, crate::rules::rows::MAX_ROWS)?;
    let cloud = cx.cloud()?;
    let scope = format!("import:{}", form.id);
    let now = cx.now;
    // The batch id answers once, for this body and these parameters only: the same id with another file
    // is refused, not answered with the first file's report while its rows are dropped.
    let digest = crate::services::import::digest(&batch, content_type.as_deref().unwrap_or_default(), &body);
    match ask(cloud, cmd::Reserve { form: scope.clone(), key: batch_id.clone(), now }).await? {
        ledger::Replay::Answered { answer } => {
            let kept: serde_json::Value = serde_json::from_str(&answer)?;
            return match (kept.get("digest").and_then(serde_json::Value::as_str), kept.get("report")) {
                (Some(first), Some(report)) if first == digest => json_response(report, 200),
                (Some(_), Some(_)) => Err(Error::KeyReused("batch")),
                // Kept before batches were bound to their bodies.
                _ => json_response(&kept, 200),
            };
        }
        ledger::Replay::InProgress => return Err(Error::InProgress),
        ledger::Replay::Fresh => {}
    }
    let ignored = crate::services::import::ignored_columns(form, &rows);
    let reports = match crate::services::import::run(cloud, &batch, rows).await {
        Ok(r) => r,
        Err(e) => {
            let _ = cloud.send(cmd::Release { form: scope, hold: Hold::default(), key: Some(batch_id) }).await;
            return Err(e);
        }
    };
    let count = |s: &str| reports.iter().filter(|r| r.status == s).count();
    let answer = json!({
        "batch": batch.id, "form": form.id, "source": batch.source, "basis": basis,
        "created": count("created"), "merged": count("merged"), "rejected": count("rejected"),
        "ignored_columns": ignored, "rows": reports,
    });
    worker::console_log!("import {} into {}: {} created, {} merged, {} rejected", batch.id, form.id, count("created"), count("merged"), count("rejected"));
    cloud
        .send(cmd::Settle {
            form: scope,
            hold: Hold::default(),
            key: Some(batch_id),
            answer: Some(json!({"digest": digest, "report": answer}).to_string()),
            deliveries: Vec::new(),
            entry: None,
        })
        .await?;
    json_response(&answer, 200)
}

/// The `by` grouping of the funnel and the daily counts, `default` when absent.
fn group_by(req: &Request, default: crate::protocol::funnel::By) -> Result<crate::protocol::funnel::By, Error> {
    match query(req, "by")? {
        // By day is the form analytics' grouping (`analytics`): the funnel and the daily counts show days their own way.
        Some(b) => crate::protocol::funnel::By::parse(&b)
            .filter(|by| *by != crate::protocol::funnel::By::Day)
            .ok_or_else(|| Error::Malformed("`by` must be source, campaign, form or owner.".into())),
        None => Ok(default),
    }
}

/// How many days of bot counts the stats show.
const STATS_DAYS: u64 = 90;

/// `GET /v1/admin/deliveries?status=pending|failed|delivered|dead&form=&endpoint=&lead=&limit=&cursor=`:
/// deliveries, newest first, with attempts, last status and next attempt, a page at a time from the
/// ledger's outbox; `failed` means pending after at least one failed attempt. Payloads are left out.
pub(crate) async fn list_deliveries(req: &Request, cx: &Cx<'_>) -> Result<Response, Error> {
    let status = query(req, "status")?;
    if !matches!(status.as_deref(), None | Some("pending" | "failed" | "delivered" | "dead")) {
        return Err(Error::Malformed("`status` must be pending, failed, delivered or dead.".into()));
    }
    let limit = u32::try_from(access::page_limit(query(req, "limit")?.as_deref())?).unwrap_or(50);
    let filter = ledger::DeliveryFilter { status, form: query(req, "form")?, endpoint: query(req, "endpoint")?, lead: query(req, "lead")? };
    let page: ledger::DeliveryPage = ask(cx.cloud()?, cmd::Deliveries { filter, before: query(req, "cursor")?, limit }).await?;
    let out: Vec<serde_json::Value> = page
        .deliveries
        .iter()
        .map(|d| {
            json!({
                "id": d.id, "lead_id": d.lead_id, "form": d.form, "endpoint": d.endpoint, "event": d.event,
                "status": d.state, "attempts": d.attempts, "last_status": d.last_status, "last_error": d.last_error,
                "next_attempt_at": (d.state == crate::protocol::outbox::State::Pending).then(|| shared::time::rfc3339(d.next_at_ms)),
            })
        })
        .collect();
    json_response(&json!({"deliveries": out, "cursor": page.cursor}), 200)
}

/// `POST /v1/admin/deliveries/<id>/replay`: sends a delivery again now, with a fresh retry schedule.
pub(crate) async fn replay(cx: &Cx<'_>, id: &str) -> Result<Response, Error> {
    if !id::is_valid("msg_", id) {
        return Err(Error::NotFound);
    }
    let found: ledger::Found = ask(cx.cloud()?, cmd::Replay { id: id.to_owned(), now: cx.now }).await?;
    if !found.found {
        return Err(Error::NotFound);
    }
    json_response(&json!({"id": id, "status": "pending"}), 202)
}

/// `GET /v1/admin/endpoints`: every configured endpoint and whether it is disabled.
pub(crate) async fn list_endpoints(cx: &Cx<'_>) -> Result<Response, Error> {
    let config = cx.config()?;
    let disabled: Vec<ledger::Disabled> = ask(cx.cloud()?, cmd::Endpoints).await?;
    let mut out = Vec::new();
    for form in &config.forms {
        for ep in &form.webhooks {
            let flag = disabled.iter().find(|d| d.form == form.id && d.endpoint == ep.id);
            out.push(
                json!({"form": form.id, "id": ep.id, "url": ep.url, "disabled": flag.is_some(), "disabled_since": flag.map(|f| shared::time::rfc3339(f.at))}),
            );
        }
    }
    json_response(&json!({"endpoints": out}), 200)
}

/// `POST /v1/admin/endpoints/<form>/<id>/enable`: lifts a 410 block; the waiting deliveries go out at once.
pub(crate) async fn enable_endpoint(cx: &Cx<'_>, form_id: &str, ep_id: &str) -> Result<Response, Error> {
    let form = cx.config()?.form(form_id).ok_or(Error::NotFound)?;
    if !form.webhooks.iter().any(|e| e.id == ep_id) {
        return Err(Error::NotFound);
    }
    let enable = Command::Enable(cmd::Enable { form: form_id.to_owned(), endpoint: ep_id.to_owned(), now: cx.now });
    cx.cloud()?.ledger(&enable).await?;
    json_response(&json!({"form": form_id, "id": ep_id, "disabled": false}), 200)
}

/// `GET /v1/admin/leads/<id>` (GDPR Art. 15: everything stored, consent records included) and
/// `/export` (Art. 20: the same, as a downloadable machine-readable file).
pub(crate) async fn lead_detail(cx: &Cx<'_>, id: &str, download: bool) -> Result<Response, Error> {
    if !id::is_valid("ld_", id) {
        return Err(Error::NotFound);
    }
    let mut lead = cx.cloud()?.lead(id).await?.ok_or(Error::NotFound)?;
    // With its stage history and events, the score as it stands now, and every download the ledger
    // counted (some may not be folded into the document yet).
    crate::services::handout::as_counted(cx.cloud()?, std::slice::from_mut(&mut lead)).await?;
    let mut resp = json_response(&as_of_now(cx.config()?, lead, cx.now)?, 200)?;
    if download {
        let _ = resp.headers_mut().set("Content-Disposition", &format!("attachment; filename=\"lead-{id}.json\""));
    }
    let _ = resp.headers_mut().set("Cache-Control", "no-store");
    Ok(resp)
}

/// `DELETE /v1/admin/leads/<id>` (GDPR Art. 17): erases the lead and every stored delivery of it (their
/// payloads hold the same personal data), and announces `lead.erased` to the form's endpoints so CRMs
/// delete it too (see `erasure`).
pub(crate) async fn erase(cx: &Cx<'_>, id: &str) -> Result<Response, Error> {
    if !id::is_valid("ld_", id) {
        return Err(Error::NotFound);
    }
    let erased = erasure::erase(cx.cloud()?, cx.config()?, id, true).await?.ok_or(Error::NotFound)?;
    worker::console_log!("lead erased: {} form={} deliveries deleted={}", erased.lead.id, erased.lead.form, erased.deliveries_deleted);
    json_response(&json!({"id": erased.lead.id, "erased": true, "deliveries_deleted": erased.deliveries_deleted, "erase_by_hand_in": erased.by_hand_in}), 200)
}

/// `POST /v1/admin/giveaways/<form>/draw` with `{"winners": N}`: draws N distinct winners uniformly at
/// random among the form's eligible entries (confirmed ones when the form asks for double opt-in; erased
/// entries no longer exist; earlier winners of this giveaway are left out), records the draw with its seed
/// so it can be repeated (`draw::reproduces`), and announces each winner as `giveaway.winner` (see
/// `drawing`). With an `Idempotency-Key` (the admin page always sends one), a retried request is answered
/// with the draw that was made.
pub(crate) async fn draw_winners(req: &mut Request, cx: &Cx<'_>, form_id: &str) -> Result<Response, Error> {
    let form = cx.config()?.form(form_id).filter(|f| f.kind == FormKind::Giveaway).ok_or(Error::NotFound)?;
    let text = read_body(req, decoding::MAX_BODY).await?;
    let body = crate::glue::exchange::json_object(&text)?;
    let wanted =
        body.get("winners").and_then(serde_json::Value::as_u64).ok_or_else(|| Error::Malformed("Send {\"winners\": N} with N a whole number.".into()))?;
    let key = match header(req, "Idempotency-Key") {
        Some(h) => Some(decoding::idempotency_key(&h)?),
        None => None,
    };
    let made = giveaway::draw(cx.cloud()?, form, wanted, key).await?;
    worker::console_log!("draw {} form={} eligible={} winners={}", made.id, form_id, made.eligible_count, made.winners.len());
    json_response(&serde_json::to_value(&made)?, 201)
}

/// `GET /v1/admin/giveaways/<form>/draws`: every draw of a giveaway, with seeds and lists for re-checking.
pub(crate) async fn list_draws(cx: &Cx<'_>, form_id: &str) -> Result<Response, Error> {
    let draws = giveaway::draws(cx.cloud()?, form_id).await?;
    let checked: Vec<serde_json::Value> = draws.iter().map(|d| json!({"draw": d, "reproduces": draw::reproduces(d)})).collect();
    json_response(&json!({"draws": checked}), 200)
}

/// `GET /v1/admin/leads.csv?form=&status=&since=&limit=&cursor=`: leads as CSV, formula-safe, newest first,
/// a page at a time (at most 500 leads: a page's reads stay within an invocation's limits however many
/// leads are stored). The first page carries the header row; `X-Next-Cursor` (and a `Link: rel="next"`)
/// names the next page, so the pages concatenated are one file. The columns come from the config (the
/// form's fields, or every form's), so they are the same on every page.
pub(crate) async fn leads_csv(req: &Request, cx: &Cx<'_>) -> Result<Response, Error> {
    let limit = match query(req, "limit")? {
        None => CSV_PAGE,
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=CSV_PAGE).contains(n))
            .ok_or_else(|| Error::Malformed(format!("`limit` must be a number from 1 to {CSV_PAGE}.")))?,
    };
    let filter = lead_filter(req, cx.now)?;
    let config = cx.config()?;
    let mut fields: Vec<&str> =
        config.forms.iter().filter(|f| filter.form.as_deref().is_none_or(|id| id == f.id)).flat_map(|f| f.fields.iter().map(|d| d.name.as_str())).collect();
    fields.sort_unstable();
    fields.dedup();
    let cursor = query(req, "cursor")?;
    let first = cursor.is_none();
    let cloud = cx.cloud()?;
    let (mut leads, next) = listing::page(cloud, &filter, cursor, limit).await?;
    crate::services::handout::as_counted(cloud, &mut leads).await?;
    let mut body = if first { export::header(&fields) } else { String::new() };
    body.push_str(&export::rows(&fields, &leads));
    let mut resp = Response::ok(body)?;
    let h = resp.headers_mut();
    let _ = h.set("Content-Type", "text/csv; charset=utf-8");
    let _ = h.set("Content-Disposition", "attachment; filename=\"leads.csv\"");
    let _ = h.set("Cache-Control", "no-store");
    if let Some(next) = next {
        let url = req.inner().url();
        let address = Address::of(&url);
        let mut kept: Vec<(String, String)> = address.pairs().into_iter().filter(|(k, _)| k != "cursor").collect();
        kept.push(("cursor".to_owned(), next.clone()));
        let _ = h.set("Link", &format!("<{}?{}>; rel=\"next\"", address.path, decoding::form_urlencode(&kept)));
        let _ = h.set("X-Next-Cursor", &next);
    }
    Ok(resp)
}

/// The most leads one CSV page holds.
pub(crate) const CSV_PAGE: u32 = 500;

/// `GET /v1/admin/leads?email=&form=&status=&since=&stage=&owner=&min_score=&max_score=&cooling=true&limit=&cursor=`: a
/// page of leads, newest first, filtered in the ledger's index (full pages while matches remain). Each
/// lead's score is shown as it stands now (behaviour points faded), with `cooling`.
pub(crate) async fn list_leads(req: &Request, cx: &Cx<'_>) -> Result<Response, Error> {
    let limit = access::page_limit(query(req, "limit")?.as_deref())?;
    let filter = lead_filter(req, cx.now)?;
    let cloud = cx.cloud()?;
    let (mut leads, cursor) = match query(req, "email")?.filter(|e| !e.trim().is_empty()) {
        // By address: the ledger knows addresses only as hashes, so the search is for the exact address
        // (letters without case), on every form or the one asked for.
        Some(email) => {
            let held: Vec<ledger::Holding> = ask(cloud, cmd::Find { email: intake::email_hash(email.trim()) }).await?;
            let ids: Vec<String> = held.into_iter().filter(|h| filter.form.as_deref().is_none_or(|f| f == h.form)).map(|h| h.lead).collect();
            (cloud.leads(&ids).await?, None)
        }
        None => listing::page(cloud, &filter, query(req, "cursor")?, u32::try_from(limit).unwrap_or(50)).await?,
    };
    // Downloads counted in the ledger and not folded into the documents yet are shown too.
    crate::services::handout::as_counted(cloud, &mut leads).await?;
    let config = cx.config()?;
    let now = cx.now;
    let shown: Vec<serde_json::Value> = leads.into_iter().map(|lead| as_of_now(config, lead, now)).collect::<Result<_, _>>()?;
    json_response(&json!({"leads": shown, "cursor": cursor}), 200)
}

/// A lead as the admin API shows it: scored at `now` (faded behaviour points, fresh reasons), with whether
/// it is cooling.
pub(crate) fn as_of_now(config: &shared::form::FormsConfig, mut lead: Lead, now: u64) -> Result<serde_json::Value, Error> {
    if let Some(form) = config.form(&lead.form) {
        lead.rescore(&form.scoring, now);
    }
    let cooling = lead.is_cooling(now);
    let mut value = serde_json::to_value(&lead)?;
    if let Some(fields) = value.as_object_mut() {
        fields.insert("cooling".into(), cooling.into());
        // Bookkeeping between the document and the ledger's counts, not something about the person.
        fields.remove("downloads_folded");
    }
    Ok(value)
}

/// The query parameter `name` as a date or a time (Unix ms), if given; a `400` naming it if it is neither.
fn time_param(req: &Request, name: &str) -> Result<Option<u64>, Error> {
    match query(req, name)? {
        Some(t) => {
            Ok(Some(shared::time::parse(&t).ok_or_else(|| Error::Malformed(format!("`{name}` must be a date like 2026-11-30 or 2026-11-30T09:00:00Z.")))?))
        }
        None => Ok(None),
    }
}

/// The largest score bound an admin list accepts, either way.
const SCORE_BOUND: i64 = 1_000_000;

/// The filters of an admin list: `form`, `status`, `since`, `stage`, `min_score`, `max_score`, `cooling`.
pub(crate) fn lead_filter(req: &Request, now: u64) -> Result<listing::Filter, Error> {
    let since = time_param(req, "since")?;
    let stage = match query(req, "stage")? {
        Some(s) => Some(Stage::parse(&s).ok_or_else(|| Error::Malformed(format!("`stage` must be one of {}.", stage_names())))?.as_str().to_owned()),
        None => None,
    };
    // A score bound far beyond any score (they are sums of points in the tens or hundreds) is refused: the
    // ledger compares it as a SQL number, and near the ends of i64 that failed with a 500.
    let number = |name: &str| -> Result<Option<i64>, Error> {
        match query(req, name)? {
            Some(v) => match v.trim().parse::<i64>() {
                Ok(n) if (-SCORE_BOUND..=SCORE_BOUND).contains(&n) => Ok(Some(n)),
                _ => Err(Error::Malformed(format!("`{name}` must be a whole number from -{SCORE_BOUND} to {SCORE_BOUND}."))),
            },
            None => Ok(None),
        }
    };
    let cooling = match query(req, "cooling")?.as_deref() {
        None | Some("false") => None,
        Some("true") => Some(now),
        Some(_) => return Err(Error::Malformed("`cooling` must be true or false.".into())),
    };
    let qualified =
        ledger::Qualified { stage, min_score: number("min_score")?, max_score: number("max_score")?, cooling_at: cooling, owner: query(req, "owner")? };
    Ok(listing::Filter { form: query(req, "form")?, status: query(req, "status")?, since, qualified })
}

/// The stage names, for error messages.
pub(crate) fn stage_names() -> String {
    Stage::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}
