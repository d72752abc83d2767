//! Shared set-up for the end-to-end tests: free ports, a collector in the real Workers runtime, a static
//! page server on another origin, and headless Debian Chromium through playwright-core.
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync, mkdirSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const artifacts = path.join(root, "tests", "artifacts");
mkdirSync(artifacts, { recursive: true });

/** A port nobody listens on right now. */
export async function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export const secrets = {
  // The collector refuses admin tokens under 32 characters.
  ADMIN_TOKEN: "test-admin-token-" + Array.from({ length: 4 }, () => Math.random().toString(36).slice(2, 10)).join(""),
  WEBHOOK_SECRET: "whsec_" + Buffer.from(Array.from({ length: 24 }, (_, i) => (i * 37 + 11) % 256)).toString("base64"),
  CLIENT_ID_SECRET: "test-client-id-secret",
  SIGNING_SECRET: "test-signing-secret-" + Math.random().toString(36).slice(2),
};

/**
 * The config of a plain newsletter form `id` (an email, a first name, one marketing consent) whose one
 * webhook endpoint, `crm`, is `webhookUrl`: what the benchmarks and several suites submit to.
 */
export function newsletterConfig(webhookUrl, id = "bench") {
  return `
[[forms]]
id = "${id}"
kind = "newsletter"
fields = [{ name = "email", required = true }, { name = "first_name" }]
consents = [{ id = "marketing_email", text = { en = "Send me the newsletter." } }]

[[forms.webhooks]]
id = "crm"
url = "${webhookUrl}"
`;
}

/**
 * Starts `cargo xtask serve` (wrangler dev -> workerd, KV persisted in a fresh folder) with `configToml`.
 * `env` overrides the collector's secrets; `without` names secrets it must run without.
 * Returns `{ base, port, state, stop(), restart() }` once `/v1/health` answers.
 */
export async function startCollector(configToml, { state, env = {}, without = [] } = {}) {
  state = state || mkdtempSync(path.join(os.tmpdir(), "leadgate-e2e-"));
  const config = path.join(state, "leadgate.toml");
  writeFileSync(config, configToml);
  const port = await freePort();
  let child;
  const output = [];
  const start = async () => {
    const omit = without.flatMap((name) => ["--without-secret", name]);
    child = spawn(process.env.CARGO || "cargo", ["xtask", "serve", "--port", String(port), "--config", config, "--state", state, ...omit], {
      cwd: root,
      env: { ...process.env, ...secrets, ...env },
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout.on("data", (d) => output.push(String(d)));
    child.stderr.on("data", (d) => output.push(String(d)));
    const deadline = Date.now() + 90_000;
    while (Date.now() < deadline) {
      try {
        // The first request the runtime takes starts the Worker's isolate (loads and compiles the wasm):
        // its time is the cold start.
        const t = performance.now();
        const r = await fetch(`http://127.0.0.1:${port}/v1/health`);
        if (r.ok) {
          timing.firstAnswerMs = performance.now() - t;
          return;
        }
      } catch {}
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 300));
    }
    throw new Error("collector did not start:\n" + output.join(""));
  };
  const timing = { firstAnswerMs: null };
  const stop = async (signal = "SIGTERM") => {
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    try {
      process.kill(-child.pid, signal);
    } catch {}
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
  };
  await start();
  return {
    base: `http://127.0.0.1:${port}`,
    port,
    state,
    output,
    /** The process group leader of the running collector (`cargo xtask serve`; workerd is among its descendants). */
    get pid() {
      return child.pid;
    },
    /** How long the first answer of the last start took (a fresh isolate), in ms. */
    get firstAnswerMs() {
      return timing.firstAnswerMs;
    },
    stop,
    restart: async () => {
      await stop("SIGKILL");
      // Prove the runtime is really gone (workerd is a grandchild) before starting a new one.
      const deadline = Date.now() + 15_000;
      for (;;) {
        try {
          await fetch(`http://127.0.0.1:${port}/v1/health`);
        } catch {
          break;
        }
        if (Date.now() > deadline) throw new Error("the collector still answers after SIGKILL");
        await new Promise((r) => setTimeout(r, 100));
      }
      await start();
    },
  };
}

/** Serves `pages` (path -> html) from another origin, like a customer's website. */
export async function startSite(pages) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://x");
    const entry = pages[url.pathname];
    if (!entry) {
      res.writeHead(404);
      return res.end();
    }
    const { html, headers } = typeof entry === "string" ? { html: entry, headers: {} } : entry;
    res.writeHead(200, { "content-type": "text/html; charset=utf-8", ...headers });
    res.end(html);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  // A test that fails before closing its site must still end: the open server would keep the process alive.
  server.unref();
  const port = server.address().port;
  return { base: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(r)) };
}

/** Headless Debian Chromium (with `extraArgs` on its command line); never a downloaded browser. */
export async function launchBrowser(extraArgs = []) {
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: [
      ...extraArgs,
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
}

/** Polls `fn` until it returns a truthy value or `ms` pass. */
export async function eventually(fn, ms = 15_000, what = "condition") {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    last = await fn();
    if (last) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Every stored lead, following the admin API's cursor through all pages. */
export async function adminLeads(collector) {
  const leads = [];
  let cursor = null;
  do {
    const q = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
    const r = await fetch(`${collector.base}/v1/admin/leads?limit=100${q}`, { headers: { authorization: `Bearer ${secrets.ADMIN_TOKEN}` } });
    if (!r.ok) throw new Error(`admin list: ${r.status}`);
    const page = await r.json();
    leads.push(...page.leads);
    cursor = page.cursor;
  } while (cursor);
  return leads;
}

/** Runs the Worker's scheduled handler once, as the every-minute cron trigger does in production. */
export async function tick(collector) {
  const r = await fetch(`${collector.base}/__scheduled?cron=*+*+*+*+*`);
  if (!r.ok) throw new Error(`scheduled run: ${r.status}`);
}

/**
 * POSTs a submission as JSON, the way an integration or the widget does: `{form, fields, consent, meta}`,
 * with `meta.elapsed_ms` at a human 9 s unless the submission says otherwise (faster counts as a bot).
 */
export function postLead(collector, { form, fields, consent = [], meta = {} }) {
  return fetch(`${collector.base}/v1/leads`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ form, fields, consent, meta: { elapsed_ms: 9000, ...meta } }),
  });
}

/** GET an admin path as JSON. */
export async function admin(collector, p, init = {}) {
  const r = await fetch(`${collector.base}${p}`, { ...init, headers: { authorization: `Bearer ${secrets.ADMIN_TOKEN}`, ...(init.headers || {}) } });
  if (!r.ok) throw new Error(`${p}: ${r.status}`);
  return r.json();
}

/** Runs `fn` over `items` with at most `n` at a time. */
export async function pool(items, n, fn) {
  const out = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i], i);
      }
    })
  );
  return out;
}

/** Waits long enough that the collector's bot check (a form sent within 2 s of being shown) takes the
 * submission for a person's, as it must for a visitor who reads before typing. The widget counts from the
 * moment it rendered, which on a loaded machine can be well after navigation, so the pause counts from now:
 * callers have already seen the form, so it was shown before this point. */
export async function humanPause(page) {
  const from = await page.evaluate(() => performance.now());
  await page.waitForFunction((t) => performance.now() > t + 2200, from, { polling: 100 });
}
