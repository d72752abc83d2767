//! The email rule: exactly what a browser's `<input type=email>` accepts, plus RFC 5321's length limits.
//!
//! Browsers validate email fields with the WHATWG "valid email address" production. The collector must
//! judge the same way, or a visitor sees a valid field and gets a rejection. We follow that production
//! byte for byte (ASCII only; IP literals, quoted local parts and raw Unicode domains are rejected, as in
//! Chromium) and add what browsers do not check but mail servers do: a local part of at most 64 and an
//! address of at most 254 characters. Those get their own code, [`Code::TooLong`], so the form can say why.
//! Likewise a domain without a dot (`name@localhost`) is valid to browsers but unreachable from the public
//! internet: it gets [`Code::EmailDomainIncomplete`].

use alloc::{borrow::ToOwned, string::String};

use crate::Code;
use alloc::borrow::Cow;

/// The longest local part (before the `@`) that RFC 5321 allows.
pub const MAX_LOCAL: usize = 64;
/// The longest address RFC 5321 allows in a path (256 minus the angle brackets).
pub const MAX_ADDRESS: usize = 254;
/// The longest label (between dots) of a domain; browsers enforce it, so it is a syntax rule here.
const MAX_LABEL: usize = 63;

/// Cleans a raw value the way a browser sanitises an email input: line breaks removed anywhere, then
/// leading and trailing ASCII whitespace trimmed. Borrows when nothing changes.
pub fn sanitize(raw: &str) -> Cow<'_, str> {
    // By bytes: a line break is one byte, and `trim_ascii` trims exactly the WHATWG's ASCII whitespace (tab,
    // line feed, form feed, carriage return, space). The character searchers of `contains` and
    // `trim_matches` would cost the widget 600 bytes.
    let line_break = |c: char| c == '\n' || c == '\r';
    if raw.bytes().any(|b| b == b'\n' || b == b'\r') {
        Cow::Owned(raw.chars().filter(|c| !line_break(*c)).collect::<String>().trim_ascii().to_owned())
    } else {
        Cow::Borrowed(raw.trim_ascii())
    }
}

/// Checks a sanitised address: `Err(InvalidEmail)` where the browser would reject it, `Err(TooLong)` where the
/// browser accepts it but RFC 5321 does not, `Err(EmailDomainIncomplete)` where the browser accepts it but
/// the domain has no dot. The empty string is invalid (emptiness is the caller's
/// "required" question, asked first).
pub fn check(address: &str) -> Result<(), Code> {
    let bytes = address.as_bytes();
    let Some(at) = bytes.iter().position(|&b| b == b'@') else {
        return Err(Code::InvalidEmail);
    };
    // `get` rather than indexing: the widget then links no panic with its message (and `at + 1` is in range).
    let (Some(local), Some(domain)) = (bytes.get(..at), bytes.get(at + 1..)) else {
        return Err(Code::InvalidEmail);
    };
    if local.is_empty() || !local.iter().all(|&b| is_local_byte(b)) || !is_domain(domain) {
        return Err(Code::InvalidEmail);
    }
    if local.len() > MAX_LOCAL || bytes.len() > MAX_ADDRESS {
        return Err(Code::TooLong);
    }
    // Not `contains`, whose memchr costs the widget 400 bytes.
    #[allow(clippy::manual_contains)]
    let dotted = domain.iter().any(|b| *b == b'.');
    if !dotted {
        return Err(Code::EmailDomainIncomplete);
    }
    Ok(())
}

/// A sender as mail APIs want it split: `Beispiel GmbH <news@beispiel.de>` is the name and the address,
/// `news@beispiel.de` the address alone; `None` when the address fails [`check`].
pub fn sender(from: &str) -> Option<(Option<&str>, &str)> {
    let from = from.trim();
    let (name, address) = match from.strip_suffix('>').and_then(|f| f.rsplit_once('<')) {
        Some((name, address)) => (Some(name.trim().trim_matches('"').trim()).filter(|n| !n.is_empty()), address.trim()),
        None => (None, from),
    };
    check(address).ok().map(|()| (name, address))
}

/// Sanitises and checks in one go, returning the address to store.
pub fn normalize(raw: &str) -> Result<Cow<'_, str>, Code> {
    let value = sanitize(raw);
    check(&value)?;
    Ok(value)
}

/// The characters WHATWG allows before the `@` (the "atext" of RFC 5322 plus the dot, without quoting).
fn is_local_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b".!#$%&'*+/=?^_`{|}~-".contains(&b)
}

/// One or more labels separated by single dots; each label 1 to 63 letters, digits or hyphens, neither
/// starting nor ending with a hyphen. A second `@` fails here because `@` is not a label byte.
fn is_domain(domain: &[u8]) -> bool {
    !domain.is_empty() && domain.split(|&b| b == b'.').all(is_label)
}

fn is_label(label: &[u8]) -> bool {
    match (label.first(), label.last()) {
        (Some(first), Some(last)) => {
            label.len() <= MAX_LABEL
                && first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && label.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'-')
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sender_splits_into_name_and_address() {
        assert_eq!(sender("Beispiel GmbH <news@beispiel.de>"), Some((Some("Beispiel GmbH"), "news@beispiel.de")));
        assert_eq!(sender(" \"Ada, Inc.\" <ada@example.com> "), Some((Some("Ada, Inc."), "ada@example.com")));
        assert_eq!(sender("news@beispiel.de"), Some((None, "news@beispiel.de")));
        assert_eq!(sender("<news@beispiel.de>"), Some((None, "news@beispiel.de")));
        assert_eq!(sender("Beispiel GmbH"), None);
        assert_eq!(sender("Beispiel <news@>"), None);
    }
    use proptest::prelude::*;
    use std::format;
    use std::prelude::rust_2021::*;

    #[test]
    fn table() {
        let cases: &[(&str, Result<(), Code>)] = &[
            ("name@example.com", Ok(())),
            ("a@b", Err(Code::EmailDomainIncomplete)),
            ("someone@localhost", Err(Code::EmailDomainIncomplete)),
            ("a@b.c", Ok(())),
            ("first.last+tag@sub.example.co.uk", Ok(())),
            ("x!#$%&'*+/=?^_`{|}~-@example.com", Ok(())),
            (".leading.dot@example.com", Ok(())), // WHATWG is laxer than RFC 5322 here, and so are we.
            ("double..dot@example.com", Ok(())),
            ("a@1.2.3.4", Ok(())),
            ("a@xn--bcher-kva.de", Ok(())),
            ("", Err(Code::InvalidEmail)),
            ("@example.com", Err(Code::InvalidEmail)),
            ("name@", Err(Code::InvalidEmail)),
            ("name@@example.com", Err(Code::InvalidEmail)),
            ("name@exa mple.com", Err(Code::InvalidEmail)),
            ("\"quoted\"@example.com", Err(Code::InvalidEmail)),
            ("name@[127.0.0.1]", Err(Code::InvalidEmail)),
            ("name@bücher.de", Err(Code::InvalidEmail)),
            ("jörg@example.com", Err(Code::InvalidEmail)),
            ("name@-example.com", Err(Code::InvalidEmail)),
            ("name@example-.com", Err(Code::InvalidEmail)),
            ("name@example..com", Err(Code::InvalidEmail)),
            ("name@example.com.", Err(Code::InvalidEmail)),
            ("name@.example.com", Err(Code::InvalidEmail)),
        ];
        for (input, expected) in cases {
            assert_eq!(check(input), *expected, "{input:?}");
        }
    }

    #[test]
    fn length_limits_get_their_own_code() {
        let local64 = "a".repeat(64);
        assert_eq!(check(&format!("{local64}@example.com")), Ok(()));
        assert_eq!(check(&format!("{local64}a@example.com")), Err(Code::TooLong));
        // 254 characters in all is the limit; labels stay within 63 so only the total is at stake.
        let domain = format!("{}.{}.{}.{}", "b".repeat(63), "c".repeat(63), "d".repeat(63), "e".repeat(60));
        let at_limit = format!("a@{domain}");
        assert_eq!(at_limit.len(), 254);
        assert_eq!(check(&at_limit), Ok(()));
        assert_eq!(check(&format!("aa@{domain}")), Err(Code::TooLong));
        // A 64-character label is a browser rule, so it is invalid, not "too long".
        assert_eq!(check(&format!("a@{}.de", "b".repeat(64))), Err(Code::InvalidEmail));
    }

    #[test]
    fn sanitising_matches_the_browser() {
        assert_eq!(sanitize("  name@example.com\t"), "name@example.com");
        assert_eq!(sanitize("na\nme@exa\r\nmple.com"), "name@example.com");
        assert!(matches!(sanitize("name@example.com"), Cow::Borrowed(_)));
        // Non-breaking spaces are not ASCII whitespace: the browser keeps them, so the address is invalid.
        assert_eq!(normalize("\u{a0}name@example.com"), Err(Code::InvalidEmail));
        assert_eq!(normalize(" name@example.com ").unwrap(), "name@example.com");
    }

    proptest! {
        #[test]
        fn generated_valid_addresses_pass(local in "[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}",
                                          labels in proptest::collection::vec("[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", 2..4)) {
            let address = format!("{local}@{}", labels.join("."));
            prop_assume!(address.len() <= MAX_ADDRESS);
            prop_assert_eq!(check(&address), Ok(()));
        }

        #[test]
        fn never_panics_and_rejects_anything_without_an_at(s in "\\PC{0,80}") {
            let verdict = check(&s);
            if !s.contains('@') {
                prop_assert_eq!(verdict, Err(Code::InvalidEmail));
            }
        }

        #[test]
        fn non_ascii_is_always_rejected(local in "[a-z]{1,10}", c in "[^\\x00-\\x7f]") {
            let address = format!("{local}{c}@example.com");
            prop_assert_eq!(check(&address), Err(Code::InvalidEmail));
        }
    }
}
