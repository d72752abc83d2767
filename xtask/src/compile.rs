//! Building the two wasm artefacts: the widget bundle (one IIFE with the wasm inlined) and the edge Worker.

use crate::tools::{self, npm_bin, run, WASM_BINDGEN};
use crate::{root, Result};
use std::process::Command;

/// The widget bundle the edge embeds and serves.
pub fn widget_bundle() -> std::path::PathBuf {
    root().join("target/widget/leadgate.js")
}

/// wasm features Rust's wasm32 target emits by default; wasm-opt must be told, as wasm-bindgen drops the
/// target-features section it would otherwise read.
const WASM_FEATURES: &[&str] = &[
    "--enable-bulk-memory",
    "--enable-mutable-globals",
    "--enable-nontrapping-float-to-int",
    "--enable-sign-ext",
    "--enable-reference-types",
    "--enable-multivalue",
];

/// Builds the widget and the edge.
pub fn all() -> Result {
    widget()?;
    edge()
}

/// cargo (`widget` profile: size) -> wasm-bindgen (web target) -> wasm-opt -Oz -> esbuild (IIFE, wasm inlined).
pub fn widget() -> Result {
    tools::cargo(&["build", "-p", "widget", "--profile", "widget", "--target", "wasm32-unknown-unknown"])?;
    let pkg = root().join("target/widget/pkg");
    run(Command::new("wasm-bindgen").args(["--target", "web", "--no-typescript", "--out-name", "widget", "--out-dir"]).arg(&pkg).arg(
        root().join("target/wasm32-unknown-unknown/widget/widget.wasm"),
    ))?;
    let wasm = pkg.join("widget_bg.wasm");
    run(Command::new(npm_bin().join("wasm-opt")).arg("-Oz").args(WASM_FEATURES).arg(&wasm).arg("-o").arg(&wasm))?;
    run(Command::new(npm_bin().join("esbuild"))
        .arg(root().join("widget/js/entry.js"))
        .args(["--bundle", "--format=iife", "--minify", "--target=es2020", "--loader:.wasm=binary", "--log-level=warning"])
        .arg("--log-override:empty-import-meta=silent")
        .arg(format!("--outfile={}", widget_bundle().display())))
}

/// worker-build (release) with local wasm-bindgen, wasm-opt and esbuild, embedding the widget bundle.
pub fn edge() -> Result {
    let wasm_bindgen = which("wasm-bindgen").ok_or(format!("wasm-bindgen {WASM_BINDGEN} is not on PATH"))?;
    run(Command::new("worker-build")
        .arg("--release")
        .current_dir(root().join("edge"))
        .env("WASM_BINDGEN_BIN", wasm_bindgen)
        .env("WASM_OPT_BIN", npm_bin().join("wasm-opt"))
        .env("ESBUILD_BIN", npm_bin().join("esbuild"))
        .env("LEADGATE_WIDGET_JS", widget_bundle()))
    .or_else(|_| Err("building the edge failed (see above)".to_string()))
}

fn which(bin: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| std::env::split_paths(&paths).map(|p| p.join(bin)).find(|p| p.is_file()))
}
