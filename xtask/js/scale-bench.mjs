//! `cargo xtask bench`, the ledger at scale (see `shard`): intake throughput and latency at concurrency 32
// with one form, four forms and one form of four shards; then 100,000 leads imported into one form with a
// webhook, and what the admin dashboard costs over them (time, and rows SQLite read, from the ledger's own
// log line per question) at 10,000 and 100,000 leads; intake latency at 100,000 leads alone, while the
// dashboard loads in a loop, and while a backlog of deliveries drains.
//
// Usage: node xtask/js/scale-bench.mjs [leads to import, default 100000]
import { startReceiver } from "../../tests/receiver.mjs";
import { secrets, startCollector } from "../../tests/support.mjs";
import { fmt, intake as load, post as postTo } from "./load.mjs";

const TOTAL = Number(process.argv[2] || 100_000);
const receiver = await startReceiver({ secret: secrets.WEBHOOK_SECRET });
const plain = (id, extra = "") => `
[[forms]]
id = "${id}"
kind = "newsletter"
${extra}
fields = [{ name = "email", required = true }, { name = "first_name" }]
`;
const collector = await startCollector(
  ["f1", "f2", "f3", "f4"].map((f) => plain(f)).join("") + plain("wide", "shards = 4") + plain("main") + `
[[forms.webhooks]]
id = "crm"
url = "${receiver.url}"
`,
);
const auth = { authorization: `Bearer ${secrets.ADMIN_TOKEN}` };

const post = (form, email) => postTo(collector.base, form, email);
const intake = (forms, count, concurrency, tag) => load(collector.base, forms, count, concurrency, tag);

/** Imports `rows` rows into `main`, 1,000 a request. */
async function importRows(from, rows) {
  for (let start = from; start < from + rows; start += 1000) {
    const n = Math.min(1000, from + rows - start);
    const csv = ["email,first_name"].concat(Array.from({ length: n }, (_, i) => `bulk${start + i}@example.com,Row`)).join("\n");
    const q = new URLSearchParams({ form: "main", batch: `bulk-${start}`, source: ["Messe", "Callcenter", "Liste"][(start / 1000) % 3], basis: "none" });
    const r = await fetch(`${collector.base}/v1/admin/import?${q}`, { method: "POST", headers: { ...auth, "content-type": "text/csv" }, body: csv });
    if (r.status !== 200) throw new Error(`import: ${r.status} ${await r.text()}`);
  }
}

/** One dashboard load as the admin page makes it: the daily counts and three funnels at once. */
async function dashboard() {
  const from = new Date(Date.now() - 29 * 86_400_000).toISOString().slice(0, 10);
  const paths = ["/v1/admin/daily?days=30&by=form", `/v1/admin/funnel?by=form&from=${from}`, `/v1/admin/funnel?by=source&from=${from}`, `/v1/admin/funnel?by=campaign&from=${from}`];
  await Promise.all(paths.map(async (p) => (await fetch(`${collector.base}${p}`, { headers: auth })).arrayBuffer()));
}

/** The median time of five dashboard loads, and the rows the ledger read for one. */
async function measureDashboard(label) {
  const times = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    await dashboard();
    times.push(performance.now() - t);
  }
  const seen = collector.output.length;
  await dashboard();
  await new Promise((r) => setTimeout(r, 300));
  const rows = collector.output
    .slice(seen)
    .join("")
    .split("\n")
    .map((l) => l.match(/ledger (?:funnel|daily counts): (\d+) rows read/))
    .filter(Boolean)
    .reduce((n, m) => n + Number(m[1]), 0);
  const funnel = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    await (await fetch(`${collector.base}/v1/admin/funnel?by=source`, { headers: auth })).arrayBuffer();
    funnel.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  funnel.sort((a, b) => a - b);
  console.log(`${label}: dashboard load (daily counts + 3 funnels) median ${times[2].toFixed(0)} ms, ${rows} rows read; one funnel over all time median ${funnel[2].toFixed(0)} ms`);
}

try {
  // Warm every form's objects.
  await intake(["f1", "f2", "f3", "f4", "wide", "main"], 60, 8, "warm");
  const one = await intake(["f1"], 400, 32, "one");
  console.log(`intake, 1 form, concurrency 32: ${fmt(one)}`);
  const four = await intake(["f1", "f2", "f3", "f4"], 400, 32, "four");
  console.log(`intake, 4 forms, concurrency 32: ${fmt(four)} (x${(four.rate / one.rate).toFixed(2)} of 1 form)`);
  const wide = await intake(["wide"], 400, 32, "wide");
  console.log(`intake, 1 form of 4 shards, concurrency 32: ${fmt(wide)} (x${(wide.rate / one.rate).toFixed(2)} of 1 form)`);

  // The webhook's endpoint answers 410 and is disabled: the imports' deliveries wait, untried, until it
  // is enabled again (then they are the backlog).
  receiver.setMode({ status: 410 });
  await post("main", "gone@example.com");
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const { endpoints } = await (await fetch(`${collector.base}/v1/admin/endpoints`, { headers: auth })).json();
    if (endpoints?.some((e) => e.id === "crm" && e.disabled)) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const t = performance.now();
  await importRows(0, Math.min(10_000, TOTAL));
  console.log(`import: ${Math.min(10_000, TOTAL)} rows in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  await measureDashboard("10,000 leads in one form");
  if (TOTAL > 10_000) {
    const t2 = performance.now();
    await importRows(10_000, TOTAL - 10_000);
    console.log(`import: ${TOTAL - 10_000} more rows in ${((performance.now() - t2) / 1000).toFixed(1)} s`);
  }
  await measureDashboard(`${TOTAL.toLocaleString("en")} leads in one form`);

  const alone = await intake(["main"], 400, 8, "alone");
  console.log(`intake at ${TOTAL.toLocaleString("en")} leads, concurrency 8, alone: ${fmt(alone)}`);
  let loading = true;
  let loads = 0;
  const loop = (async () => {
    while (loading) {
      await dashboard();
      loads++;
    }
  })();
  const busy = await intake(["main"], 400, 8, "busy");
  loading = false;
  await loop;
  console.log(`... while the dashboard loads in a loop (${loads} loads): ${fmt(busy)} (p99 x${(busy.p99 / alone.p99).toFixed(2)} of alone)`);

  // The backlog: the endpoint is back, and every import's delivery is due at once.
  receiver.setMode({ status: 204 });
  await fetch(`${collector.base}/v1/admin/endpoints/main/crm/enable`, { method: "POST", headers: auth });
  await new Promise((r) => setTimeout(r, 2_000));
  const before = receiver.deliveries.filter((d) => d.status === 204).length;
  const drained = await intake(["main"], 400, 8, "drain");
  const after = receiver.deliveries.filter((d) => d.status === 204).length;
  console.log(
    `... while a backlog of about ${(TOTAL - before).toLocaleString("en")} deliveries drains (${after - before} delivered meanwhile): ${fmt(drained)} (p50 x${(drained.p50 / alone.p50).toFixed(2)} of alone)`,
  );
} finally {
  await collector.stop();
  await receiver.close();
}
