//! Reading a submission's request: its encoding (JSON from the widget and API clients, form data from a
//! plain HTML form), the body cut to its limit and parsed with errors that say where, the idempotency key,
//! and the form encoding both ways (the collector posts form data itself: Salesforce, Turnstile).

use crate::Error;
use shared::wire::Submission;
use shared::Lang;

/// The largest body accepted: a lead form never needs more, and a cap keeps abuse cheap.
pub const MAX_BODY: usize = 32 * 1024;

/// The body encodings the intake accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// `application/json` (the widget, API clients).
    Json,
    /// `application/x-www-form-urlencoded` (the no-JavaScript form).
    Form,
}

/// Picks the encoding from the `Content-Type` header.
pub fn encoding(content_type: Option<&str>) -> Result<Encoding, Error> {
    let mime = content_type.unwrap_or("").split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match mime.as_str() {
        "application/json" => Ok(Encoding::Json),
        "application/x-www-form-urlencoded" => Ok(Encoding::Form),
        _ => Err(Error::UnsupportedMediaType),
    }
}

/// Parses a body into a submission.
pub fn parse(encoding: Encoding, body: &[u8]) -> Result<Submission, Error> {
    if body.len() > MAX_BODY {
        return Err(Error::TooLarge);
    }
    match encoding {
        Encoding::Json => serde_json::from_str(json_text(body, "The JSON is malformed")?).map_err(|e| Error::Malformed(json_problem(&e))),
        Encoding::Form => parse_form_data(body),
    }
}

/// A body as the text its JSON is read from, or a `Malformed` error that starts with `what`.
///
/// All JSON in the edge is read from text (`serde_json::from_str`): `from_slice` would link a second copy
/// of serde_json's reader and of the reading code of every type it reads.
pub fn json_text<'a>(body: &'a [u8], what: &str) -> Result<&'a str, Error> {
    std::str::from_utf8(body).map_err(|_| Error::Malformed(format!("{what}: the body is not UTF-8.")))
}

/// Describes a JSON error by position and kind, without echoing the visitor's data back.
fn json_problem(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Syntax | Category::Eof => "The JSON is malformed",
        Category::Data => "The JSON has the wrong shape (expected {form, fields: {name: string}, consent: [string], meta})",
        Category::Io => "The body could not be read",
    };
    format!("{what} at line {} column {}.", e.line(), e.column())
}

/// Parses `application/x-www-form-urlencoded`: `form`, repeated `consent`, `_hp` (honeypot), `_page`,
/// `_lang`, `_elapsed`, `cf-turnstile-response` (what Turnstile adds to a plain form), `utm_*` (campaign
/// tags); every other key is a field.
pub fn parse_form_data(body: &[u8]) -> Result<Submission, Error> {
    let text = std::str::from_utf8(body).map_err(|_| Error::Malformed("The form data is not UTF-8.".into()))?;
    let mut sub = Submission::default();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (percent_decode(k)?, percent_decode(v)?);
        match k.as_str() {
            "form" => sub.form = v,
            "consent" => sub.consent.push(v),
            "_hp" => sub.meta.hp = Some(v),
            "_page" => sub.meta.page = Some(v),
            "_lang" => sub.meta.lang = Lang::from_tag(&v),
            "_elapsed" => sub.meta.elapsed_ms = v.parse().ok(),
            "cf-turnstile-response" => sub.meta.turnstile = Some(v),
            _ if k.starts_with('_') => {}
            // A plain form carries its campaign tags as hidden inputs named like the URL's parameters.
            _ if k.starts_with("utm_") => {
                if sub.meta.utm.insert(k.get(4..).unwrap_or_default().to_owned(), v).is_some() {
                    return Err(Error::Malformed("A campaign tag appears twice in the form data.".into()));
                }
            }
            _ => {
                if sub.fields.insert(k, v).is_some() {
                    return Err(Error::Malformed("A field appears twice in the form data.".into()));
                }
            }
        }
    }
    Ok(sub)
}

/// `pairs` as `application/x-www-form-urlencoded` (UTF-8), for the form posts the collector sends itself
/// (Salesforce Web-to-Lead, Turnstile's siteverify); the inverse of what [`parse_form_data`] reads.
pub fn form_urlencode<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    pairs.iter().map(|(k, v)| [percent_encode(k.as_ref()), percent_encode(v.as_ref())].join("=")).collect::<Vec<_>>().join("&")
}

/// Percent-encodes everything but unreserved characters (RFC 3986), which is valid in a query and a form body.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One side of a form body's pair: unlike a query's (`address::pairs`), a broken escape or bytes that are
/// not UTF-8 refuse the whole body, since a visitor's own words would otherwise be stored altered.
fn percent_decode(s: &str) -> Result<String, Error> {
    let (bytes, broken) = crate::rules::address::unescape(s);
    if broken {
        return Err(Error::Malformed("The form data has a broken %-escape.".into()));
    }
    String::from_utf8(bytes).map_err(|_| Error::Malformed("The form data is not UTF-8.".into()))
}

/// Checks an `Idempotency-Key` header: 1 to 128 characters of letters, digits, `-` and `_` (what UUIDs and
/// the widget's hex keys are). The ledger keeps the first answer per form and key.
pub fn idempotency_key(header: &str) -> Result<String, Error> {
    let key = header.trim();
    if key.is_empty() || key.len() > 128 || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(Error::Malformed("The Idempotency-Key header must be 1 to 128 letters, digits, '-' or '_'.".into()));
    }
    Ok(key.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_collector_encodes_its_own_form_reader_reads_back() {
        let body = form_urlencode(&[("form", "newsletter"), ("email", "jürgen+tag@example.de"), ("message", "a&b=c 100% ~ok\n")]);
        let sub = parse_form_data(body.as_bytes()).unwrap();
        assert_eq!(sub.form, "newsletter");
        assert_eq!(sub.fields["email"], "jürgen+tag@example.de");
        assert_eq!(sub.fields["message"], "a&b=c 100% ~ok\n");
        assert!(body.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~%=&".contains(&b)), "{body}");
    }
    #[test]
    fn encodings() {
        assert_eq!(encoding(Some("application/json; charset=utf-8")).unwrap(), Encoding::Json);
        assert_eq!(encoding(Some("Application/X-WWW-Form-Urlencoded")).unwrap(), Encoding::Form);
        assert!(matches!(encoding(Some("text/plain")), Err(Error::UnsupportedMediaType)));
        assert!(matches!(encoding(None), Err(Error::UnsupportedMediaType)));
    }
    #[test]
    fn malformed_json_names_the_position() {
        match parse(Encoding::Json, b"{\"form\": ") {
            Err(Error::Malformed(m)) => assert!(m.contains("line 1"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(parse(Encoding::Json, &vec![b' '; MAX_BODY + 1]), Err(Error::TooLarge)));
        assert!(matches!(parse(Encoding::Json, br#"{"form": 3}"#), Err(Error::Malformed(_))));
    }
    #[test]
    fn form_data_maps_to_the_same_submission() {
        let s = parse(Encoding::Form, b"form=newsletter&email=ada%40example.com&first_name=J%C3%BCrgen+K&consent=marketing_email&_hp=&_lang=de").unwrap();
        assert_eq!(s.form, "newsletter");
        assert_eq!(s.fields["email"], "ada@example.com");
        assert_eq!(s.fields["first_name"], "Jürgen K");
        assert_eq!(s.consent, vec!["marketing_email"]);
        assert_eq!(s.meta.lang, Some(Lang::De));
        assert!(matches!(parse(Encoding::Form, b"email=%E"), Err(Error::Malformed(_))));
        assert!(matches!(parse(Encoding::Form, b"email=%zz@example.com"), Err(Error::Malformed(_))));
        assert!(matches!(parse(Encoding::Form, b"email=%ff@example.com"), Err(Error::Malformed(_))));
        assert!(matches!(parse(Encoding::Form, b"email=a&email=b"), Err(Error::Malformed(_))));
        let tagged = parse(Encoding::Form, b"form=newsletter&email=a%40b.de&utm_source=fair&utm_campaign=spring").unwrap();
        assert_eq!(tagged.meta.utm.get("source").map(String::as_str), Some("fair"));
        assert_eq!(tagged.meta.utm.get("campaign").map(String::as_str), Some("spring"));
        assert!(!tagged.fields.contains_key("utm_source"), "a tag is not a field");
        assert!(matches!(parse(Encoding::Form, b"utm_source=a&utm_source=b"), Err(Error::Malformed(_))));
    }
}
