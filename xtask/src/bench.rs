//! `cargo xtask bench`: nanoseconds per email check and per full lead validation, natively; the time a page
//! takes to show the form in Chromium, against the same form in plain JavaScript; the edge bundles' sizes and
//! how long V8 takes to compile each;
//! the collector's intake throughput, latency and cold start on local workerd; and its CPU time per
//! submission against a plain-JavaScript reference collector doing the same work.
//!
//! A plain harness: warm up, then time batches and report the median batch, which is stable enough on a
//! shared 2-core machine without pulling criterion's dependency tree into the workspace.

use crate::compile::widget_bundle;
use crate::tools::node;
use crate::{root, Result};
use shared::form::{FormDef, FormsConfig, PublicForm};
use std::hint::black_box;
use std::time::Instant;

/// Median nanoseconds per call of `f` over 15 batches of `n` calls.
fn time(n: u32, mut f: impl FnMut()) -> f64 {
    for _ in 0..n {
        f();
    }
    let mut batches: Vec<f64> = (0..15)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..n {
                f();
            }
            start.elapsed().as_nanos() as f64 / f64::from(n)
        })
        .collect();
    batches.sort_by(f64::total_cmp);
    batches[batches.len() / 2]
}

/// Runs the benchmarks and prints one line each.
pub fn run() {
    let emails = ["ada.lovelace+news@example.co.uk", "jürgen@example.de", "x@y", "no-at-sign.example.com", "a@b.c.d.e.f.example.com"];
    let mut i = 0;
    let email = time(200_000, || {
        i = (i + 1) % emails.len();
        let _ = black_box(shared::email::check(black_box(emails[i])));
    });
    println!("email check (mixed valid/invalid, avg {} chars): {email:.1} ns", emails.iter().map(|e| e.len()).sum::<usize>() / emails.len());

    let def: FormDef = serde_json::from_value(serde_json::json!({
        "id": "ebook", "kind": "download_gate", "mode": "b2b",
        "asset": {"key": "ebook.pdf", "filename": "ebook.pdf"},
        "fields": [
            {"name": "email", "required": true}, {"name": "first_name", "required": true}, {"name": "last_name"},
            {"name": "company", "required": true}, {"name": "job_title"}, {"name": "phone"}, {"name": "decision_maker"},
            {"name": "timeframe", "type": "select", "label": {"en": "When?"}, "options": [{"value": "q1", "label": {"en": "Q1"}}, {"value": "later", "label": {"en": "Later"}}]}
        ],
        "consents": [{"id": "marketing_email", "text": {"en": "Send me offers."}}]
    }))
    .expect("bench form");
    let form = PublicForm::from(&def);
    let values = [
        ("email", "ada.lovelace@example.co.uk"),
        ("first_name", "Ada"),
        ("last_name", "Lovelace"),
        ("company", "Analytical Engines Ltd"),
        ("job_title", "Head of Research"),
        ("phone", "+44 (0)20 7946 0958"),
        ("decision_maker", "true"),
        ("timeframe", "q1"),
    ];
    let consent = ["marketing_email"];
    let full = time(20_000, || {
        let _ = black_box(shared::validation::validate(black_box(&form.fields), black_box(&form.consents), black_box(&values), black_box(&consent)));
    });
    println!("full lead validation (8 fields, 1 consent): {full:.0} ns");
}

/// Runs `xtask/js/intake-bench.mjs`: the collector on local workerd, its intake throughput and latency at
/// concurrency 8 and 32, the ledger object's request rate that implies, and one address submitted 50 times
/// at once.
pub fn intake() -> Result {
    node(&["xtask/js/intake-bench.mjs", "400"], &[])
}

/// Runs `xtask/js/scale-bench.mjs`: intake with one form, four forms and one form of four shards; the
/// dashboard's time and rows read at 10,000 and 100,000 leads; intake latency at 100,000 leads alone, while
/// the dashboard loads in a loop and while a backlog of deliveries drains.
pub fn scale() -> Result {
    node(&["xtask/js/scale-bench.mjs", "100000"], &[])
}

/// Runs `xtask/js/analytics-bench.mjs`: 1,000 page views at 20 a second beside the intake: the storage
/// writes they cost per 1,000, the counting error, and the intake's latency with them against without.
pub fn analytics() -> Result {
    node(&["xtask/js/analytics-bench.mjs", "1000", "20"], &[])
}

/// Runs `xtask/js/compile-bench.mjs`: how long V8 takes to compile each Worker's wasm, lazily (its default)
/// and with every function up front.
pub fn compile() -> Result {
    node(&["xtask/js/compile-bench.mjs"], &[])
}

/// Runs `xtask/js/cpu-bench.mjs`: CPU time per accepted submission of the collector on local workerd
/// against the plain-JavaScript reference collector (`xtask/js/reference/worker.js`) doing the same work,
/// and their ratio.
pub fn cpu() -> Result {
    node(&["xtask/js/cpu-bench.mjs", "400"], &[])
}

/// Runs `xtask/js/crossings-bench.mjs`: the calls between the collector's wasm and JavaScript per accepted
/// submission, counted exactly by kind (each import and export of its glue), on a counting copy of the build.
pub fn crossings() -> Result {
    node(&["xtask/js/crossings-bench.mjs", "200"], &[])
}

/// Writes the demo newsletter's embed script (as the collector serves it) and times it in Chromium with
/// `xtask/js/render-bench.mjs`: median of 20 fresh loads, alternating with a plain-JavaScript form, and when
/// its rules (the module, served as the collector serves it) are ready after the form is shown.
pub fn render(forms: &FormsConfig) -> Result {
    let form = forms.forms.iter().find(|f| f.id == "newsletter").or(forms.forms.first()).ok_or("the config has no forms")?;
    let bundle = std::fs::read_to_string(widget_bundle()).map_err(|e| e.to_string())?;
    // The bench's server replaces the origin once it knows its port.
    let script = edge::rules::embed::script(&bundle, &PublicForm::from(form), "http://127.0.0.1:9", Some("BENCH_ORIGIN"));
    let path = root().join("target/bench/embed.js");
    std::fs::create_dir_all(path.parent().expect("a file has a folder")).map_err(|e| e.to_string())?;
    std::fs::write(&path, script).map_err(|e| e.to_string())?;
    let module = crate::compile::widget_asset()?;
    let file = crate::compile::widget_asset_dir().join(module.trim_start_matches("/w/"));
    node(&["xtask/js/render-bench.mjs", &path.to_string_lossy(), &module, &file.to_string_lossy()], &[])
}
