//! `cargo xtask bench`, form analytics (see `protocol::analytics`): what page views cost the storage and the
// intake. A stream of page views (each the embed script's request and the widget's report) at a steady rate,
// with the collector's real flush window: the storage requests they cause per 1,000 page views (the
// collector logs one line per write to a views object), the counting error (views reported against views
// counted), and the intake's latency with and without that stream beside it.
//
// Usage: node xtask/js/analytics-bench.mjs [page views, default 1000] [page views per second, default 20]
import { fmt, intake } from "./load.mjs";
import { secrets, startCollector } from "../../tests/support.mjs";

const VIEWS = Number(process.argv[2] || 1000);
const RATE = Number(process.argv[3] || 20);
const collector = await startCollector(`
[[forms]]
id = "page"
kind = "newsletter"
fields = [{ name = "email", required = true }, { name = "first_name" }]
`);
const auth = { authorization: `Bearer ${secrets.ADMIN_TOKEN}` };
const report = async () => (await (await fetch(`${collector.base}/v1/admin/forms/page/analytics`, { headers: auth })).json()).total;
const writes = () => collector.output.join("").split("\n").filter((l) => l.includes("analytics flush:")).length;

/** One page view as a browser makes it: the script, then the widget's report when the page is hidden. */
async function pageView(i) {
  await (await fetch(`${collector.base}/embed/page.js`)).arrayBuffer();
  const body = { form: "page", source: ["ads", "fair", "news"][i % 3], view: 1 };
  if (i % 2) body.start = 1;
  if (i % 2 && i % 5 === 1) body.abandon = ["", "email"];
  const r = await fetch(`${collector.base}/v1/beacon`, { method: "POST", body: JSON.stringify(body) });
  if (r.status !== 204) throw new Error(`beacon: ${r.status} ${await r.text()}`);
}

try {
  await intake(collector.base, ["page"], 200, 8, "warm");
  const alone = await intake(collector.base, ["page"], 400, 8, "alone");
  console.log(`intake alone, concurrency 8: ${fmt(alone)}`);

  // Page views on a fixed schedule (not waiting for one another), with the intake measured beside them.
  const before = writes();
  const started = performance.now();
  const views = [];
  const stream = (async () => {
    for (let i = 0; i < VIEWS; i++) {
      const due = started + (i * 1000) / RATE;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      views.push(pageView(i));
    }
    await Promise.all(views);
  })();
  const busy = [];
  await new Promise((r) => setTimeout(r, 2_000));
  for (let round = 0; round < 3; round++) busy.push(await intake(collector.base, ["page"], 400, 8, `busy${round}`));
  await stream;
  const seconds = (performance.now() - started) / 1000;
  // The last window's write: one flush window (10 s) after the last report, and a margin.
  const deadline = Date.now() + 30_000;
  let counted;
  while (Date.now() < deadline) {
    counted = await report();
    if (counted.views >= VIEWS) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  const written = writes() - before;
  const p99 = Math.max(...busy.map((b) => b.p99));
  const p50 = busy.map((b) => b.p50).sort((a, b) => a - b)[1];
  console.log(`intake beside ${RATE} page views/s (3 runs): p50 ${p50.toFixed(0)} ms, worst p99 ${p99.toFixed(0)} ms (p99 x${(p99 / alone.p99).toFixed(2)} of alone)`);
  console.log(`page views: ${VIEWS} in ${seconds.toFixed(1)} s; counted ${counted.views} views, ${counted.loads} loads, ${counted.starts} starts, ${counted.abandons} abandons (error ${(((counted.views - VIEWS) / VIEWS) * 100).toFixed(2)}%)`);
  console.log(`storage: ${written} writes to the views object for ${VIEWS} page views (${((written * 1000) / VIEWS).toFixed(1)} per 1,000; each page view is 2 requests to the collector and no storage request of its own)`);
} finally {
  await collector.stop();
}
