//! Escaping text for HTML, for the form's markup, the widget's thank-you and the collector's own pages alike.

use alloc::string::String;

/// Appends `s` to `out` with `& < > " '` escaped, so it is safe as element content and as a quoted
/// attribute value.
pub fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
}

/// `s` escaped as by [`escape_into`].
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(&mut out, s);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::prelude::rust_2021::*;

    #[test]
    fn markup_and_quotes_are_neutralised_and_the_rest_kept() {
        assert_eq!(escape(r#"<a href="x" onclick='y'>Müller & Co</a>"#), "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;Müller &amp; Co&lt;/a&gt;");
        assert_eq!(escape("plain"), "plain");
    }
}
