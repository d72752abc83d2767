//! Tells the edge where the widget bundle is, so the wasm build can embed it (`include_str!`).
//!
//! `cargo xtask build` builds the widget first and sets `LEADGATE_WIDGET_JS`; the default path is where it
//! puts the bundle. Native builds (unit tests) do not embed the widget, so they do not need it.

fn main() {
    let path = std::env::var("LEADGATE_WIDGET_JS").unwrap_or_else(|_| {
        let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
        format!("{manifest}/../target/widget/leadgate.js")
    });
    let wasm = std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32");
    if wasm && !std::path::Path::new(&path).exists() {
        panic!("the widget bundle {path} is missing: build with `cargo xtask build`, which builds the widget first");
    }
    println!("cargo:rustc-env=LEADGATE_WIDGET_JS={path}");
    println!("cargo:rerun-if-env-changed=LEADGATE_WIDGET_JS");
    println!("cargo:rerun-if-changed={path}");
}
