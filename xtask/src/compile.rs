//! Building the wasm artefacts: the widget (its loader, one IIFE, and its module, a hashed static asset) and
//! the edge's two Workers, the collector and the operator.

use crate::tools::{self, npm_bin, run, WASM_BINDGEN};
use crate::{root, Result};
use std::process::Command;

/// The widget's loader (JavaScript), which the edge embeds into every form's script.
pub fn widget_bundle() -> std::path::PathBuf {
    root().join("target/widget/leadgate.js")
}

/// esbuild's bundle of the widget's JavaScript, before the build names the module in it (see [`widget`]).
fn widget_bundled() -> std::path::PathBuf {
    root().join("target/widget/entry.bundled.js")
}

/// The widget's optimised wasm module, which the collector serves as a static asset (see [`widget_asset`]).
pub fn widget_wasm() -> std::path::PathBuf {
    root().join("target/widget/widget.wasm")
}

/// The folder of the collector's static assets (`www/`) that holds the widget's module, named by its hash
/// (`www/w/<hash>.wasm`, served as `/w/<hash>.wasm` with the headers of `www/_headers`). Build output: the
/// folder is ignored by git and emptied by each build.
pub fn widget_asset_dir() -> std::path::PathBuf {
    root().join("www/w")
}

/// The path the collector serves the built widget module at, `/w/<hash>.wasm`: the loader names it, so a
/// new build is a new URL and a URL's content never changes (`Cache-Control: immutable`).
pub fn widget_asset() -> Result<String> {
    let bundle = std::fs::read_to_string(widget_bundle()).map_err(|e| format!("{}: {e}", widget_bundle().display()))?;
    let start = bundle.find("\"/w/").ok_or(format!("{}: names no module (build the widget)", widget_bundle().display()))?;
    let path = bundle.get(start + 1..).and_then(|rest| rest.split('"').next()).unwrap_or_default();
    Ok(path.to_owned())
}

/// wasm features Rust's wasm32 target emits by default. wasm-opt must be told for the edge's modules, as
/// wasm-bindgen drops the target-features section it would otherwise read; the widget's keeps it until
/// wasm-opt strips it, and is told the same for one list of what our modules may use.
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
    let module_missing = widget_asset().map_or(true, |path| !widget_asset_dir().join(path.trim_start_matches("/w/")).exists());
    // Against esbuild's output, which every widget build writes (the loader is only written when it changes).
    if module_missing || newest(&[&["widget", "shared"][..], &recipe[..]].concat()) > modified(&widget_bundled()) {
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

/// Writes `bytes` to `path` unless it holds them already. The edge's build embeds the loader
/// (`include_str!`, and its build script watches the file): a file rewritten with the same bytes gets a new
/// modification time, and both Workers were built again (about 230 s on 2 cores) on every run of
/// `cargo xtask test`, although nothing had changed.
fn write_if_changed(path: &std::path::Path, bytes: &[u8]) -> Result {
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// cargo (`widget` profile: size) -> wasm-opt -Oz -> the module into the static assets under its hash ->
/// esbuild (IIFE), the loader naming that path.
pub fn widget() -> Result {
    tools::cargo(&["build", "-p", "widget", "--profile", "widget", "--features", "bundle", "--target", "wasm32-unknown-unknown"])?;
    // No wasm-bindgen: the module's exports take and give numbers and UTF-8 strings through one buffer, and
    // `widget/js/rules.js` is their glue (see `widget/src/abi.rs`).
    let wasm = widget_wasm();
    std::fs::create_dir_all(root().join("target/widget")).map_err(|e| e.to_string())?;
    // `--converge` repeats -Oz while it still shrinks the module; the two custom sections only name the
    // tools and features that built it, which no browser reads. A browser's fresh memory is zeroed, and
    // Rust's wasm32 layout leaves the lowest kilobyte unused (the stack grows down from 1 MiB towards it),
    // which lets wasm-opt fold constant offsets into addresses: 0.15 KB brotli of the module.
    run(Command::new(npm_bin().join("wasm-opt"))
        .args(["-Oz", "--converge", "--zero-filled-memory", "--low-memory-unused", "--strip-producers", "--strip-target-features"])
        .args(WASM_FEATURES)
        .arg(root().join("target/wasm32-unknown-unknown/widget/widget.wasm"))
        .arg("-o")
        .arg(&wasm))?;
    // No legal comments: esbuild would keep every file's `//!` header line as one. Bundled beside the
    // loader, which is written below only when its bytes change (see `write_if_changed`).
    let bundled = widget_bundled();
    run(Command::new(npm_bin().join("esbuild"))
        .arg(root().join("widget/js/entry.js"))
        .args(["--bundle", "--format=iife", "--minify", "--legal-comments=none", "--target=es2020", "--log-level=warning"])
        .arg(format!("--outfile={}", bundled.display())))?;
    let bundle = std::fs::read_to_string(&bundled).map_err(|e| e.to_string())?;
    if bundle.matches(WASM_PLACEHOLDER).count() != 1 {
        return Err(format!("{}: expected {WASM_PLACEHOLDER} exactly once after bundling", bundled.display()));
    }
    // The module under the first 16 hex digits of its SHA-256 (64 bits: no two builds collide by chance).
    let bytes = std::fs::read(&wasm).map_err(|e| e.to_string())?;
    let hash = edge::rules::digest::sha256_hex(&bytes);
    let name = format!("{}.wasm", hash.get(..16).unwrap_or(&hash));
    let dir = widget_asset_dir();
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    std::fs::write(dir.join(&name), &bytes).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = serde_json::to_string(&format!("/w/{name}")).map_err(|e| e.to_string())?;
    let loader = bundle.replace(WASM_PLACEHOLDER, &path);
    write_if_changed(&widget_bundle(), loader.as_bytes())?;
    // The loader too, under its own hash: the collector reads it from there into each embed script (the
    // edge's build.rs names it the same way, from the same bytes).
    let hash = edge::rules::digest::sha256_hex(loader.as_bytes());
    std::fs::write(dir.join(format!("{}.js", hash.get(..16).unwrap_or(&hash))), &loader).map_err(|e| format!("{}: {e}", dir.display()))
}

/// The name in `widget/js/entry.js` that stands for the module's path until the build puts it there.
const WASM_PLACEHOLDER: &str = "LEADGATE_WASM";

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

/// worker-build (the collector at its size profile, the operator at release) with local wasm-bindgen,
/// wasm-opt and esbuild, embedding the widget bundle, once per Worker: the same crate with the Worker's
/// feature, so each bundle links only its own routes.
pub fn edge() -> Result {
    edge_into(None)
}

/// [`edge`], keeping what the tools print in `log` when one is given (see `tools::run_into`).
///
/// The two Workers build side by side, each in a target folder of its own (`target/edge-collector`,
/// `target/edge-operator`): cargo locks a target folder for one build at a time, and nothing is shared
/// between them (the profiles differ, so even build scripts and proc macros are built apart), nor with the
/// native and debug builds, so `cargo xtask test` also runs the native tests and the lints beside them.
/// Each build ends in steps that keep one core busy (link-time optimisation with one codegen unit,
/// wasm-opt): one after the other, the second Worker's cargo build waited for the first's, and the
/// edge's builds were the longest step of a fresh `cargo xtask test` (551 s of its 961).
pub fn edge_into(log: Option<&mut String>) -> Result {
    let wasm_bindgen = which("wasm-bindgen").ok_or(format!("wasm-bindgen {WASM_BINDGEN} is not on PATH"))?;
    let captured = log.is_some();
    let builds = [COLLECTOR, OPERATOR].map(|worker| {
        let wasm_bindgen = wasm_bindgen.clone();
        std::thread::spawn(move || {
            let mut log = String::new();
            let built = worker_build(worker, &wasm_bindgen, captured.then_some(&mut log));
            (built, log)
        })
    });
    let mut outcome = Ok(());
    let mut shown = String::new();
    for build in builds {
        let (built, log) = build.join().map_err(|_| "an edge build panicked".to_string())?;
        shown.push_str(&log);
        outcome = outcome.and(built);
    }
    if let Some(log) = log {
        log.push_str(&shown);
    }
    outcome
}

/// Builds one Worker with worker-build into `edge/build/<worker>`, then strips its function names.
fn worker_build(worker: &'static str, wasm_bindgen: &std::path::Path, mut log: Option<&mut String>) -> Result {
    let mut exec = |cmd: &mut Command| match log.as_deref_mut() {
        Some(log) => crate::tools::run_into(cmd, log),
        None => run(cmd),
    };
    // The collector's own profile optimises for size (see the workspace's Cargo.toml).
    let profile: &[&str] = if worker == COLLECTOR { &["--profile", "collector"] } else { &["--release"] };
    exec(
        Command::new("worker-build")
            .args(profile)
            .args(["--out-dir", &format!("build/{worker}"), ".", "--features", worker])
            .current_dir(root().join("edge"))
            .env("WASM_BINDGEN_BIN", wasm_bindgen)
            .env("WASM_OPT_BIN", npm_bin().join("wasm-opt"))
            .env("ESBUILD_BIN", npm_bin().join("esbuild"))
            .env("LEADGATE_WIDGET_JS", widget_bundle())
            .env("CARGO_TARGET_DIR", root().join(format!("target/edge-{worker}"))),
    )
    .map_err(|_| format!("building the edge's {worker} failed (see above)"))?;
    // Function names are only for stack traces, which the edge does not produce (it does not panic on
    // request data): without them a Worker uploads and compiles about 60 KB (gzip) less on a cold
    // start. A copy keeps them for `cargo xtask size`'s account of what each crate's code costs.
    let wasm = edge_dir(worker).join("index_bg.wasm");
    std::fs::copy(&wasm, edge_named(worker)).map_err(|e| format!("keeping the named edge build: {e}"))?;
    exec(Command::new(npm_bin().join("wasm-opt")).arg(&wasm).args(["--strip-debug", "--strip-producers"]).args(WASM_FEATURES).arg("-o").arg(&wasm))
        .map_err(|_| "stripping the edge's wasm failed (see above)".to_string())
}

fn which(bin: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| std::env::split_paths(&paths).map(|p| p.join(bin)).find(|p| p.is_file()))
}
