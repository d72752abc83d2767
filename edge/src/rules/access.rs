//! The admin API's access rule: a Bearer token compared in constant time; no token configured, no admin API.

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
    fn limits() {
        assert_eq!(page_limit(None).unwrap(), 50);
        assert_eq!(page_limit(Some("100")).unwrap(), 100);
        assert!(page_limit(Some("0")).is_err());
        assert!(page_limit(Some("1000")).is_err());
    }
}
