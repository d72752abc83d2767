//! Tells the edge where the widget bundle is, so the operator's build can embed it (`include_str!`) and the
//! collector's can name it among the static assets (`LEADGATE_WIDGET_ASSET`), and writes
//! the OpenAPI description without its indentation for the bundle to serve.
//!
//! `cargo xtask build` builds the widget first and sets `LEADGATE_WIDGET_JS`; the default path is where it
//! puts the bundle. Native builds (unit tests) do not embed the widget, so they do not need it.

/// `json` without the whitespace between its tokens (strings, and escapes in them, are kept as they are).
/// The description is edited by hand, indented; served, the indentation would be a third of its bytes.
fn compact(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if !c.is_ascii_whitespace() {
            in_string = c == '"';
            out.push(c);
        }
    }
    out
}

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let openapi = std::fs::read_to_string(format!("{manifest}/openapi.json")).expect("edge/openapi.json is readable");
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    std::fs::write(format!("{out}/openapi.json"), compact(&openapi)).expect("OUT_DIR is writable");
    println!("cargo:rerun-if-changed=openapi.json");

    let path = std::env::var("LEADGATE_WIDGET_JS").unwrap_or_else(|_| format!("{manifest}/../target/widget/leadgate.js"));
    let wasm = std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32");
    if wasm && !std::path::Path::new(&path).exists() {
        panic!("the widget bundle {path} is missing: build with `cargo xtask build`, which builds the widget first");
    }
    println!("cargo:rustc-env=LEADGATE_WIDGET_JS={path}");
    // The collector reads the loader from the static assets, where `cargo xtask build` writes it under the
    // first 16 hex digits of its SHA-256 (as it names the module): the same name, computed from the same bytes.
    let asset = std::fs::read(&path).map(|bytes| {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(&bytes);
        let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        format!("/w/{hex}.js")
    });
    println!("cargo:rustc-env=LEADGATE_WIDGET_ASSET={}", asset.unwrap_or_default());
    println!("cargo:rerun-if-env-changed=LEADGATE_WIDGET_JS");
    println!("cargo:rerun-if-changed={path}");
}
