//! Installing and calling the pinned tools: the wasm target, wasm-bindgen-cli, worker-build, the npm
//! packages in package-lock.json (wrangler, Node 22, binaryen, esbuild, playwright-core) and Chromium.
//!
//! Each step first checks what is there and skips when the version is right, so the commands are cheap to
//! repeat. Nothing is fetched from outside crates.io, npm and Debian: worker-build is pointed at the local
//! wasm-bindgen, wasm-opt and esbuild instead of downloading its own.

use crate::{root, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The wasm-bindgen CLI version; must equal the `wasm-bindgen` crate pinned in Cargo.toml.
pub const WASM_BINDGEN: &str = "0.2.129";
/// The worker-build version; must equal the `worker` crate pinned in Cargo.toml.
pub const WORKER_BUILD: &str = "0.8.7";

/// Environment that keeps wrangler offline and quiet.
pub const WRANGLER_ENV: &[(&str, &str)] = &[
    ("CLOUDFLARE_CF_FETCH_ENABLED", "false"),
    ("WRANGLER_SEND_METRICS", "false"),
    ("WRANGLER_SEND_ERROR_REPORTS", "false"),
    ("WRANGLER_LOG_SANITIZE", "true"),
];

/// Runs a command in the workspace root, echoing it; fails on a non-zero exit.
pub fn run(cmd: &mut Command) -> Result {
    let shown = prepare(cmd);
    println!("$ {shown}");
    let status = cmd.status().map_err(|e| format!("{shown}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown}: {status}"))
    }
}

/// Runs a command like [`run`], but keeps what it prints in `log` instead of showing it: for work that
/// runs beside other commands, whose output would otherwise interleave (the caller prints `log` once the
/// work is done).
pub fn run_into(cmd: &mut Command, log: &mut String) -> Result {
    let shown = prepare(cmd);
    log.push_str(&format!("$ {shown}\n"));
    let out = cmd.output().map_err(|e| format!("{shown}: {e}"))?;
    log.push_str(&String::from_utf8_lossy(&out.stdout));
    log.push_str(&String::from_utf8_lossy(&out.stderr));
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{shown}: {}", out.status))
    }
}

/// Sets `cmd` to run in the workspace root unless it names a folder, and returns it as it is echoed.
fn prepare(cmd: &mut Command) -> String {
    if cmd.get_current_dir().is_none() {
        cmd.current_dir(root());
    }
    format!("{} {}", cmd.get_program().to_string_lossy(), cmd.get_args().map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" "))
}

fn output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `cargo <args>` with the same toolchain that runs xtask.
pub fn cargo(args: &[&str]) -> Result {
    run(Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())).args(args))
}

/// `node_modules/.bin`, where the pinned JavaScript tools (and Node 22) live.
pub fn npm_bin() -> PathBuf {
    root().join("node_modules/.bin")
}

/// PATH with `node_modules/.bin` first, so `node` is the pinned Node 22 that wrangler needs.
pub fn path_with_npm_bin() -> String {
    format!("{}:{}", npm_bin().display(), std::env::var("PATH").unwrap_or_default())
}

/// Runs the pinned Node with `args` in the workspace root.
pub fn node(args: &[&str], env: &[(&str, &str)]) -> Result {
    run(Command::new(npm_bin().join("node")).args(args).envs(env.iter().copied()).env("PATH", path_with_npm_bin()))
}

/// Everything needed to build: the wasm target, wasm-bindgen-cli, worker-build, and the npm packages.
pub fn ensure_build_tools() -> Result {
    let targets = output("rustup", &["target", "list", "--installed"]).unwrap_or_default();
    if !targets.lines().any(|l| l.trim() == "wasm32-unknown-unknown") {
        run(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))?;
    }
    ensure_cargo_tool("wasm-bindgen-cli", "wasm-bindgen", WASM_BINDGEN)?;
    ensure_cargo_tool("worker-build", "worker-build", WORKER_BUILD)?;
    ensure_npm()
}

fn ensure_cargo_tool(krate: &str, bin: &str, version: &str) -> Result {
    let have = output(bin, &["--version"]).unwrap_or_default();
    if have.split_whitespace().any(|w| w == version) {
        return Ok(());
    }
    println!("installing {krate} {version} (a few minutes, once)");
    cargo(&["install", krate, "--version", version, "--locked"])
}

/// `npm install` when node_modules is missing or older than package-lock.json. Not `npm ci`: with this
/// machine kind's `omit-lockfile-registry-resolved` setting, npm 11 writes lockfiles that its own `ci` then
/// rejects (workerd's other-platform optional packages); `install` honours the same lockfile and the exact
/// versions pinned in package.json.
pub fn ensure_npm() -> Result {
    let lock = root().join("package-lock.json");
    let installed = root().join("node_modules/.package-lock.json");
    let fresh = match (modified(&lock), modified(&installed)) {
        (Some(l), Some(i)) => i >= l,
        _ => false,
    };
    if !fresh || !npm_bin().join("wrangler").exists() {
        run(Command::new("npm").args(["install", "--no-audit", "--no-fund"]))?;
    }
    Ok(())
}

/// The pinned schemathesis (PyPI) for the contract test, in a virtual environment under `target/venv`.
pub const SCHEMATHESIS: &[&str] = &["schemathesis==4.32.5", "hypothesis==6.170.17"];

/// Installs [`SCHEMATHESIS`] into `target/venv` when it is not there yet (Python's own `venv` and pip:
/// nothing from outside PyPI).
pub fn ensure_schemathesis() -> Result {
    let venv = root().join("target/venv");
    let st = venv.join("bin/st");
    let marker = venv.join(SCHEMATHESIS.join(" "));
    if st.exists() && marker.exists() {
        return Ok(());
    }
    println!("installing {} into target/venv", SCHEMATHESIS.join(", "));
    run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    run(Command::new(venv.join("bin/pip")).args(["install", "--quiet", "--disable-pip-version-check"]).args(SCHEMATHESIS))?;
    std::fs::write(&marker, "").map_err(|e| e.to_string())
}

fn modified(p: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// Debian's Chromium and ChromeDriver, installed with apt when missing.
pub fn ensure_browser() -> Result {
    if Path::new("/usr/bin/chromium").exists() && Path::new("/usr/bin/chromedriver").exists() {
        return Ok(());
    }
    println!("installing Debian's chromium and chromium-driver");
    let root_user = output("id", &["-u"]).is_some_and(|u| u.trim() == "0");
    let apt = |args: &[&str]| {
        let mut c = if root_user {
            Command::new("apt-get")
        } else {
            let mut c = Command::new("sudo");
            c.arg("apt-get");
            c
        };
        run(c.args(args).env("DEBIAN_FRONTEND", "noninteractive"))
    };
    apt(&["update", "-qq"])?;
    apt(&["install", "-y", "-qq", "chromium", "chromium-driver"])
}

/// Runs the widget's wasm-bindgen tests in headless Chromium.
pub fn widget_browser_tests() -> Result {
    run(Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["test", "-p", "widget", "--target", "wasm32-unknown-unknown"])
        .env("CHROMEDRIVER", "/usr/bin/chromedriver")
        .env("WASM_BINDGEN_TEST_TIMEOUT", "120")
        .env("LEADGATE_WIDGET_TESTS", "1"))
}
