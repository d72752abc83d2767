//! Leadgate's chores, one entry point: `cargo xtask dev | test | build | serve | size | bench`.
//!
//! Every command installs what it needs (pinned versions, registries only) and prints what it runs, so a
//! fresh Debian machine with Rust gets from clone to a running collector or a full test run with one line.

mod bench;
mod breakdown;
mod compile;
mod config;
mod forms;
mod fuzz;
mod runtime;
mod size;
mod tools;

use std::path::PathBuf;
use std::process::ExitCode;

/// The usage text.
const USAGE: &str = "usage: cargo xtask <command> [options]

commands:
  dev     install, build, and run the collector with the demo pages and a local webhook receiver
          --port N (8787)  --config FILE (leadgate.toml)  --state DIR (.state)
  test    install and run every test: native, widget in headless Chromium, end-to-end
  build   install and build widget and edge; write the two Workers' configs into target/leadgate for `wrangler deploy`
          --config FILE (leadgate.toml)
  serve   run the already built collector (used by the end-to-end tests)
          --port N  --config FILE  --state DIR  --without-secret NAME (repeatable)
  size    print the bytes a page downloads to show each form (raw, gzip, brotli), and the edge bundle
  bench   print rule timings, the form's render time vs plain JS, the edge bundle, intake throughput,
          cold start, the ledger at scale (forms, shards, 100,000 leads, dashboard, backlog), and CPU
          per submission against a plain-JavaScript reference collector
          bench PART...: only those (rules render edge compile intake scale analytics cpu crossings), on what is built
  fuzz    feed 1,000,000 mutated inputs to each parser of outside input (at most 5 min each)
          --short: 10,000 each, as `test` runs it
  forms   move forms between a config file and a running collector's catalog (admin token in ADMIN_TOKEN)
          pull [--url URL (http://127.0.0.1:8787)] [--out FILE]   the published forms as [[forms]] tables
          push FILE [--url URL] [--publish]                      each form of FILE as a draft, and published
  check-config FILE  validate a forms config file and print its problems";

/// The workspace root (xtask lives one level below it).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask is inside the workspace").to_path_buf()
}

/// A failed chore, with a message for the person running it.
pub type Result<T = ()> = std::result::Result<T, String>;

/// Parsed `--port`, `--config`, `--state` options.
pub struct Options {
    /// The collector's port.
    pub port: u16,
    /// The forms config file.
    pub config: PathBuf,
    /// Where KV, R2 and generated files live.
    pub state: PathBuf,
    /// Secrets to leave unset, to see how the collector answers without them (`--without-secret NAME`).
    pub without: Vec<String>,
}

fn options(args: &[String]) -> Result<Options> {
    let mut o = Options { port: 8787, config: root().join("leadgate.toml"), state: root().join(".state"), without: Vec::new() };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--port" => o.port = value()?.parse().map_err(|_| "--port needs a number".to_string())?,
            "--config" => o.config = PathBuf::from(value()?),
            "--state" => o.state = PathBuf::from(value()?),
            "--without-secret" => o.without.push(value()?),
            other => return Err(format!("unknown option {other}\n\n{USAGE}")),
        }
    }
    let cwd = std::env::current_dir().map_err(|e| e.to_string())?;
    o.config = cwd.join(&o.config);
    o.state = cwd.join(&o.state);
    Ok(o)
}

fn run(args: &[String]) -> Result {
    let (cmd, rest) = args.split_first().ok_or(USAGE.to_string())?;
    match cmd.as_str() {
        "dev" => {
            let o = options(rest)?;
            tools::ensure_build_tools()?;
            compile::changed()?;
            runtime::dev(&o)
        }
        "build" => {
            let o = options(rest)?;
            let forms = config::load(&o.config)?;
            tools::ensure_build_tools()?;
            compile::all()?;
            let out = root().join("target/leadgate");
            runtime::write_wrangler_config(&out, &forms, None)?;
            // The operator first: it defines the ledger object that the collector binds by script name.
            println!(
                "built; deploy with: npx wrangler deploy -c {} && npx wrangler deploy -c {}",
                runtime::wrangler_config(&out, compile::OPERATOR).display(),
                runtime::wrangler_config(&out, compile::COLLECTOR).display()
            );
            print_secrets(&forms);
            Ok(())
        }
        "serve" => runtime::serve(&options(rest)?),
        "test" => {
            let mut phases = Vec::new();
            timed(&mut phases, "setup (tools)", || {
                tools::ensure_build_tools()?;
                tools::ensure_browser()?;
                tools::ensure_schemathesis()
            })?;
            run_tests(phases)
        }
        "size" => {
            tools::ensure_build_tools()?;
            compile::all()?;
            let forms = config::load(&root().join("leadgate.toml"))?;
            size::report(&forms)?;
            size::catalog_report(&forms)?;
            size::check_widget_panics()?;
            size::edge_report()?;
            size::check_split()?;
            println!("edge split: each Worker links its own side's code and none of the other's");
            Ok(())
        }
        "bench" if cfg!(debug_assertions) => {
            // Timings from a debug build mean nothing: run the benchmarks from an optimised xtask.
            tools::cargo(
                &[&["run", "--quiet", "--release", "--package", "xtask", "--", "bench"][..], &rest.iter().map(String::as_str).collect::<Vec<_>>()].concat(),
            )
        }
        "bench" => {
            // `bench <part>...` runs only those parts, on what is built; without parts, everything after a
            // build. The rule timings need neither tools nor a build, so they come first.
            let names = || std::iter::once("rules").chain(BENCH_PARTS.iter().map(|(name, _)| *name));
            if let Some(unknown) = rest.iter().find(|r| !names().any(|name| name == r.as_str())) {
                return Err(format!("no bench part `{unknown}`; the parts are: {}", names().collect::<Vec<_>>().join(", ")));
            }
            let only = |part: &str| rest.is_empty() || rest.iter().any(|r| r == part);
            if only("rules") {
                bench::run();
            }
            if BENCH_PARTS.iter().any(|(name, _)| only(name)) {
                tools::ensure_build_tools()?;
                tools::ensure_browser()?;
                if rest.is_empty() {
                    compile::all()?;
                }
            }
            for (name, part) in BENCH_PARTS {
                if only(name) {
                    part()?;
                }
            }
            Ok(())
        }
        "fuzz" if rest.first().map(String::as_str) == Some("--short") => fuzz::short(),
        "fuzz" if cfg!(debug_assertions) => {
            // A million inputs per parser want an optimised build.
            tools::cargo(&["run", "--quiet", "--profile", "fuzz", "--package", "xtask", "--", "fuzz"])
        }
        "fuzz" => fuzz::run(1_000_000, std::time::Duration::from_secs(300)),
        "forms" => forms::run(rest),
        "check-config" => {
            let file = rest.first().ok_or("check-config needs a file")?;
            let forms = config::load(&PathBuf::from(file))?;
            println!("{file}: ok, {} forms", forms.forms.len());
            print_secrets(&forms);
            Ok(())
        }
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command {other}\n\n{USAGE}")),
    }
}

/// Lists the secrets a deployment of `forms` needs. They live in Cloudflare (`wrangler secret put NAME`),
/// not in any file here, so this cannot tell which are set: the collector answers requests that need a
/// missing one with a `misconfigured` error naming it.
fn print_secrets(forms: &shared::form::FormsConfig) {
    println!("secrets to set on both Workers (npx wrangler secret put NAME -c <config>):");
    for (name, why) in forms.secrets() {
        println!("  {name:<20} {why}");
    }
}

/// The checks that need no Worker build: the native tests, a short fuzz run, clippy, the widget in
/// Chromium.
fn checks(phases: &mut Vec<(&'static str, f64)>) -> Result {
    // Every crate in one run, the widget's decisions (its `Form`) included; its DOM behaviour in Chromium
    // below (its integration tests are for wasm only). One run resolves the dependencies' features once
    // (the widget's own run built two dozen of them again with other features), though on a fresh clone
    // the time was the same within the noise: 226 s in two runs, 231 s in one.
    timed(phases, "native tests", || tools::cargo(&["test", "--workspace", "--all-features"]))?;
    // A short fuzz run of every parser of outside input (`cargo xtask fuzz` runs a million inputs each).
    timed(phases, "fuzz (short)", fuzz::short)?;
    // Every crate and target without a clippy warning; the collector must not panic on request data:
    // clippy denies unwrap, expect, indexing and string slicing in it (see edge/src/lib.rs), for the
    // Worker's wasm build and natively.
    timed(phases, "clippy", || {
        tools::cargo(&["clippy", "--workspace", "--all-targets", "--all-features", "--", "-D", "warnings"])?;
        // The edge's wasm glue: both Workers' code at once (so nothing in the product is dead), and the
        // collector's own build for the little that only it has (passing the dev cron tick on).
        for features in ["collector,operator", "collector"] {
            tools::cargo(&["clippy", "-p", "edge", "--target", "wasm32-unknown-unknown", "--features", features, "--", "-D", "warnings"])?;
        }
        Ok(())
    })?;
    timed(phases, "widget in Chromium", tools::widget_browser_tests)
}

/// Runs `step`, noting under `name` how many seconds it took (printed at the end of `cargo xtask test`, so
/// a slow run says where its time went).
fn timed<T>(phases: &mut Vec<(&'static str, f64)>, name: &'static str, step: impl FnOnce() -> Result<T>) -> Result<T> {
    let started = std::time::Instant::now();
    let done = step();
    phases.push((name, started.elapsed().as_secs_f64()));
    done
}

/// Native tests, widget tests in Chromium, the size gate, then the end-to-end tests; at the end, how long
/// each step took (`phases` holds the setup's, which the total below leaves out).
fn run_tests(mut phases: Vec<(&'static str, f64)>) -> Result {
    let started = std::time::Instant::now();
    // Lint gates first: they take seconds and say at once what a longer run would only repeat.
    tools::cargo(&["fmt", "--all", "--check"]).map_err(|_| "the code is not formatted: run `cargo fmt --all`".to_string())?;
    // The widget first (the edge embeds its loader), then the two Workers' builds beside the native tests
    // and the lints: the builds spend minutes on one core (link-time optimisation, wasm-opt) and have
    // target folders of their own (see `compile::edge_into`); their output is shown when they are done. On a
    // fresh clone on 2 cores: 1,011 s for the whole command, against 1,204 s with everything one after the
    // other; 788 s with the two Workers built side by side and the suites three at a time.
    timed(&mut phases, "widget build", compile::widget)?;
    let edge = std::thread::spawn(|| {
        let mut log = String::new();
        let started = std::time::Instant::now();
        let built = compile::edge_into(Some(&mut log));
        (built, log, started.elapsed().as_secs_f64())
    });
    let checked = checks(&mut phases);
    let (built, log, took) = edge.join().map_err(|_| "the edge's build panicked".to_string())?;
    phases.push(("edge build (beside the checks)", took));
    println!("{log}");
    checked?;
    built?;
    let largest = timed(&mut phases, "size gates", || {
        size::check_split()?;
        size::check_collector()?;
        let forms = config::load(&root().join("leadgate.toml"))?;
        let largest = size::report(&forms)?;
        size::check_widget_panics()?;
        Ok(largest)
    })?;
    if largest.embed > size::EMBED_GATE {
        return Err(format!("the largest embed script is {} bytes brotli, over the {}-byte gate", largest.embed, size::EMBED_GATE));
    }
    if largest.first_visit > size::FIRST_VISIT_GATE {
        return Err(format!("a first visit downloads {} bytes brotli, over the {}-byte gate", largest.first_visit, size::FIRST_VISIT_GATE));
    }
    // Three suites at a time: each starts its own collector (own port, state and inspector port) and its
    // own browser, so they share nothing. Much of a suite's time is spent waiting (for retries, paces, refresh
    // windows and restarts), so a third suite fills the two cores: on a fresh clone the suites took 390 s two
    // at a time and 297 s three at a time (292 s against 380 s on one build in a working checkout), with
    // the timing-bound figures the suites print (a sign-up's mail behind an import, a publish within its
    // refresh window, an escalation's lateness) still well inside their bounds (four at a time: 271 s). The
    // slowest suites start first, so the last to start is a short one and no long suite runs alone at the end.
    // (`delivery` ran alone until a restarted ledger handed back its predecessor's leases: a kill that
    // landed on an attempt left that delivery waiting 15 minutes, longer than the suite waits.)
    let mut suites: Vec<String> = std::fs::read_dir(root().join("tests"))
        .map_err(|e| format!("tests/: {e}"))?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter_map(|name| Some(name.strip_suffix(".test.mjs")?.to_owned()))
        .collect();
    if let Some(gone) = SLOWEST_SUITES.iter().find(|slow| !suites.iter().any(|s| s == *slow)) {
        return Err(format!("xtask's SLOWEST_SUITES names tests/{gone}.test.mjs, which is not there"));
    }
    suites.sort_by_key(|s| (SLOWEST_SUITES.iter().position(|slow| slow == s).unwrap_or(SLOWEST_SUITES.len()), s.clone()));
    let suites: Vec<String> = suites.iter().map(|s| format!("tests/{s}.test.mjs")).collect();
    let mut args = vec!["--test", "--test-concurrency=3", "--test-reporter=spec"];
    args.extend(suites.iter().map(String::as_str));
    timed(&mut phases, "end-to-end suites", || tools::node(&args, &[]))?;
    for (name, took) in &phases {
        println!("  {name:<32} {took:>6.0} s");
    }
    println!("all tests passed in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// The end-to-end suites that took longest on a fresh clone (30-45 s each with their collectors' starts, most
/// others 5-20 s), slowest first: they start first (see [`run_tests`]).
const SLOWEST_SUITES: &[&str] = &["ledger", "delivery", "widget", "contract", "hardening", "backlog", "analytics", "editor"];

/// One part of `cargo xtask bench`.
type BenchPart = fn() -> Result;

/// The parts of `cargo xtask bench` that run on the build, in the order they run (`rules`, the rule
/// timings, runs natively before them).
const BENCH_PARTS: [(&str, BenchPart); 8] = [
    ("render", || bench::render(&config::load(&root().join("leadgate.toml"))?)),
    ("edge", size::edge_report),
    ("compile", bench::compile),
    ("intake", bench::intake),
    ("scale", bench::scale),
    ("analytics", bench::analytics),
    ("cpu", bench::cpu),
    ("crossings", bench::crossings),
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
