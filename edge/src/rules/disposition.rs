//! The download gate's pure parts: the headers a gated file is served with.

/// `Content-Disposition` for a download named `filename`: an ASCII fallback for old clients plus the exact
/// UTF-8 name (RFC 6266 / RFC 8187), so "Leadgenerierung-E-Book für Einsteiger.pdf" arrives intact.
pub fn content_disposition(filename: &str) -> String {
    let fallback: String = filename.chars().map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' }).collect();
    let mut exact = String::new();
    for b in filename.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            exact.push(char::from(b));
        } else {
            exact.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{exact}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_arrive_intact_and_cannot_break_the_header() {
        assert_eq!(content_disposition("E-Book.pdf"), "attachment; filename=\"E-Book.pdf\"; filename*=UTF-8''E-Book.pdf");
        assert_eq!(
            content_disposition("Leitfaden für \"Profis\".pdf"),
            "attachment; filename=\"Leitfaden f_r _Profis_.pdf\"; filename*=UTF-8''Leitfaden%20f%C3%BCr%20%22Profis%22.pdf"
        );
        assert!(!content_disposition("a\r\nSet-Cookie: x").contains('\n'));
    }
}
