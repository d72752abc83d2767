//! What handlers read from a request (headers, query, a body cut off at its limit, the visitor's language,
//! secrets) and the responses they build (JSON, pages, redirects).

use crate::platform::cloud::secret;
use crate::rules::access;
use crate::rules::address::Address;
use crate::{rules::pseudonym, Error};
use shared::Lang;
use worker::{Env, Headers, Method, Request, Response};

/// A request header's value, if present and readable.
pub(crate) fn header(req: &Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}

/// A secret the request cannot do without: a missing one is a `misconfigured` error naming it, never a
/// silent skip of the feature that needs it.
pub(crate) fn required_secret(env: &Env, name: &str) -> Result<String, Error> {
    secret(env, name).ok_or_else(|| Error::Misconfigured(name.to_owned()))
}

/// The origin the request was addressed to (the collector's own).
pub(crate) fn own_origin(req: &Request) -> String {
    Address::of(&req.inner().url()).origin.to_owned()
}

/// The pseudonymous id of the request's client (keyed HMAC of its IP address), if a key is configured.
pub(crate) fn client_id(req: &Request, env: &Env) -> Option<String> {
    let ip = header(req, "CF-Connecting-IP")?;
    Some(pseudonym::client_id(secret(env, "CLIENT_ID_SECRET")?.as_bytes(), &ip))
}

/// The request body, read as a stream and stopped at `limit` bytes: a body without `Content-Length`, or
/// with a false one, is never read further than `limit` + 1 bytes before the 413.
pub(crate) async fn read_body(req: &mut Request, limit: usize) -> Result<Vec<u8>, Error> {
    use futures_util::StreamExt;
    let declared = header(req, "Content-Length").and_then(|l| l.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(Error::TooLarge);
    }
    if declared.is_some() {
        // The runtime holds a body to its declared length, so it can be read whole in one step: cheaper
        // than streaming it across the wasm boundary chunk by chunk.
        return req.bytes().await.map_err(|_| Error::Malformed("The body could not be read.".into()));
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

pub(crate) fn json_response(value: &serde_json::Value, status: u16) -> Result<Response, Error> {
    Ok(Response::from_json(value)?.with_status(status))
}

/// The collector's signing secret, from which receipts and links derive their keys.
pub(crate) fn signing_key(env: &Env) -> Result<String, Error> {
    required_secret(env, "SIGNING_SECRET")
}

/// A `303 See Other` to `location`.
pub(crate) fn redirect(location: String) -> Result<Response, Error> {
    let headers = Headers::new();
    let _ = headers.set("Location", &location);
    Ok(Response::empty()?.with_status(303).with_headers(headers))
}

/// The language for a page shown before any lead is known: the browser's first choice if German, else
/// English.
pub(crate) fn visitor_lang(req: &Request) -> Lang {
    let accept = req.headers().get("Accept-Language").ok().flatten().unwrap_or_default();
    Lang::from_tag(accept.split([',', ';']).next().unwrap_or("").trim()).unwrap_or_default()
}

pub(crate) fn html_response(html: &str, status: u16) -> Result<Response, Error> {
    let mut resp = Response::from_html(html)?.with_status(status);
    let _ = resp.headers_mut().set("Cache-Control", "no-store");
    Ok(resp)
}

/// The first value of the query parameter `name`.
pub(crate) fn query(req: &Request, name: &str) -> Result<Option<String>, Error> {
    Ok(Address::of(&req.inner().url()).param(name))
}

/// The one place an [`Error`] becomes a response: its status, headers and JSON body in `lang`, logged
/// without personal data when it is the collector's fault. A caller who sends the admin token gets the
/// admin's body (which names a missing secret); everyone else the public one.
pub(crate) fn error_response(req: &Request, env: &Env, e: &Error, lang: Lang) -> worker::Result<Response> {
    let admin = matches!(e, Error::Misconfigured(_)) && sends_admin_token(req, env);
    error_answer(&req.method(), Address::of(&req.inner().url()).path, e, lang, admin)
}

/// [`error_response`] for a request known by its method and path, such as one already handed on.
pub(crate) fn error_answer(method: &Method, path: &str, e: &Error, lang: Lang, admin: bool) -> worker::Result<Response> {
    if let Some(line) = e.log_line() {
        worker::console_error!("{method} {path}: {line}");
    }
    let body = if admin { e.admin_body(lang) } else { e.body(lang) };
    let mut resp = Response::from_json(&body)?.with_status(e.status());
    for (name, value) in e.headers() {
        resp.headers_mut().set(name, &value)?;
    }
    Ok(resp)
}

/// The admin token check, run by [`dispatch`] for every admin route; returns who the token names (`admin`,
/// or a name of `ADMIN_TOKENS`) for the audit trail. A missing or short `ADMIN_TOKEN` (unless named tokens
/// stand in for it) or a broken `ADMIN_TOKENS` is the deployment's fault and answered as such; it never
/// opens the admin API.
pub(crate) fn authorize(req: &Request, env: &Env) -> Result<String, Error> {
    let named = match crate::platform::cloud::secret(env, "ADMIN_TOKENS") {
        Some(list) => access::named_tokens(&list).map_err(|problem| {
            worker::console_error!("ADMIN_TOKENS: {problem}");
            Error::Misconfigured("ADMIN_TOKENS".into())
        })?,
        None => Vec::new(),
    };
    let token = match crate::platform::cloud::secret(env, "ADMIN_TOKEN") {
        None if !named.is_empty() => None,
        None => return Err(Error::Misconfigured("ADMIN_TOKEN".into())),
        Some(token) if token.chars().count() < access::MIN_TOKEN_CHARS => return Err(Error::Misconfigured("ADMIN_TOKEN".into())),
        Some(token) => Some(token),
    };
    let authorization = header(req, "Authorization");
    match access::admin_named(authorization.as_deref(), token.as_deref(), &named) {
        Ok(name) => Ok(name),
        // A viewer's token (`VIEWER_TOKENS`) reads the admin API and changes nothing: a change asks for the
        // admin token.
        Err(refused) => {
            let viewers = match crate::platform::cloud::secret(env, "VIEWER_TOKENS") {
                Some(list) => access::named_tokens(&list).map_err(|problem| {
                    worker::console_error!("VIEWER_TOKENS: {problem}");
                    Error::Misconfigured("VIEWER_TOKENS".into())
                })?,
                None => return Err(refused),
            };
            match access::admin_named(authorization.as_deref(), None, &viewers) {
                Ok(name) if matches!(req.method(), Method::Get | Method::Head) => Ok(format!("{}{name}", access::VIEWER)),
                _ => Err(refused),
            }
        }
    }
}

/// Whether the request carries the configured admin token, even one too short to open the admin API:
/// who holds it runs the deployment and may be told which secret it lacks.
fn sends_admin_token(req: &Request, env: &Env) -> bool {
    let token = crate::platform::cloud::secret(env, "ADMIN_TOKEN");
    let named = crate::platform::cloud::secret(env, "ADMIN_TOKENS").and_then(|list| access::named_tokens(&list).ok()).unwrap_or_default();
    access::admin_named(header(req, "Authorization").as_deref(), token.as_deref(), &named).is_ok()
}

/// A JSON object body, or a `Malformed` error saying why it is not one.
pub(crate) fn json_object(body: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>, Error> {
    match serde_json::from_str(crate::rules::decoding::json_text(body, "The body is not JSON")?) {
        Ok(serde_json::Value::Object(o)) => Ok(o),
        Ok(_) => Err(Error::Malformed("The body must be a JSON object.".into())),
        Err(e) => Err(Error::Malformed(format!("The body is not JSON: {e}."))),
    }
}

/// A string member of a JSON body, or a `Malformed` error naming it.
pub(crate) fn text_member<'a>(body: &'a serde_json::Map<String, serde_json::Value>, name: &str) -> Result<Option<&'a str>, Error> {
    match body.get(name) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(Error::Malformed(format!("`{name}` must be a string."))),
    }
}
