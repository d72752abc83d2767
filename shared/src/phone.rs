//! The phone rule: what people really type (`+49 (0)171 234-5678`, `0171/2345678`), normalised to one form.
//!
//! We accept digits with an optional leading `+` (or `00`), and spaces, dashes, slashes, dots and parentheses
//! as separators. The canonical form keeps only the digits with the `+` for international numbers, which is
//! what CRMs match on. A `(0)` trunk prefix after a country code is dropped (German practice).

use alloc::string::String;

use crate::Code;

/// Fewer digits than this is not a reachable number anywhere.
pub const MIN_DIGITS: usize = 6;
/// E.164 allows at most 15 digits.
pub const MAX_DIGITS: usize = 15;

/// Checks and normalises a phone number: `+4917123456789` for international, `017123456789` for national.
pub fn normalize(raw: &str) -> Result<String, Code> {
    let value = raw.trim();
    // "(0)" after an international prefix is a trunk prefix that must not be dialled from abroad.
    let without_trunk;
    // Found by bytes, not `contains("(0)")`: a string searcher costs the widget 2 KB.
    let trunk = value.as_bytes().windows(3).position(|w| w == b"(0)");
    let value = match trunk {
        Some(i) if value.starts_with('+') || value.starts_with("00") => {
            without_trunk = crate::text::joined(&[value.get(..i).unwrap_or_default(), value.get(i + 3..).unwrap_or_default()]);
            without_trunk.as_str()
        }
        _ => value,
    };
    let mut out = String::with_capacity(value.len());
    for (i, c) in value.char_indices() {
        match c {
            '0'..='9' => out.push(c),
            '+' if i == 0 => out.push('+'),
            ' ' | '-' | '/' | '.' | '(' | ')' => {}
            _ => return Err(Code::InvalidPhone),
        }
    }
    if let Some(rest) = out.strip_prefix("00") {
        out = crate::text::joined(&["+", rest]);
    }
    let digits = out.trim_start_matches('+').len();
    if digits < MIN_DIGITS {
        Err(Code::PhoneTooShort)
    } else if digits > MAX_DIGITS {
        Err(Code::PhoneTooLong)
    } else {
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::format;
    use std::prelude::rust_2021::*;

    #[test]
    fn table() {
        let ok: &[(&str, &str)] = &[
            ("+49 171 2345678", "+491712345678"),
            ("+49 (0)171 234-5678", "+491712345678"),
            ("0049 171 2345678", "+491712345678"),
            ("0171/2345678", "01712345678"),
            ("(030) 123 456", "030123456"),
            ("  089.12345678 ", "08912345678"),
        ];
        for (raw, want) in ok {
            assert_eq!(normalize(raw).as_deref(), Ok(*want), "{raw:?}");
        }
        let bad: &[(&str, Code)] = &[
            ("0171 CALL ME", Code::InvalidPhone),
            ("49+171", Code::InvalidPhone),
            ("+49 171\n234", Code::InvalidPhone),
            ("12345", Code::PhoneTooShort),
            ("+1234567890123456", Code::PhoneTooLong),
            ("", Code::PhoneTooShort),
        ];
        for (raw, code) in bad {
            assert_eq!(normalize(raw), Err(*code), "{raw:?}");
        }
    }

    proptest! {
        #[test]
        fn canonical_form_is_a_fixed_point(s in "\\+?[0-9 ()/.-]{0,30}") {
            if let Ok(once) = normalize(&s) {
                prop_assert_eq!(normalize(&once), Ok(once.clone()));
                prop_assert!(once.trim_start_matches('+').bytes().all(|b| b.is_ascii_digit()));
            }
        }

        #[test]
        fn letters_are_always_rejected(prefix in "[0-9]{3,8}", letter in "[a-zA-Z]") {
            prop_assert_eq!(normalize(&format!("{prefix}{letter}")), Err(Code::InvalidPhone));
        }
    }
}
