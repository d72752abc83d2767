//! `cargo xtask bench`, part three: the collector on local workerd (`wrangler dev`, as the tests run it):
// accepted submissions per second and their latency at concurrency 8 and 32, and what that means for the
// one ledger object (each accepted lead is two ledger requests: the claim, and the settle that writes the index row), the same
// address submitted in parallel (every request waits for the one holding the address), then imports up to
// 10,000 leads and the time of the funnel, the daily counts and an admin list page over them.
//
// Usage: node xtask/js/intake-bench.mjs [submissions per run]
// Each run submits distinct addresses to a newsletter form with one webhook endpoint (a local receiver
// answering 204), so the ledger also queues and delivers one delivery per lead while the run goes on.
import { startReceiver } from "../../tests/receiver.mjs";
import { newsletterConfig, secrets, startCollector } from "../../tests/support.mjs";

const N = Number(process.argv[2] || 400);
const receiver = await startReceiver({ secret: secrets.WEBHOOK_SECRET });
const collector = await startCollector(newsletterConfig(receiver.url));

const post = (email) =>
  fetch(`${collector.base}/v1/leads`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ form: "bench", fields: { email, first_name: "Ada" }, consent: ["marketing_email"], meta: { elapsed_ms: 9000 } }),
  });

/** Submits `emails` with `concurrency` requests in flight; returns leads/s and latency percentiles. */
async function run(emails, concurrency) {
  const latencies = [];
  let next = 0;
  let failed = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < emails.length) {
        const email = emails[next++];
        const t = performance.now();
        const r = await post(email);
        await r.arrayBuffer();
        latencies.push(performance.now() - t);
        if (r.status !== 201) failed++;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (p) => latencies[Math.min(latencies.length - 1, Math.floor((latencies.length * p) / 100))];
  return { rate: emails.length / seconds, p50: at(50), p99: at(99), failed };
}

try {
  // Cold start: the first answer of a fresh isolate (the runtime loads and compiles the Worker's wasm),
  // against a warm answer of the same route.
  const colds = [collector.firstAnswerMs];
  for (let i = 0; i < 2; i++) {
    await collector.restart();
    colds.push(collector.firstAnswerMs);
  }
  const warm = [];
  for (let i = 0; i < 20; i++) {
    const t = performance.now();
    await (await fetch(`${collector.base}/v1/health`)).arrayBuffer();
    warm.push(performance.now() - t);
  }
  warm.sort((a, b) => a - b);
  console.log(`cold start (first answer of a fresh isolate, 3 starts): ${colds.map((c) => c.toFixed(0)).join(", ")} ms; warm answer: median ${warm[10].toFixed(1)} ms`);

  // Warm the isolate, the ledger object and its SQLite file.
  await run(Array.from({ length: 40 }, (_, i) => `warm-${i}@example.com`), 8);
  for (const c of [8, 32]) {
    const r = await run(Array.from({ length: N }, (_, i) => `c${c}-${i}@example.com`), c);
    console.log(
      `intake, concurrency ${c}: ${r.rate.toFixed(0)} leads/s (${N} leads, ${r.failed} not 201), p50 ${r.p50.toFixed(0)} ms, p99 ${r.p99.toFixed(0)} ms; ` +
        `ledger object: ${(2 * r.rate).toFixed(0)} requests/s`,
    );
  }
  const same = await run(Array.from({ length: 50 }, () => "same@example.com"), 50);
  console.log(`one address, 50 at once: ${same.rate.toFixed(0)} submissions/s, p50 ${same.p50.toFixed(0)} ms, p99 ${same.p99.toFixed(0)} ms, ${same.failed} not 201`);
  const deadline = Date.now() + 60_000;
  const expected = 40 + 2 * N + 1;
  while (new Set(receiver.deliveries.filter((d) => d.status === 204).map((d) => d.id)).size < expected && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
  }
  console.log(`deliveries by the ledger's alarm: ${new Set(receiver.deliveries.filter((d) => d.status === 204).map((d) => d.id)).size} of ${expected} delivered`);

  // Imports of 1,000 rows each up to 10,000 leads, then what the admin dashboard asks of them.
  const auth = { authorization: `Bearer ${secrets.ADMIN_TOKEN}` };
  let imported = 0;
  const importStarted = performance.now();
  for (let batch = 0; batch < 10; batch++) {
    const rows = ["email,first_name"].concat(Array.from({ length: 1000 }, (_, i) => `import${batch}-${i}@example.com,Row ${i}`)).join("\n");
    const q = new URLSearchParams({ form: "bench", batch: `bench-${batch}`, source: ["Messe Hannover", "Callcenter", "Liste X"][batch % 3], basis: "none" });
    const r = await fetch(`${collector.base}/v1/admin/import?${q}`, { method: "POST", headers: { ...auth, "content-type": "text/csv" }, body: rows });
    if (r.status !== 200) throw new Error(`import: ${r.status}`);
    imported += (await r.json()).created;
  }
  const importSeconds = (performance.now() - importStarted) / 1000;
  console.log(`import: ${imported} rows in ${importSeconds.toFixed(1)} s, ${(imported / importSeconds).toFixed(0)} rows/s`);
  const timed = async (path) => {
    const times = [];
    let body;
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      body = await (await fetch(`${collector.base}${path}`, { headers: auth })).json();
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    return { ms: times[2], body };
  };
  const funnel = await timed("/v1/admin/funnel?by=source");
  const leads = funnel.body.groups.reduce((n, g) => n + g.leads, 0);
  console.log(`funnel over ${leads} leads (one ledger request): median ${funnel.ms.toFixed(0)} ms`);
  const daily = await timed("/v1/admin/daily?days=90&by=source");
  console.log(`leads per day, 90 days (one ledger request): median ${daily.ms.toFixed(0)} ms`);
  const page = await timed("/v1/admin/leads?limit=100");
  console.log(`admin list page of 100 leads (one ledger request, one bulk read): median ${page.ms.toFixed(0)} ms`);
} finally {
  await collector.stop();
  await receiver.close();
}
