//! The admin API's access rule: a Bearer token compared in constant time (the catch-all `ADMIN_TOKEN`, or a
//! person's named one from `ADMIN_TOKENS`, which the audit trail names); no token configured, no admin API.

use crate::error::{Credential, Error};

/// The shortest admin token the collector accepts: shorter ones can be guessed, and a deployment with one
/// answers admin requests with a `misconfigured` error instead.
pub const MIN_TOKEN_CHARS: usize = 32;

/// Checks the `Authorization` header against the configured token; a refusal asks for `credential`.
pub fn authorize(header: Option<&str>, token: Option<&str>, credential: Credential) -> Result<(), Error> {
    let token = token.filter(|t| !t.is_empty()).ok_or(Error::Unauthorized(credential))?;
    let given = header.and_then(|h| h.strip_prefix("Bearer ")).ok_or(Error::Unauthorized(credential))?;
    if crate::rules::digest::same(given.trim().as_bytes(), token.as_bytes()) {
        Ok(())
    } else {
        Err(Error::Unauthorized(credential))
    }
}

/// The name the audit trail gives who holds `ADMIN_TOKEN`.
pub const ADMIN: &str = "admin";
/// What the name of a viewer (a token of `VIEWER_TOKENS`, which reads the admin API and changes nothing)
/// starts with where a request's actor is named.
pub const VIEWER: &str = "viewer:";
/// The name the audit trail gives the config file, whose deploys seed and publish forms.
pub const FILE: &str = "file";

/// The named admin tokens of `ADMIN_TOKENS`: `name=token` entries, one per line or separated by commas
/// (blank ones ignored; a `.dev.vars` value is one line), so the audit
/// trail can say which person changed a form. Names are slugs other than `admin` and `file` (the catch-all
/// token's and the config file's), tokens at least [`MIN_TOKEN_CHARS`] long; a line that breaks these is
/// refused with its number (never its token), as is a name or a token given twice.
pub fn named_tokens(secret: &str) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (i, line) in secret.split(['\n', ',']).enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let n = i + 1;
        let (name, token) = line.split_once('=').ok_or(format!("entry {n} is not name=token"))?;
        let (name, token) = (name.trim(), token.trim());
        if !shared::form::is_slug(name) || name == ADMIN || name == FILE {
            return Err(format!("entry {n}: the name must be a slug (lowercase letters, digits, '-', '_') other than admin and file"));
        }
        if token.chars().count() < MIN_TOKEN_CHARS {
            return Err(format!("entry {n}: {name}'s token is shorter than {MIN_TOKEN_CHARS} characters"));
        }
        if out.iter().any(|(other, t)| other == name || t == token) {
            return Err(format!("entry {n}: {name} or its token is given twice"));
        }
        out.push((name.to_owned(), token.to_owned()));
    }
    Ok(out)
}

/// Who the `Authorization` header names: `admin` for `token`, a name for one of `named` (each compared in
/// constant time), or a refusal asking for the admin token.
pub fn admin_named(header: Option<&str>, token: Option<&str>, named: &[(String, String)]) -> Result<String, Error> {
    if authorize(header, token, Credential::AdminToken).is_ok() {
        return Ok(ADMIN.to_owned());
    }
    named
        .iter()
        .find(|(_, t)| authorize(header, Some(t), Credential::AdminToken).is_ok())
        .map(|(name, _)| name.clone())
        .ok_or(Error::Unauthorized(Credential::AdminToken))
}

/// Reads `limit` from a query: 1 to 100, default 50.
pub fn page_limit(raw: Option<&str>) -> Result<u64, Error> {
    match raw {
        None => Ok(50),
        Some(v) => match v.parse::<u64>() {
            Ok(n @ 1..=100) => Ok(n),
            _ => Err(Error::Malformed("`limit` must be a number from 1 to 100.".into())),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        assert!(authorize(Some("Bearer s3cret"), Some("s3cret"), Credential::AdminToken).is_ok());
        assert!(authorize(Some("Bearer s3cre"), Some("s3cret"), Credential::AdminToken).is_err());
        assert!(authorize(Some("Bearer s3cret1"), Some("s3cret"), Credential::AdminToken).is_err());
        assert!(authorize(Some("s3cret"), Some("s3cret"), Credential::AdminToken).is_err());
        assert!(authorize(None, Some("s3cret"), Credential::AdminToken).is_err());
        assert!(authorize(Some("Bearer "), Some(""), Credential::AdminToken).is_err(), "no token configured disables admin");
        assert!(authorize(Some("Bearer x"), None, Credential::AdminToken).is_err());
    }

    #[test]
    fn named_tokens_say_who_and_are_checked_like_the_admin_token() {
        let anna = "a".repeat(32);
        let ben = "b".repeat(40);
        let named = named_tokens(&format!("anna={anna}\n\n ben = {ben} \n")).unwrap();
        assert_eq!(named_tokens(&format!("anna={anna},ben={ben}")).unwrap(), named, "commas separate entries too");
        assert_eq!(named, [("anna".to_owned(), anna.clone()), ("ben".to_owned(), ben.clone())]);
        let who = |h: &str| admin_named(Some(h), Some("the-admin-token"), &named);
        assert_eq!(who("Bearer the-admin-token").unwrap(), "admin");
        assert_eq!(who(&format!("Bearer {ben}")).unwrap(), "ben");
        assert!(who(&format!("Bearer {anna}x")).is_err());
        assert_eq!(admin_named(Some(&format!("Bearer {anna}")), None, &named).unwrap(), "anna", "named tokens work without the catch-all one");
        for (bad, says) in [
            (format!("anna {anna}"), "entry 1 is not name=token"),
            (format!("admin={anna}"), "other than admin and file"),
            (format!("Anna={anna}"), "must be a slug"),
            ("anna=short".to_owned(), "shorter than 32"),
            (format!("anna={anna}\nanna={ben}"), "given twice"),
            (format!("anna={anna}\nben={anna}"), "given twice"),
        ] {
            let e = named_tokens(&bad).unwrap_err();
            assert!(e.contains(says) && !e.contains(&anna), "{bad}: {e}");
        }
    }

    #[test]
    fn limits() {
        assert_eq!(page_limit(None).unwrap(), 50);
        assert_eq!(page_limit(Some("100")).unwrap(), 100);
        assert!(page_limit(Some("0")).is_err());
        assert!(page_limit(Some("1000")).is_err());
    }
}
