//! The admin API of forms as data (the editor's): the catalog's forms, a draft read, saved and checked,
//! published, rolled back, archived and restored, a published version, and the audit trail. What each
//! does is `services::catalog`'s; this reads requests and writes answers. Also the editor's live preview: a
//! draft's embed script, as pages would get it once published.

use crate::glue::context::Cx;
use crate::glue::exchange::{json_object, json_response, own_origin, query, read_body};
use crate::services::catalog;
use crate::Error;
use serde_json::json;
use shared::form::FormDef;
use worker::{Request, Response};

/// The widget's loader, built by `cargo xtask build` before the edge (see build.rs): the preview is the
/// operator's, which has no static assets of its own, so it carries its copy.
const WIDGET_JS: &str = include_str!(env!("LEADGATE_WIDGET_JS"));

/// The largest definition a draft may be (a form with every setting is about 10 KB).
const MAX_DRAFT: usize = 64 * 1024;

/// A definition from a request body: the shape of a `[[forms]]` table, as JSON. A body that is not one is
/// a 400 naming the setting where it breaks (`fields[1].type`) and what is wrong there.
pub(crate) fn definition(body: &[u8]) -> Result<FormDef, Error> {
    let mut json = serde_json::Deserializer::from_str(crate::rules::decoding::json_text(body, "Not a form definition")?);
    serde_path_to_error::deserialize(&mut json).map_err(|e| Error::Malformed(format!("Not a form definition: at `{}`: {}.", e.path(), e.inner())))
}

/// Where a preview's widget would send: a name that never resolves (RFC 2606).
const PREVIEW_ENDPOINT: &str = "https://preview.invalid";

/// `POST /v1/preview` with a form definition: its embed script, as `/embed/<form>.js` would serve it once
/// published (the editor's live preview runs the real widget on it). Nothing is read or stored, so it
/// takes no token; a definition that cannot render (no fields) is a 400.
pub(crate) async fn preview(req: &mut Request) -> Result<Response, Error> {
    // The same reading as a saved draft's, so a broken definition is a 400 naming where it breaks.
    let mut form = definition(&read_body(req, MAX_DRAFT).await?)?;
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
    // Its rules come from the collector's static module (the request's origin, which the collector passes
    // on unchanged), like a published form's.
    let mut resp = Response::ok(crate::rules::embed::script(WIDGET_JS, &shared::form::PublicForm::from(&form), PREVIEW_ENDPOINT, Some(&own_origin(req))))?;
    let _ = resp.headers_mut().set("Content-Type", "text/javascript; charset=utf-8");
    let _ = resp.headers_mut().set("Cache-Control", "no-store");
    Ok(resp)
}

/// A form id from a path: ids are slugs, so anything else names no form and cannot make one.
fn form_id(form: &str) -> Result<&str, Error> {
    if shared::form::is_slug(form) {
        Ok(form)
    } else {
        Err(Error::FormProblems(vec![("id".into(), "use 1 to 64 lowercase letters, digits, '-' or '_'".into())]))
    }
}

/// A `200` with `value` as JSON.
fn answer<T: serde::Serialize>(value: &T) -> Result<Response, Error> {
    json_response(&serde_json::to_value(value)?, 200)
}

/// `GET /v1/admin/catalog`.
pub(crate) async fn list(cx: &Cx<'_>) -> Result<Response, Error> {
    json_response(&json!({"forms": catalog::list(cx.cloud()?).await?}), 200)
}

/// `GET /v1/admin/catalog/<form>`.
pub(crate) async fn detail(cx: &Cx<'_>, form: &str) -> Result<Response, Error> {
    answer(&catalog::detail(cx.cloud()?, cx.config()?, form_id(form).map_err(|_| Error::NotFound)?).await?)
}

/// `PUT /v1/admin/catalog/<form>` with a definition: saves the draft.
pub(crate) async fn save(req: &mut Request, cx: &Cx<'_>, form: &str) -> Result<Response, Error> {
    let form = form_id(form)?;
    let draft = definition(&read_body(req, MAX_DRAFT).await?)?;
    answer(&catalog::save(cx.cloud()?, cx.config()?, form, draft, who(cx)).await?)
}

/// `POST /v1/admin/catalog/<form>/check` with a definition: its problems, nothing saved.
pub(crate) async fn check(req: &mut Request, cx: &Cx<'_>, form: &str) -> Result<Response, Error> {
    let form = form_id(form)?;
    let mut draft = definition(&read_body(req, MAX_DRAFT).await?)?;
    form.clone_into(&mut draft.id);
    json_response(&json!({"problems": catalog::problems(cx.config()?, &draft)}), 200)
}

/// `POST /v1/admin/catalog/<form>/publish`.
pub(crate) async fn publish(cx: &Cx<'_>, form: &str) -> Result<Response, Error> {
    let done = catalog::publish(cx.cloud()?, cx.config()?, form_id(form).map_err(|_| Error::NotFound)?, who(cx)).await?;
    worker::console_log!("form {form}: version {:?} published by {}", done.form.published, who(cx));
    answer(&done)
}

/// `POST /v1/admin/catalog/<form>/rollback` with `{"to": n}`.
pub(crate) async fn rollback(req: &mut Request, cx: &Cx<'_>, form: &str) -> Result<Response, Error> {
    let form = form_id(form).map_err(|_| Error::NotFound)?;
    let body = json_object(&read_body(req, crate::rules::decoding::MAX_BODY).await?)?;
    let to = match body.get("to") {
        None => return Err(Error::Validation([("to".to_owned(), shared::Code::Required)].into())),
        Some(v) => v.as_u64().and_then(|n| u32::try_from(n).ok()).filter(|n| *n > 0),
    };
    let to = to.ok_or_else(|| Error::Validation([("to".to_owned(), shared::Code::InvalidNumber)].into()))?;
    answer(&catalog::rollback(cx.cloud()?, cx.config()?, form, to, who(cx)).await?)
}

/// `POST /v1/admin/catalog/<form>/winner` with `{"variant": name}`: the draft takes the variant's texts
/// as its own, ends its test and is published.
pub(crate) async fn winner(req: &mut Request, cx: &Cx<'_>, form: &str) -> Result<Response, Error> {
    let form = form_id(form).map_err(|_| Error::NotFound)?;
    let body = json_object(&read_body(req, crate::rules::decoding::MAX_BODY).await?)?;
    let variant = match body.get("variant") {
        None => return Err(Error::Validation([("variant".to_owned(), shared::Code::Required)].into())),
        Some(v) => v.as_str().ok_or_else(|| Error::Malformed("`variant` must be a variant's name.".into()))?,
    };
    let done = catalog::end_test(cx.cloud()?, cx.config()?, form, variant, who(cx)).await?;
    worker::console_log!("form {form}: test ended with {variant}, version {:?} published by {}", done.form.published, who(cx));
    answer(&done)
}

/// `POST /v1/admin/catalog/<form>/archive` (`archived`) or `/restore`.
pub(crate) async fn archive(cx: &Cx<'_>, form: &str, archived: bool) -> Result<Response, Error> {
    let form = form_id(form).map_err(|_| Error::NotFound)?;
    answer(&catalog::archive(cx.cloud()?, cx.config()?, form, archived, who(cx)).await?)
}

/// `GET /v1/admin/catalog/<form>/versions/<n>`.
pub(crate) async fn version(cx: &Cx<'_>, form: &str, n: u32) -> Result<Response, Error> {
    let found = crate::protocol::backend::ask(cx.cloud()?, crate::protocol::ledger::cmd::Version { form: form.to_owned(), n }).await?;
    answer(&found.ok_or(Error::NotFound)?)
}

/// `GET /v1/admin/trail?form=&before=&limit=`.
pub(crate) async fn trail(req: &Request, cx: &Cx<'_>) -> Result<Response, Error> {
    let number = |name: &str, max: u64| -> Result<Option<u64>, Error> {
        match query(req, name)? {
            None => Ok(None),
            Some(v) => v.parse::<u64>().ok().filter(|n| *n <= max).map(Some).ok_or_else(|| Error::Malformed(format!("`{name}` must be a number up to {max}."))),
        }
    };
    let before = number("before", u64::MAX)?;
    let limit = number("limit", 200)?.unwrap_or(50).max(1) as u32;
    let form = query(req, "form")?;
    json_response(&json!({"trail": catalog::trail(cx.cloud()?, form.as_deref(), before, limit).await?}), 200)
}

/// Who the request's admin token names, for the audit trail (every route here is an admin route, so the
/// entry point has set it).
fn who<'a>(cx: &'a Cx<'_>) -> &'a str {
    cx.admin.as_deref().unwrap_or(crate::protocol::catalog::ADMIN)
}
