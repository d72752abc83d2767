//! Rules for free text: names, company, street, messages and web addresses.
//!
//! Unicode is welcome (Jürgen, Łukasz, 山田), control characters are not: they break CSV exports and CRMs,
//! and a CR/LF in a single-line field is how header injection into downstream mail systems starts.
//! Lengths are counted in characters, not bytes, so German and Polish names get the same room as English.

use alloc::{borrow::ToOwned, string::String};

use crate::Code;

/// Checks a single-line value and returns it trimmed.
pub fn single_line(raw: &str, max_chars: usize) -> Result<&str, Code> {
    let value = raw.trim();
    for c in value.chars() {
        if c == '\n' || c == '\r' || c == '\u{2028}' || c == '\u{2029}' {
            return Err(Code::LineBreak);
        }
        if c.is_control() {
            return Err(Code::ControlCharacter);
        }
    }
    within(value, max_chars)
}

/// Checks a multi-line value (line breaks and tabs allowed) and returns it trimmed.
pub fn multi_line(raw: &str, max_chars: usize) -> Result<&str, Code> {
    let value = raw.trim();
    if value.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err(Code::ControlCharacter);
    }
    within(value, max_chars)
}

/// Checks a web address typed by a person: `example.com`, `www.example.com/team` or with `http(s)://`.
/// Returns it with `https://` added when no scheme was given, which is what CRMs expect in a URL field.
pub fn web_address(raw: &str, max_chars: usize) -> Result<String, Code> {
    let value = single_line(raw, max_chars)?;
    // Found by bytes, not `split_once("://")`: a string searcher costs the widget 2 KB.
    let split = value.as_bytes().windows(3).position(|w| w == b"://").and_then(|i| Some((value.get(..i)?, value.get(i + 3..)?)));
    let (scheme, rest) = match split {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("http") => (Some(scheme), rest),
        Some(_) => return Err(Code::InvalidUrl),
        None => (None, value),
    };
    // The host ends at the path, query or fragment, and a port is cut off. Both are found by bytes: the
    // multi-character and reverse searchers of `split`/`rsplit_once` cost the widget 500 bytes.
    let host = rest.get(..rest.bytes().position(|b| matches!(b, b'/' | b'?' | b'#')).unwrap_or(rest.len())).unwrap_or("");
    let host = match host.bytes().rposition(|b| b == b':') {
        Some(i) if i + 1 < host.len() && host.bytes().skip(i + 1).all(|b| b.is_ascii_digit()) => host.get(..i).unwrap_or(host),
        _ => host,
    };
    // Dots and labels are found by bytes too: `contains` and `split` with a character bring memchr and the
    // character searcher, about 800 bytes.
    let host_ok = host.bytes().any(|b| b == b'.')
        && !host.starts_with('.')
        && !host.ends_with('.')
        && host.as_bytes().split(|b| *b == b'.').all(|l| !l.is_empty() && l.first() != Some(&b'-') && l.last() != Some(&b'-'))
        // Letters and digits of any script are allowed in internationalised names; beyond ASCII they are
        // taken as they come rather than looked up in Unicode's tables, which would cost the widget 3 KB.
        // Whitespace is refused below, control characters by the single-line rule before, and the
        // invisible characters a paste brings along (zero-width spaces and joiners, word joiner, BOM) here.
        && host.chars().all(|c| {
            (c.is_ascii_alphanumeric() || c == '-' || c == '.' || !c.is_ascii())
                && !matches!(c, '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}')
        });
    if !host_ok || rest.contains(char::is_whitespace) {
        return Err(Code::InvalidUrl);
    }
    Ok(match scheme {
        Some(_) => value.to_owned(),
        None => joined(&["https://", value]),
    })
}

/// Reads a decimal number as people type it: optional sign, digits, and at most one decimal point or
/// comma (German visitors write "2,5"). Exponents, `inf` and `NaN` are not numbers a form asks for.
///
/// Written by hand rather than with `str::parse::<f64>`, whose exact parser costs the widget 4 KB; the
/// value only decides whether a number is within a field's range, and the edge runs the same function.
pub fn decimal(value: &str) -> Option<f64> {
    // One sign, stripped char by char: a set of chars would bring a multi-character searcher.
    let digits = value.strip_prefix('+').or_else(|| value.strip_prefix('-')).unwrap_or(value);
    let (mut n, mut scale, mut seen_digit, mut seen_point) = (0f64, 1f64, false, false);
    for b in digits.bytes() {
        match b {
            b'0'..=b'9' => {
                n = n * 10.0 + f64::from(b - b'0');
                if seen_point {
                    scale *= 10.0;
                }
                seen_digit = true;
            }
            b'.' | b',' if !seen_point => seen_point = true,
            _ => return None,
        }
    }
    let n = n / scale;
    seen_digit.then_some(if value.starts_with('-') { -n } else { n })
}

fn within(value: &str, max_chars: usize) -> Result<&str, Code> {
    if prefix(value, max_chars).len() < value.len() {
        Err(Code::TooLong)
    } else {
        Ok(value)
    }
}

/// The first `max_chars` characters of `value`.
///
/// Characters are counted by their UTF-8 lead bytes, and counting stops early: a 30 KB paste into a
/// 100-character field costs 100 steps, not 30,000. (`chars().nth` would do the same with a chunked
/// counter of nearly 1 KB in the widget.)
pub fn prefix(value: &str, max_chars: usize) -> &str {
    let mut seen = 0;
    for (i, b) in value.bytes().enumerate() {
        if b & 0xC0 != 0x80 {
            if seen == max_chars {
                // `i` is where a character starts, so the slice always exists.
                return value.get(..i).unwrap_or(value);
            }
            seen += 1;
        }
    }
    value
}

/// `parts` one after the other. (`concat` and `join` bring a generic copier of 1 KB into the widget.)
pub fn joined(parts: &[&str]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        out.push_str(p);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::prelude::rust_2021::*;

    #[test]
    fn single_line_rules() {
        assert_eq!(single_line("  Jürgen  ", 10), Ok("Jürgen"));
        assert_eq!(single_line("山田", 2), Ok("山田"));
        assert_eq!(single_line("山田太", 2), Err(Code::TooLong));
        assert_eq!(single_line("Evil\r\nBcc: x@y.z", 100), Err(Code::LineBreak));
        assert_eq!(single_line("a\u{2028}b", 100), Err(Code::LineBreak));
        assert_eq!(single_line("nul\0byte", 100), Err(Code::ControlCharacter));
        assert_eq!(single_line("tab\there", 100), Err(Code::ControlCharacter));
    }

    #[test]
    fn multi_line_rules() {
        assert_eq!(multi_line("Hello,\r\nplease call.\n", 100), Ok("Hello,\r\nplease call."));
        assert_eq!(multi_line("bell\x07", 100), Err(Code::ControlCharacter));
        assert_eq!(multi_line(&"x".repeat(101), 100), Err(Code::TooLong));
    }

    #[test]
    fn prefixes_count_characters_not_bytes() {
        assert_eq!(prefix("Jürgen", 2), "Jü");
        assert_eq!(prefix("山田太郎", 3), "山田太");
        assert_eq!(prefix("abc", 3), "abc");
        assert_eq!(prefix("abc", 0), "");
        assert_eq!(prefix("", 5), "");
        assert_eq!(joined(&["a", "", "bc"]), "abc");
    }

    #[test]
    fn web_addresses() {
        assert_eq!(web_address("example.com", 200).as_deref(), Ok("https://example.com"));
        assert_eq!(web_address("http://www.example.com/team?x=1", 200).as_deref(), Ok("http://www.example.com/team?x=1"));
        assert_eq!(web_address("https://example.com:8443/", 200).as_deref(), Ok("https://example.com:8443/"));
        assert_eq!(web_address("bücher.de", 200).as_deref(), Ok("https://bücher.de"));
        assert_eq!(web_address("javascript://alert(1)", 200), Err(Code::InvalidUrl));
        assert_eq!(web_address("localhost", 200), Err(Code::InvalidUrl));
        assert_eq!(web_address("exa mple.com", 200), Err(Code::InvalidUrl));
        assert_eq!(web_address("-bad.com", 200), Err(Code::InvalidUrl));
        assert_eq!(web_address("山田.jp", 200).as_deref(), Ok("https://山田.jp"));
        for invisible in ["example.com\u{200B}", "exam\u{200D}ple.com", "\u{FEFF}example.com"] {
            assert_eq!(web_address(invisible, 200), Err(Code::InvalidUrl), "{invisible:?}");
        }
    }

    #[test]
    fn decimals_are_what_people_type() {
        assert_eq!(decimal("2,5"), Some(2.5));
        assert_eq!(decimal("-0.25"), Some(-0.25));
        assert_eq!(decimal(".5"), Some(0.5));
        for bad in ["", "-", ".", "1.2.3", "1,2.3", "1e3", "inf", "NaN", "1 000", "--1", "0x10"] {
            assert_eq!(decimal(bad), None, "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn a_prefix_is_the_first_characters(v in ".{0,30}", max in 0usize..35) {
            prop_assert_eq!(prefix(&v, max), v.chars().take(max).collect::<String>());
        }

        #[test]
        fn decimals_agree_with_the_standard_parser(s in "[+-]?[0-9]{1,15}([.,][0-9]{0,6})?") {
            let exact: f64 = s.replace(',', ".").parse().unwrap();
            let ours = decimal(&s).unwrap();
            prop_assert!((ours - exact).abs() <= exact.abs() * 1e-12, "{s}: {ours} vs {exact}");
        }

        #[test]
        fn accepted_single_lines_have_no_controls_and_fit(s in "\\PC{0,40}", max in 1usize..40) {
            if let Ok(v) = single_line(&s, max) {
                prop_assert!(v.chars().count() <= max);
                prop_assert!(!v.chars().any(char::is_control));
            }
        }
    }
}
