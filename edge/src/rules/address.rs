//! A request's address read from the runtime's URL text: its origin, its path and its query pairs, and the
//! origin of a URL a visitor names.
//!
//! Why not the `url` crate: parsing a host the WHATWG way needs IDNA, and IDNA brings Unicode tables that
//! made up a sizeable part of the Worker every cold start loads. Nothing here needs them: the runtime
//! hands each request its URL already parsed and serialized (an ASCII host, a percent-encoded path and
//! query, no default port), so what is left is to cut that text at the right places. A URL a visitor names
//! (a page to link back to) is only ever compared with origins, and one whose host is not plain ASCII is
//! simply not an allowed origin.

use shared::form::{is_web_url, normalize_origin};

/// The parts of an absolute URL as the runtime serializes a request's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Address<'u> {
    /// `scheme://host[:port]`.
    pub origin: &'u str,
    /// From the first `/` after the host, percent-encoded as received; `/` when the URL has none.
    pub path: &'u str,
    /// After the `?`, without the fragment; empty when there is none.
    pub query: &'u str,
}

impl<'u> Address<'u> {
    /// Cuts `url` (`scheme://host[:port][/path][?query][#fragment]`) into its parts.
    pub fn of(url: &'u str) -> Self {
        let url = url.split_once('#').map_or(url, |(before, _)| before);
        let (before, query) = url.split_once('?').unwrap_or((url, ""));
        let host_start = before.find("://").map_or(0, |i| i + 3);
        let (origin, path) = match before.get(host_start..).and_then(|rest| rest.find('/')) {
            Some(slash) => before.split_at(host_start + slash),
            None => (before, "/"),
        };
        Address { origin, path, query }
    }

    /// The query's pairs, decoded as a browser encodes a form (see [`pairs`]).
    pub fn pairs(&self) -> Vec<(String, String)> {
        pairs(self.query)
    }

    /// The first value of the query parameter `name`.
    pub fn param(&self, name: &str) -> Option<String> {
        self.pairs().into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

/// The origin (`scheme://host[:port]`, lower-cased, without a default port) of an absolute http(s) URL, as
/// the `Origin` header would name it; `None` for anything else, including user info (`https://a@b`), whose
/// origin a reader could mistake.
pub fn origin_of(url: &str) -> Option<String> {
    if !is_web_url(url) {
        return None;
    }
    let host_start = url.find("://")? + 3;
    let rest = url.get(host_start..)?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    normalize_origin(url.get(..host_start + end)?).ok()
}

/// `application/x-www-form-urlencoded` pairs (`a=1&b=two+words`): `+` is a space and `%XX` a byte. Like
/// a browser, it never fails: a broken escape stays as written and bytes that are not UTF-8 become U+FFFD.
pub fn pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// One side of a pair, decoded leniently.
fn decode(s: &str) -> String {
    let (bytes, _) = unescape(s);
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// The bytes of one side of an `application/x-www-form-urlencoded` pair: `+` is a space and `%XX` a byte;
/// a `%` without two hex digits is kept as written. The flag says whether there was such a broken escape,
/// for readers that refuse it (`intake`'s form bodies) rather than keep it (a query).
pub fn unescape(s: &str) -> (Vec<u8>, bool) {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut broken = false;
    let mut i = 0;
    let hex = |j: usize| bytes.get(j).and_then(|&c| char::from(c).to_digit(16));
    while let Some(&b) = bytes.get(i) {
        match (b, hex(i + 1), hex(i + 2)) {
            (b'+', _, _) => out.push(b' '),
            (b'%', Some(hi), Some(lo)) => {
                // Two hex digits make one byte: `hi * 16 + lo` is at most 255.
                out.push(u8::try_from(hi * 16 + lo).unwrap_or(u8::MAX));
                i += 2;
            }
            (b'%', _, _) => {
                broken = true;
                out.push(b);
            }
            _ => out.push(b),
        }
        i += 1;
    }
    (out, broken)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_url_is_cut_into_origin_path_and_query() {
        let a = Address::of("https://collector.example.com:8443/v1/admin/leads?form=news&limit=5#top");
        assert_eq!(a, Address { origin: "https://collector.example.com:8443", path: "/v1/admin/leads", query: "form=news&limit=5" });
        assert_eq!(Address::of("http://127.0.0.1:8787"), Address { origin: "http://127.0.0.1:8787", path: "/", query: "" });
        assert_eq!(Address::of("http://h/?x"), Address { origin: "http://h", path: "/", query: "x" });
        // A `?` or `#` in the query or path is taken where it first stands, as the URL standard does.
        assert_eq!(Address::of("http://h/a%3Fb?c=?d#e?f").path, "/a%3Fb");
        assert_eq!(Address::of("http://h/a%3Fb?c=?d#e?f").query, "c=?d");
    }

    #[test]
    fn query_pairs_decode_like_a_browser_and_never_fail() {
        assert_eq!(
            pairs("a=1&b=two+words&&c&d=%C3%A4%2B"),
            [("a", "1"), ("b", "two words"), ("c", ""), ("d", "ä+")].map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        // Broken escapes stay as written; bytes that are not UTF-8 become U+FFFD.
        assert_eq!(pairs("x=%zz%4&y=%ff"), [("x", "%zz%4"), ("y", "\u{fffd}")].map(|(k, v)| (k.to_owned(), v.to_owned())));
        let a = Address::of("http://h/p?cursor=a%26b&cursor=2");
        assert_eq!(a.param("cursor").as_deref(), Some("a&b"));
        assert_eq!(a.param("missing"), None);
        assert_eq!(unescape("a+%41%zz%4"), (b"a A%zz%4".to_vec(), true));
        assert_eq!(unescape("%C3%A4+%2B"), ("ä +".as_bytes().to_vec(), false));
    }

    #[test]
    fn only_plain_web_urls_have_an_origin() {
        assert_eq!(origin_of("https://Shop.Example.com/landing?x=1").as_deref(), Some("https://shop.example.com"));
        assert_eq!(origin_of("http://localhost:80/").as_deref(), Some("http://localhost"));
        assert_eq!(origin_of("https://shop.example.com:8443#x").as_deref(), Some("https://shop.example.com:8443"));
        assert_eq!(origin_of("http://[::1]:8787/page").as_deref(), Some("http://[::1]:8787"));
        for bad in [
            "https://good.example@evil.example/",
            "https://good.example\\@evil.example/",
            "javascript:alert(1)",
            "//evil.example/",
            "/relative",
            "https://exämple.de/",
            "https://good.example:99999/",
            "https:// evil.example/",
        ] {
            assert_eq!(origin_of(bad), None, "{bad}");
        }
    }
}
