//! Running the collector locally in the real Workers runtime (workerd, through `wrangler dev`), with KV
//! persisted on disk, plus the demo's webhook receiver and the cron ticks that drive retries.

use crate::compile::{edge_dir, COLLECTOR, OPERATOR};
use crate::tools::{npm_bin, path_with_npm_bin, WRANGLER_ENV};
use crate::{config, root, Options, Result};
use edge::rules::webhook::Secret;
use serde_json::json;
use shared::form::FormsConfig;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// The Workers compatibility date the edge is written against.
pub const COMPATIBILITY_DATE: &str = "2026-11-01";

/// The port of the demo webhook receiver (the demo config's webhook URLs point here).
pub const RECEIVER_PORT: u16 = 8789;

/// The secrets the collector reads, each taken from the environment when set there.
struct Secrets {
    admin_token: String,
    webhook_secret: String,
    client_id_secret: String,
    signing_secret: String,
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::getrandom(&mut buf).expect("the OS has randomness");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

impl Secrets {
    /// Environment first; else what this state folder generated before (so a restart keeps the token);
    /// else a fresh random value.
    fn resolve(state: &Path) -> Secrets {
        let earlier = std::fs::read_to_string(state.join(".dev.vars")).unwrap_or_default();
        let pick = |name: &str, fresh: &dyn Fn() -> String| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| earlier.lines().find_map(|l| l.strip_prefix(&format!("{name}="))).map(str::to_owned).unwrap_or_else(fresh))
        };
        Secrets {
            admin_token: pick("ADMIN_TOKEN", &|| random_hex(16)),
            webhook_secret: pick("WEBHOOK_SECRET", &|| {
                let mut key = vec![0u8; 24];
                getrandom::getrandom(&mut key).expect("the OS has randomness");
                Secret::from_bytes(key).to_whsec()
            }),
            client_id_secret: pick("CLIENT_ID_SECRET", &|| random_hex(32)),
            signing_secret: pick("SIGNING_SECRET", &|| random_hex(32)),
        }
    }
}

/// The deployed name of the operator Worker. It is the name the single Worker had before the split, so a
/// deployment keeps its ledger object (a Durable Object belongs to the script that defines its class).
pub const OPERATOR_SCRIPT: &str = "leadgate";
/// The deployed name of the collector Worker, the one a site's script tag and forms call.
pub const COLLECTOR_SCRIPT: &str = "leadgate-collector";

/// The wrangler config file of a Worker, in the state or build folder `dir`.
pub fn wrangler_config(dir: &Path, worker: &str) -> std::path::PathBuf {
    dir.join(format!("{worker}.json"))
}

/// The module a Worker runs: the build's `index.js`, or the one `LEADGATE_COLLECTOR_MAIN` or
/// `LEADGATE_OPERATOR_MAIN` names (`cargo xtask bench crossings` runs copies whose glue counts the calls
/// between wasm and JavaScript).
fn main_module(worker: &str) -> std::path::PathBuf {
    match std::env::var_os(format!("LEADGATE_{}_MAIN", worker.to_uppercase())) {
        Some(main) => main.into(),
        None => edge_dir(worker).join("index.js"),
    }
}

/// Writes the two Workers' wrangler configs for these forms into `dir` (see [`wrangler_config`]). With
/// `persist`, they are local-dev configs; without, deploy configs that expect the KV namespace id in
/// `LEADGATE_KV_ID`.
///
/// Both Workers bind the same KV namespace, R2 bucket and ledger object and read the same forms. Only the
/// operator defines the object's class (with its migrations) and has the cron trigger; the collector binds
/// the object by `script_name` and reaches the operator's routes through the `OPERATOR` service binding.
pub fn write_wrangler_config(dir: &Path, forms: &FormsConfig, persist: Option<&Path>) -> Result {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for worker in [COLLECTOR, OPERATOR] {
        let main = main_module(worker);
        if !main.exists() {
            return Err(format!("{} is missing: run `cargo xtask build` first", main.display()));
        }
    }
    let kv_id = if persist.is_some() { "leadgate-local".to_string() } else { std::env::var("LEADGATE_KV_ID").unwrap_or_else(|_| "SET-LEADGATE_KV_ID".into()) };
    let forms_json = serde_json::to_string(forms).map_err(|e| e.to_string())?;
    let common = |name: &str, worker: &str| {
        let mut config = json!({
            "name": name,
            "main": main_module(worker),
            "compatibility_date": COMPATIBILITY_DATE,
            "kv_namespaces": [{ "binding": "LEADS", "id": kv_id }],
            "r2_buckets": [{ "binding": "FILES", "bucket_name": "leadgate-files" }],
            "vars": { "LEADGATE_FORMS": forms_json },
            "observability": { "enabled": true },
        });
        // Cloudflare's Email Service: the `send_email` binding the delivery hands mails to (locally, wrangler
        // writes each mail to a file and logs its path instead of sending it).
        if forms.mail.as_ref().is_some_and(|m| m.provider == shared::config::MailProvider::Cloudflare) {
            config["send_email"] = json!([{ "name": "EMAIL" }]);
        }
        // The public address for owners' links, in a deploy config when the build's environment names it.
        if let Some(origin) = std::env::var("LEADGATE_ORIGIN").ok().filter(|_| persist.is_none()) {
            config["vars"]["LEADGATE_ORIGIN"] = json!(origin);
        }
        if let Some(limit) = forms.rate_limit {
            config["ratelimits"] = json!([{ "name": "LIMITER", "namespace_id": "1001", "simple": { "limit": limit.limit, "period": limit.period } }]);
        }
        config
    };
    let mut collector = common(COLLECTOR_SCRIPT, COLLECTOR);
    // The static pages and the widget's files; the collector reads the widget's loader through the binding.
    // Its routes (the API under `/v1/`, the embed scripts) go to the collector first: without this, every
    // request asks the asset worker whether a file of its path exists before the collector gets it (an
    // extra hop per submission: `cargo xtask bench cpu` counts it).
    collector["assets"] = json!({ "directory": root().join("www"), "binding": "ASSETS", "run_worker_first": ["/v1/*", "/embed/*"] });
    collector["durable_objects"] = json!({ "bindings": [{ "name": "LEDGER", "class_name": "Ledger", "script_name": OPERATOR_SCRIPT }] });
    collector["services"] = json!([{ "binding": "OPERATOR", "service": OPERATOR_SCRIPT }]);
    let mut operator = common(OPERATOR_SCRIPT, OPERATOR);
    // The ledger: one SQLite-backed Durable Object for what must be strictly consistent (edge::protocol::ledger).
    operator["durable_objects"] = json!({ "bindings": [{ "name": "LEDGER", "class_name": "Ledger" }] });
    operator["migrations"] = json!([{ "tag": "v1", "new_sqlite_classes": ["Ledger"] }]);
    operator["triggers"] = json!({ "crons": ["* * * * *"] });
    // Reached only through the collector's service binding: no public address of its own.
    operator["workers_dev"] = json!(false);
    for (worker, config) in [(COLLECTOR, collector), (OPERATOR, operator)] {
        let path = wrangler_config(dir, worker);
        std::fs::write(&path, serde_json::to_string_pretty(&config).map_err(|e| e.to_string())?).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// Starts `wrangler dev` for the built edge and returns the child; `serve` waits on it, `dev` also runs
/// the receiver and the cron ticker beside it. Without an `inspector` port wrangler takes the first free
/// one from 9229 up, where a debugger looks first.
fn start_collector(o: &Options, secrets: &Secrets, inspector: Option<u16>) -> Result<Child> {
    let forms = config::load(&o.config)?;
    write_wrangler_config(&o.state, &forms, Some(&o.state.join("data")))?;
    let mut vars = format!(
        "ADMIN_TOKEN={}\nWEBHOOK_SECRET={}\nCLIENT_ID_SECRET={}\nSIGNING_SECRET={}\n",
        secrets.admin_token, secrets.webhook_secret, secrets.client_id_secret, secrets.signing_secret
    );
    // The config may name further secrets (another signing secret, a CRM's API token, a Turnstile secret,
    // an integration's key, a feedback endpoint's secret); pass on those the environment has. A missing one
    // is answered `misconfigured` by the request that needs it, or shows in a delivery's `last_error`.
    let mail_key = forms.mail.as_ref().map(|m| m.key.clone()).unwrap_or_default();
    let named: Vec<String> = forms.secrets().into_iter().map(|(name, _)| name).filter(|n| *n != mail_key).collect();
    for name in named.iter().filter(|n| !["ADMIN_TOKEN", "WEBHOOK_SECRET", "CLIENT_ID_SECRET", "SIGNING_SECRET"].contains(&n.as_str())) {
        if let Ok(value) = std::env::var(name) {
            vars.push_str(&format!("{name}={value}\n"));
        }
    }
    // The collector's public address, for the links in owners' mails (which may be sent when no visitor's
    // request names it): here, where it runs locally; the environment may say otherwise (a tunnel).
    let origin = std::env::var("LEADGATE_ORIGIN").unwrap_or_else(|_| format!("http://127.0.0.1:{}", o.port));
    vars.push_str(&format!("LEADGATE_ORIGIN={origin}\n"));
    // Named admin tokens (`name=token,...`), when the environment has them: the audit trail names who acts.
    if let Ok(named) = std::env::var("ADMIN_TOKENS") {
        vars.push_str(&format!("ADMIN_TOKENS={named}\n"));
    }
    // Read-only tokens for the dashboard (`name=token,...`).
    if let Ok(named) = std::env::var("VIEWER_TOKENS") {
        vars.push_str(&format!("VIEWER_TOKENS={named}\n"));
    }
    // The mail API key: from the environment, else a stand-in that the local mailbox accepts (this
    // function only ever runs the collector locally).
    if let Some(mail) = forms.mail.as_ref().filter(|m| m.provider != shared::config::MailProvider::Cloudflare) {
        let key = std::env::var(&mail.key).unwrap_or_else(|_| "local-dev-mail-key".into());
        vars.push_str(&format!("{}={key}\n", mail.key));
    }
    // The upgrade test runs a collector as the single-object layout's Worker did (see `cloud::single_object`).
    if std::env::var("LEADGATE_SINGLE_OBJECT").as_deref() == Ok("1") {
        vars.push_str("LEADGATE_SINGLE_OBJECT=1\n");
    }
    // The analytics' flush window (see `protocol::analytics`) and how long an isolate serves its copy of the
    // published forms (`cloud::FORMS_TTL_MS`), which the tests shorten so as not to wait.
    for name in ["LEADGATE_FLUSH_MS", "LEADGATE_FORMS_TTL_MS"] {
        if let Ok(ms) = std::env::var(name) {
            if ms.parse::<u64>().is_ok() {
                vars.push_str(&format!("{name}={ms}\n"));
            }
        }
    }
    let vars: String = vars.lines().filter(|l| !o.without.iter().any(|w| l.starts_with(&format!("{w}=")))).map(|l| format!("{l}\n")).collect();
    std::fs::write(o.state.join(".dev.vars"), vars).map_err(|e| e.to_string())?;
    let mut cmd = Command::new(npm_bin().join("wrangler"));
    // Both Workers in one workerd: the first config is the one on the port.
    cmd.arg("dev")
        .arg("-c")
        .arg(wrangler_config(&o.state, COLLECTOR))
        .arg("-c")
        .arg(wrangler_config(&o.state, OPERATOR))
        .args(["--ip", "127.0.0.1", "--port", &o.port.to_string(), "--test-scheduled", "--show-interactive-dev-session=false"])
        .arg("--persist-to")
        .arg(o.state.join("data"))
        .env("PATH", path_with_npm_bin())
        .envs(WRANGLER_ENV.iter().copied())
        .current_dir(&o.state);
    if let Some(port) = inspector {
        cmd.args(["--inspector-port", &port.to_string()]);
    }
    println!(
        "$ wrangler dev -c {} -c {} --port {} --persist-to {}",
        wrangler_config(&o.state, COLLECTOR).display(),
        wrangler_config(&o.state, OPERATOR).display(),
        o.port,
        o.state.join("data").display()
    );
    cmd.spawn().map_err(|e| format!("wrangler: {e}"))
}

/// A port nobody listens on right now on the loopback host, as the system hands one out.
fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| format!("no free port: {e}"))
}

/// `cargo xtask serve`: the collector alone, in the foreground. The tests and benchmarks start it, often
/// several at once (the end-to-end suites run side by side): wrangler probes for its inspector port from
/// 9229 up, so two starting together could pick the same one and one fail to bind; each gets its own
/// port from the system instead.
pub fn serve(o: &Options) -> Result {
    let secrets = Secrets::resolve(&o.state);
    let mut child = start_collector(o, &secrets, Some(free_port()?))?;
    let status = child.wait().map_err(|e| e.to_string())?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("wrangler dev exited: {status}"))
    }
}

/// `cargo xtask dev`: collector, demo receiver and mailbox, and cron ticker, until Ctrl-C.
pub fn dev(o: &Options) -> Result {
    let secrets = Secrets::resolve(&o.state);
    let mut receiver = Command::new(npm_bin().join("node"))
        .arg(root().join("tests/receiver.mjs"))
        .args(["--port", &RECEIVER_PORT.to_string()])
        .env("WEBHOOK_SECRET", &secrets.webhook_secret)
        .spawn()
        .map_err(|e| format!("receiver: {e}"))?;
    let mut collector = start_collector(o, &secrets, None)?;
    let port = o.port;
    if wait_ready(port, Duration::from_secs(60)) {
        let base = format!("http://127.0.0.1:{port}");
        println!("\n  Leadgate collector  {base}");
        println!("  demo pages          {base}/  ({base}/newsletter.html, {base}/ebook.html, {base}/giveaway.html)");
        println!("  admin API           curl -H 'Authorization: Bearer {}' {base}/v1/admin/leads", secrets.admin_token);
        println!("  webhooks            http://127.0.0.1:{RECEIVER_PORT}/ (deliveries and signature checks print below)");
        println!("  mailbox             {base}/dev/mailbox  (double opt-in mails; click their links)");
        println!("  webhook secret      {}", secrets.webhook_secret);
        println!("  state               {}\n", o.state.display());
        seed_files(o, &secrets.admin_token);
    } else {
        eprintln!("xtask: the collector did not answer on port {port} within 60 s; see wrangler's output above");
    }
    // `wrangler dev` does not fire cron triggers by itself; tick the scheduled handler every minute like
    // production does, so failed deliveries are retried while developing.
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_secs(60));
        let _ = http_get(port, "/__scheduled?cron=*+*+*+*+*");
    });
    let status = collector.wait().map_err(|e| e.to_string())?;
    let _ = receiver.kill();
    if status.success() {
        Ok(())
    } else {
        Err(format!("wrangler dev exited: {status}"))
    }
}

/// Uploads the demo's gated files (`xtask/assets/<asset key>`) into the local R2 bucket through the admin
/// API, the way an owner uploads theirs.
fn seed_files(o: &Options, admin_token: &str) {
    let Ok(forms) = config::load(&o.config) else { return };
    for asset in forms.forms.iter().filter_map(|f| f.asset.as_ref()) {
        let Ok(bytes) = std::fs::read(root().join("xtask/assets").join(&asset.key)) else { continue };
        match http_put(o.port, &format!("/v1/admin/files/{}", asset.key), admin_token, &bytes) {
            Some(r) if r.starts_with("HTTP/1.1 201") => println!("  seeded              {} ({} bytes) into the local R2 bucket", asset.key, bytes.len()),
            other => eprintln!("xtask: seeding {} failed: {}", asset.key, other.unwrap_or_default().lines().next().unwrap_or("no answer")),
        }
    }
}

/// A minimal HTTP/1.1 PUT with a bearer token on 127.0.0.1.
fn http_put(port: u16, path: &str, token: &str, body: &[u8]) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    write!(s, "PUT {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len())
        .ok()?;
    s.write_all(body).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// Polls `/v1/health` until it answers 200.
fn wait_ready(port: u16, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if http_get(port, "/v1/health").is_some_and(|r| r.starts_with("HTTP/1.1 200")) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    false
}

/// A minimal HTTP/1.1 GET on 127.0.0.1, enough for health checks and cron ticks.
fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}
