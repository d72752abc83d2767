//! What handlers read from a request (headers, query, a body cut off at its limit, the visitor's language,
//! secrets) and the responses they build (JSON, pages, redirects).

use crate::address::Address;
use crate::cloud::{self, secret};
use crate::{pseudonym, Error};
use shared::Lang;
use worker::{Env, Headers, Request, Response};

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

/// Reads a whole answer (of the ledger, or of a fetch) as text with the runtime's own `text()`.
/// `worker::Response::text` reads a streamed body chunk by chunk across the wasm boundary, which took
/// about 6% of a submission's CPU time in a profile on local workerd.
pub(crate) async fn answer_text(resp: Response) -> Result<String, worker::Error> {
    let promise = worker::web_sys::Response::from(resp).text()?;
    let text = worker::wasm_bindgen_futures::JsFuture::from(promise).await?;
    Ok(text.as_string().unwrap_or_default())
}

pub(crate) fn json_response(value: &serde_json::Value, status: u16) -> Result<Response, Error> {
    Ok(Response::from_json(value)?.with_status(status))
}

pub(crate) fn kv(env: &Env) -> Result<worker::kv::KvStore, Error> {
    cloud::kv(env)
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
