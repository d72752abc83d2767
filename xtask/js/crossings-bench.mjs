//! `cargo xtask bench crossings`: how often an accepted submission crosses between the wasm and JavaScript in each Worker (the collector, and the operator with the ledger object and its delivery), counted exactly, by kind.
//
// Every call from the wasm into JavaScript goes through one of the glue's imports (a Workers API, a
// `js_sys` helper, a closure adapter), and every call back into the wasm through one of its exports. The
// bench copies each built Worker, wraps every import and export of its glue in a counter, and runs the
// copies on local workerd (`wrangler dev`, as `cargo xtask serve` does). A Worker prints its counters at
// each request it takes (the glue reads a request's `cf` once for each request it converts). Two health
// requests and two requests the operator serves (the OpenAPI description) bracket N sequential new
// submissions, each answered 201 and delivered to a webhook receiver (so the ledger's alarm and its signed
// POST are in the count); the counts of the bracket itself are subtracted. What is left, divided by N, is
// per submission. The operator's count also holds whatever its cron tick did meanwhile (nothing is due).
//
// Usage: node xtask/js/crossings-bench.mjs [submissions]
import { mkdtempSync, readFileSync, writeFileSync, copyFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { startReceiver } from "../../tests/receiver.mjs";
import { newsletterConfig, root, secrets, startCollector } from "../../tests/support.mjs";

const N = Number(process.argv[2] || 200);

// The counters: `imports` wraps each function the wasm imports, `exports` each function it exports. A
// kind is the name without wasm-bindgen's hash suffix (so it reads the same across builds) and, for an
// import, the start of its JavaScript, which says what it calls.
const counting = `
const __kind = (k, f) => {
  const body = String(f).replace(/^function\\s*\\w*\\([^)]*\\)\\s*\\{\\s*/, "").replace(/\\s+/g, " ");
  return k.replace(/_[0-9a-f]{16}$/, "") + (k.startsWith("__wbg") ? "  " + body.slice(0, 70) : "");
};
const __counts = { in: {}, out: {} };
function __countImports(imports) {
  const m = imports["./index_bg.js"];
  for (const k of Object.keys(m)) {
    const f = m[k], n = __kind(k, f);
    if (typeof f !== "function") continue;
    __counts.out[n] = 0;
    m[k] = function (...a) {
      __counts.out[n]++;
      if (k.startsWith("__wbg_cf_")) console.log("CROSSINGS " + __worker + " " + JSON.stringify(__counts));
      return f.apply(this, a);
    };
  }
  return imports;
}
function __countExports(exports) {
  const o = {};
  for (const k of Object.keys(exports)) {
    const f = exports[k], n = __kind(k, f);
    if (typeof f !== "function") { o[k] = f; continue; }
    __counts.in[n] = 0;
    o[k] = function (...a) { __counts.in[n]++; return f.apply(this, a); };
  }
  return o;
}
`;
/** A copy of `worker`'s build whose glue counts, and the path of its `index.js`. */
function counted(worker) {
  const build = path.join(root, "edge/build", worker);
  const copy = mkdtempSync(path.join(os.tmpdir(), `leadgate-crossings-${worker}-`));
  let glue = readFileSync(path.join(build, "index.js"), "utf8");
  const instance = /new WebAssembly\.Instance\((\w+),(\w+)\(\)\),(\w+)=(\w+)\.exports/g;
  if (!instance.test(glue)) throw new Error(`the ${worker}'s glue has no \`new WebAssembly.Instance(..)\` this bench knows how to wrap`);
  glue = glue.replace(instance, (_, wasm, imports, exportsVar, inst) => `new WebAssembly.Instance(${wasm},__countImports(${imports}())),${exportsVar}=__countExports(${inst}.exports)`);
  // After the module's imports (ES imports must come first).
  const firstStatement = glue.indexOf("var ");
  glue = glue.slice(0, firstStatement) + `const __worker = ${JSON.stringify(worker)};` + counting + glue.slice(firstStatement);
  writeFileSync(path.join(copy, "index.js"), glue);
  copyFileSync(path.join(build, "index_bg.wasm"), path.join(copy, "index_bg.wasm"));
  return path.join(copy, "index.js");
}

const receiver = await startReceiver({ secret: secrets.WEBHOOK_SECRET });
const collector = await startCollector(newsletterConfig(receiver.url), {
  env: { LEADGATE_COLLECTOR_MAIN: counted("collector"), LEADGATE_OPERATOR_MAIN: counted("operator") },
});

async function submit(emails) {
  for (const email of emails) {
    const r = await fetch(`${collector.base}/v1/leads`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ form: "bench", fields: { email, first_name: "Ada" }, consent: ["marketing_email"], meta: { elapsed_ms: 9000 } }),
    });
    const body = await r.text();
    if (r.status !== 201) throw new Error(`${r.status} ${body}`);
  }
}

/** Both Workers' counters as they printed them last. */
function last() {
  const out = {};
  for (const part of collector.output.join("").split("CROSSINGS ").slice(1)) {
    const line = part.split("\n")[0];
    const space = line.indexOf(" ");
    out[line.slice(0, space)] = JSON.parse(line.slice(space + 1));
  }
  return out;
}

/** Both Workers' counters at the start of a health request and of a request the operator serves. */
async function counters() {
  const seen = collector.output.join("").split("CROSSINGS ").length;
  await (await fetch(`${collector.base}/v1/health`)).text();
  await (await fetch(`${collector.base}/v1/openapi.json`)).text();
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 50))) {
    // The health request, the forwarded one in the collector, and the operator's.
    if (collector.output.join("").split("CROSSINGS ").length >= seen + 3) return last();
  }
  throw new Error("the instrumented Workers printed no counters");
}

/** Waits until the receiver holds a verified delivery for every address in `emails`. */
async function delivered(emails) {
  const want = new Set(emails);
  for (const deadline = Date.now() + 120_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
    const got = new Set(receiver.deliveries.filter((d) => d.verified && want.has(d.payload.data.fields.email)).map((d) => d.payload.data.fields.email));
    if (got.size === want.size) return;
  }
  throw new Error("not every delivery arrived verified");
}

try {
  const warm = ["warm-1@example.com", "warm-2@example.com"];
  await submit(warm);
  await delivered(warm);
  const h0 = await counters();
  const h1 = await counters();
  const emails = Array.from({ length: N }, (_, i) => `crossing-${i}@example.com`);
  await submit(emails);
  await delivered(emails);
  const h2 = await counters();
  for (const worker of ["collector", "operator"]) {
    for (const [way, title] of [["out", "wasm -> JavaScript (imports)"], ["in", "JavaScript -> wasm (exports)"]]) {
      const [a, b, c] = [h0, h1, h2].map((h) => h[worker][way]);
      const per = Object.keys(c)
        .map((k) => [k, (c[k] - b[k] - (b[k] - a[k])) / N])
        .filter(([, v]) => v > 0.001)
        .sort((x, y) => y[1] - x[1]);
      const total = per.reduce((sum, [, v]) => sum + v, 0);
      console.log(`${worker}: crossings per accepted submission, ${title}: ${total.toFixed(1)} over ${per.length} kinds`);
      for (const [k, v] of per) console.log(`  ${v.toFixed(2).padStart(7)}  ${k}`);
    }
  }
} finally {
  await collector.stop();
  await receiver.close();
}
