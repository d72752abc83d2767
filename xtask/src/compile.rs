//! Building the wasm artefacts: the widget bundle (one IIFE with the wasm inlined) and the edge's two
//! Workers, the collector and the operator.

use crate::tools::{self, npm_bin, run, WASM_BINDGEN};
use crate::{root, Result};
use std::process::Command;

/// The widget bundle the edge embeds and serves.
pub fn widget_bundle() -> std::path::PathBuf {
    root().join("target/widget/leadgate.js")
}

/// The widget's optimised wasm module, which the bundle inlines.
pub fn widget_wasm() -> std::path::PathBuf {
    root().join("target/widget/pkg/widget_bg.wasm")
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

/// Builds what is older than its sources, for `cargo xtask dev`: a restart with nothing changed then starts
/// the collector in seconds instead of re-running wasm-opt on the edge. (`test` and `build` always build.)
pub fn changed() -> Result {
    let recipe = ["Cargo.toml", "Cargo.lock", "package-lock.json", "xtask/src/compile.rs"];
    if newest(&[&["widget", "shared"][..], &recipe[..]].concat()) > modified(&widget_bundle()) {
        widget()?;
    } else {
        println!("widget is up to date");
    }
    let edge_out = edge_dir(OPERATOR).join("index.js");
    let bundle = widget_bundle();
    let bundle = bundle.to_string_lossy();
    if newest(&[&["edge/src", "edge/Cargo.toml", "edge/build.rs", "shared", &bundle][..], &recipe[..]].concat()) > modified(&edge_out) {
        edge()?;
    } else {
        println!("edge is up to date");
    }
    Ok(())
}

/// When `path` was last modified; the epoch when it does not exist, so a missing output is always stale.
fn modified(path: &std::path::Path) -> std::time::SystemTime {
    std::fs::metadata(path).and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH)
}

/// The newest modification time of the files under `paths` (relative to the root), skipping build output.
fn newest(paths: &[&str]) -> std::time::SystemTime {
    fn walk(path: &std::path::Path, newest: &mut std::time::SystemTime) {
        let t = modified(path);
        if path.is_dir() {
            let skip = path.file_name().is_some_and(|n| n == "target" || n == "build" || n == "node_modules");
            for entry in std::fs::read_dir(path).into_iter().flatten().flatten().filter(|_| !skip) {
                walk(&entry.path(), newest);
            }
        } else if t > *newest {
            *newest = t;
        }
    }
    let mut out = std::time::UNIX_EPOCH;
    for p in paths {
        walk(&root().join(p), &mut out);
    }
    out
}

/// cargo (`widget` profile: size) -> wasm-bindgen (web target) -> wasm-opt -Oz -> esbuild (IIFE) -> the wasm
/// inlined as a string literal.
pub fn widget() -> Result {
    tools::cargo(&["build", "-p", "widget", "--profile", "widget", "--features", "bundle", "--target", "wasm32-unknown-unknown"])?;
    let pkg = root().join("target/widget/pkg");
    // `--encode-into always`: every browser the bundle targets (ES2020) has `TextEncoder.encodeInto`, so the
    // glue needs no fallback for it.
    run(Command::new("wasm-bindgen")
        .args(["--target", "web", "--no-typescript", "--encode-into", "always", "--out-name", "widget", "--out-dir"])
        .arg(&pkg)
        .arg(root().join("target/wasm32-unknown-unknown/widget/widget.wasm")))?;
    let wasm = widget_wasm();
    // `--converge` repeats -Oz while it still shrinks the module; the two custom sections only name the
    // tools and features that built it, which no browser reads.
    run(Command::new(npm_bin().join("wasm-opt"))
        .args(["-Oz", "--converge", "--strip-producers", "--strip-target-features"])
        .args(WASM_FEATURES)
        .arg(&wasm)
        .arg("-o")
        .arg(&wasm))?;
    // No legal comments: esbuild would keep every file's `//!` header line as one.
    run(Command::new(npm_bin().join("esbuild"))
        .arg(root().join("widget/js/entry.js"))
        .args(["--bundle", "--format=iife", "--minify", "--legal-comments=none", "--target=es2020", "--log-level=warning"])
        .arg("--log-override:empty-import-meta=silent")
        .arg(format!("--outfile={}", widget_bundle().display())))?;
    let bundle = std::fs::read_to_string(widget_bundle()).map_err(|e| e.to_string())?;
    if bundle.matches(WASM_PLACEHOLDER).count() != 1 {
        return Err(format!("{}: expected {WASM_PLACEHOLDER} exactly once after bundling", widget_bundle().display()));
    }
    let bytes = std::fs::read(&wasm).map_err(|e| e.to_string())?;
    std::fs::write(widget_bundle(), bundle.replace(WASM_PLACEHOLDER, &byte_literal(&bytes))).map_err(|e| e.to_string())
}

/// The name in `widget/js/entry.js` that stands for the wasm module until the build puts it there.
const WASM_PLACEHOLDER: &str = "LEADGATE_WASM";

/// `bytes` as a JavaScript template literal with one character (U+0000 to U+00FF) per byte, which the
/// entry turns back into bytes with `charCodeAt`.
///
/// Why not base64 (what bundlers do): measured on the widget, brotli of the base64 text is 12.6 KB larger
/// than brotli of the raw module, while this form costs about 0.5 KB more, because its bytes stay aligned
/// with the module's. Why a template literal rather than a quoted string: it holds line feeds, quotes and
/// NUL bytes as they are, which a wasm module is full of (a quoted string escaped about 2,800 NULs, 560
/// quotes and 170 line feeds of the widget, 0.5 KB brotli). Escaped are only what would end or change it:
/// backslash, backtick, the `$` of `${`, and CR (which a template literal would read as a line feed); and
/// the `/` of `</`, so the script could be inlined into an HTML page without ending its `<script>`. (NUL
/// stays raw: the embed script is served as a file, where it is an ordinary character.)
pub fn byte_literal(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 9 / 8 + 2);
    out.push('`');
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'`' => out.push_str("\\`"),
            b'$' if bytes.get(i + 1) == Some(&b'{') => out.push_str("\\$"),
            b'\r' => out.push_str("\\r"),
            b'/' if i > 0 && bytes[i - 1] == b'<' => out.push_str("\\/"),
            _ => out.push(char::from(b)),
        }
    }
    out.push('`');
    out
}

/// The Worker visitors' pages call: the public routes (see edge/Cargo.toml's features).
pub const COLLECTOR: &str = "collector";
/// The Worker behind it: the admin API, other systems' calls, the cron and the ledger object.
pub const OPERATOR: &str = "operator";

/// Where a Worker's build is: `index.js` (the entry) and `index_bg.wasm`.
pub fn edge_dir(worker: &str) -> std::path::PathBuf {
    root().join("edge/build").join(worker)
}

/// Where a Worker's build is kept with its function names (see [`crate::breakdown`]).
pub fn edge_named(worker: &str) -> std::path::PathBuf {
    root().join(format!("target/edge-named-{worker}.wasm"))
}

/// worker-build (release) with local wasm-bindgen, wasm-opt and esbuild, embedding the widget bundle, once
/// per Worker: the same crate with the Worker's feature, so each bundle links only its own routes.
pub fn edge() -> Result {
    let wasm_bindgen = which("wasm-bindgen").ok_or(format!("wasm-bindgen {WASM_BINDGEN} is not on PATH"))?;
    for worker in [COLLECTOR, OPERATOR] {
        run(Command::new("worker-build")
            .args(["--release", "--out-dir", &format!("build/{worker}"), ".", "--features", worker])
            .current_dir(root().join("edge"))
            .env("WASM_BINDGEN_BIN", &wasm_bindgen)
            .env("WASM_OPT_BIN", npm_bin().join("wasm-opt"))
            .env("ESBUILD_BIN", npm_bin().join("esbuild"))
            .env("LEADGATE_WIDGET_JS", widget_bundle()))
        .map_err(|_| format!("building the edge's {worker} failed (see above)"))?;
        // Function names are only for stack traces, which the edge does not produce (it does not panic on
        // request data): without them a Worker uploads and compiles about 60 KB (gzip) less on a cold
        // start. A copy keeps them for `cargo xtask size`'s account of what each crate's code costs.
        let wasm = edge_dir(worker).join("index_bg.wasm");
        std::fs::copy(&wasm, edge_named(worker)).map_err(|e| format!("keeping the named edge build: {e}"))?;
        run(Command::new(npm_bin().join("wasm-opt")).arg(&wasm).args(["--strip-debug", "--strip-producers"]).args(WASM_FEATURES).arg("-o").arg(&wasm))
            .map_err(|_| "stripping the edge's wasm failed (see above)".to_string())?;
    }
    Ok(())
}

fn which(bin: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| std::env::split_paths(&paths).map(|p| p.join(bin)).find(|p| p.is_file()))
}

#[cfg(test)]
mod tests {
    use super::byte_literal;

    /// What a JavaScript engine reads from the template literal, for the escapes `byte_literal` writes.
    fn cooked(literal: &str) -> Vec<u8> {
        let inner = literal.strip_prefix('`').and_then(|s| s.strip_suffix('`')).expect("a template literal");
        let mut out = Vec::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            let c = match c {
                '\\' => match chars.next().expect("an escape is complete") {
                    'r' => '\r',
                    c @ ('\\' | '`' | '$' | '/') => c,
                    c => panic!("unexpected escape \\{c}"),
                },
                '`' => panic!("an unescaped backtick ends the literal early"),
                '\r' => panic!("a raw CR would be read as a line feed"),
                c => c,
            };
            out.push(u8::try_from(u32::from(c)).expect("one code point per byte"));
        }
        out
    }

    #[test]
    fn every_byte_comes_back_from_the_literal() {
        let all: Vec<u8> = (0..=255).chain(*b"</${x}$$`\\\r\n\0").collect();
        let literal = byte_literal(&all);
        assert_eq!(cooked(&literal), all);
        assert!(!literal.contains("</") && !literal.replace("\\$", "").contains("${"), "nothing ends a script tag or starts a substitution");
        assert!(literal.contains('\0') && literal.contains('\n') && literal.contains('"'), "held as they are");
    }
}
