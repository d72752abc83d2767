//! `cargo xtask bench`, part four: CPU time per accepted submission on local workerd, Leadgate's collector against the plain-JavaScript reference collector (`xtask/js/reference/worker.js`) doing the same work.
//
// Both run through `wrangler dev` on the same runtime, with the same forms config, secrets and webhook
// receiver. For each, in alternating rounds: warm up, read the CPU time (user + system) of its workerd
// processes from /proc, submit N new addresses at concurrency 8, wait until the receiver has every
// delivery (so the alarm's signing and sending is counted too), and read the CPU time again. The result is
// CPU milliseconds per submission, and Leadgate's over the reference's (goal: at most 1.0). The part spent on
// V8's background threads (tiering hot code up to the optimising compiler, GC helpers) is reported beside it,
// with the ratio without it: a request's CPU limit counts its isolate's thread, and a large wasm module
// tiers up more code in the background than the reference's JavaScript does.
//
// The machine's speed drifts between minutes (a shared VM: the reference alone moved from 9.7 to 14 ms per
// submission within an hour), so the rounds alternate and each of Leadgate's rounds is compared with the
// reference's round next to it: the median of those paired ratios is the figure least moved by the drift.
//
// Usage: node xtask/js/cpu-bench.mjs [submissions per round] [rounds]
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { startReceiver } from "../../tests/receiver.mjs";
import { spread } from "./spread.mjs";
import { freePort, newsletterConfig, root, secrets, startCollector } from "../../tests/support.mjs";

const N = Number(process.argv[2] || 400);
const ROUNDS = Number(process.argv[3] || 6);
const TICKS = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim());

/** The parent and the CPU seconds (user + system) of a `/proc/.../stat` line, read after its command. */
function ticks(stat) {
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // After the command: state, ppid, ..., utime is field 14 and stime field 15 of the whole line.
  return { ppid: Number(rest[1]), cpu: (Number(rest[11]) + Number(rest[12])) / TICKS };
}

/**
 * CPU seconds (user + system) of every `workerd` process below `ancestor`: `total`, and `background`, the part
 * spent on V8's worker threads (named `V8 DefaultWorke...`: the optimising compiler tiering hot functions up,
 * and GC helpers), which no request waits for.
 */
function workerdCpu(ancestor) {
  const procs = new Map();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      procs.set(Number(name), { comm: stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")), ...ticks(stat) });
    } catch {
      continue; // it ended meanwhile
    }
  }
  const below = (pid) => {
    for (let p = procs.get(pid)?.ppid; p; p = procs.get(p)?.ppid) if (p === ancestor) return true;
    return false;
  };
  let total = 0;
  let background = 0;
  let count = 0;
  for (const [pid, p] of procs) {
    if (!(p.comm.startsWith("workerd") && below(pid))) continue;
    total += p.cpu;
    count++;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
        if (stat.slice(stat.indexOf("(") + 1).startsWith("V8 ")) background += ticks(stat).cpu;
      } catch {
        continue; // the thread ended meanwhile
      }
    }
  }
  if (count === 0) throw new Error(`no workerd process below ${ancestor}`);
  return { total, background };
}

/** Starts the reference collector with `wrangler dev` (the way `cargo xtask serve` starts Leadgate's). */
async function startReference(formsJson) {
  const state = mkdtempSync(path.join(os.tmpdir(), "leadgate-reference-"));
  const port = await freePort();
  writeFileSync(
    path.join(state, "wrangler.json"),
    JSON.stringify({
      name: "reference",
      main: path.join(root, "xtask/js/reference/worker.js"),
      compatibility_date: "2026-11-01",
      kv_namespaces: [{ binding: "LEADS", id: "reference-local" }],
      durable_objects: { bindings: [{ name: "LEDGER", class_name: "Ledger" }] },
      migrations: [{ tag: "v1", new_sqlite_classes: ["Ledger"] }],
      vars: { LEADGATE_FORMS: formsJson },
    }),
  );
  writeFileSync(path.join(state, ".dev.vars"), Object.entries(secrets).map(([k, v]) => `${k}=${v}\n`).join(""));
  const output = [];
  const child = spawn(path.join(root, "node_modules/.bin/wrangler"), ["dev", "-c", "wrangler.json", "--ip", "127.0.0.1", "--port", String(port), "--persist-to", "data", "--show-interactive-dev-session=false"], {
    cwd: state,
    env: {
      ...process.env,
      PATH: `${path.join(root, "node_modules/.bin")}:${process.env.PATH}`,
      CLOUDFLARE_CF_FETCH_ENABLED: "false",
      WRANGLER_SEND_METRICS: "false",
      WRANGLER_SEND_ERROR_REPORTS: "false",
    },
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout.on("data", (d) => output.push(String(d)));
  child.stderr.on("data", (d) => output.push(String(d)));
  const base = `http://127.0.0.1:${port}`;
  for (const deadline = Date.now() + 60_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 300))) {
    try {
      if ((await fetch(`${base}/v1/health`)).ok) {
        return {
          base,
          pid: child.pid,
          output,
          stop: async () => {
            const exited = new Promise((r) => child.once("exit", r));
            try {
              process.kill(-child.pid, "SIGTERM");
            } catch {}
            await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
          },
        };
      }
    } catch {}
    if (child.exitCode !== null) break;
  }
  throw new Error("the reference collector did not start:\n" + output.join(""));
}

/** Submits `emails` to `base` with 8 in flight; throws unless every answer is 201. */
async function submit(base, emails) {
  let next = 0;
  const failures = [];
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < emails.length) {
        const email = emails[next++];
        const r = await fetch(`${base}/v1/leads`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ form: "bench", fields: { email, first_name: "Ada" }, consent: ["marketing_email"], meta: { elapsed_ms: 9000 } }),
        });
        const body = await r.text();
        if (r.status !== 201) failures.push(`${r.status} ${body}`);
      }
    }),
  );
  if (failures.length) throw new Error(`${failures.length} submissions failed, e.g. ${failures[0]}`);
}

const receiver = await startReceiver({ secret: secrets.WEBHOOK_SECRET });
const leadgate = await startCollector(newsletterConfig(receiver.url));
// The same forms, as the collector's own config loader normalised them.
const formsJson = JSON.parse(readFileSync(path.join(leadgate.state, "collector.json"), "utf8")).vars.LEADGATE_FORMS;
const reference = await startReference(formsJson);

/** Waits until the receiver holds a verified delivery for every address in `emails`. */
async function delivered(emails) {
  const want = new Set(emails);
  for (const deadline = Date.now() + 120_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
    const got = receiver.deliveries.filter((d) => d.verified && want.has(d.payload.data.fields.email));
    if (new Set(got.map((d) => d.payload.data.fields.email)).size === want.size) return;
  }
  const bad = receiver.deliveries.find((d) => !d.verified);
  throw new Error(`not every delivery arrived verified${bad ? `: ${bad.error}` : ""}`);
}

/** CPU ms per submission for one round of `n` new addresses to `target`. */
async function round(name, target, n, tag) {
  const emails = Array.from({ length: n }, (_, i) => `${name}-${tag}-${i}@example.com`);
  const before = workerdCpu(target.pid);
  const started = performance.now();
  await submit(target.base, emails);
  await delivered(emails);
  const seconds = (performance.now() - started) / 1000;
  const after = workerdCpu(target.pid);
  return { ms: ((after.total - before.total) * 1000) / n, background: ((after.background - before.background) * 1000) / n, seconds };
}

try {
  const targets = { leadgate, reference };
  for (const [name, target] of Object.entries(targets)) {
    const warm = Array.from({ length: 50 }, (_, i) => `${name}-warm-${i}@example.com`);
    await submit(target.base, warm);
    await delivered(warm);
  }
  const results = { leadgate: [], reference: [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const name of r % 2 ? ["reference", "leadgate"] : ["leadgate", "reference"]) {
      results[name].push(await round(name, targets[name], N, `r${r}`));
    }
  }
  const median = (xs) => {
    const sorted = [...xs].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  };
  const ms = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, v.map((x) => x.ms)]));
  for (const name of ["leadgate", "reference"]) {
    console.log(
      `CPU per accepted submission, ${name === "leadgate" ? "Leadgate (Rust)" : "reference (plain JavaScript)"}: ${ms[name].map((x) => x.toFixed(2)).join(", ")} ms over ${ROUNDS} rounds of ${N} ` +
        `(workerd user+system, with the webhook delivery; ${results[name].map((x) => (N / x.seconds).toFixed(0)).join(", ")} leads/s; ` +
        `of it on V8's background threads: ${results[name].map((x) => x.background.toFixed(2)).join(", ")} ms)`,
    );
  }
  const foreground = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, Math.min(...v.map((x) => x.ms - x.background))]));
  console.log(`CPU ratio without V8's background threads: ${(foreground.leadgate / foreground.reference).toFixed(2)} (best rounds)`);
  console.log(`CPU ratio, Leadgate over the reference: ${(Math.min(...ms.leadgate) / Math.min(...ms.reference)).toFixed(2)} (best rounds; goal <= 1.0)`);
  const paired = ms.leadgate.map((x, i) => x / ms.reference[i]);
  console.log(`CPU ratio, round by round (each against the reference's round beside it): ${paired.map((x) => x.toFixed(2)).join(", ")}; median ${median(paired).toFixed(2)}`);
  // How far that median moves with the rounds' noise alone: the pairs drawn again at random (with
  // replacement), see `spread.mjs`.
  const [low, high] = spread(paired.length, (picks) => median(picks.map((i) => paired[i])));
  console.log(`CPU ratio, median of the pairs in 90% of redrawn runs: ${low.toFixed(2)} to ${high.toFixed(2)} (the spread one run's figure has from noise alone)`);
} finally {
  await reference.stop();
  await leadgate.stop();
  await receiver.close();
}
