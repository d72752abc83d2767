//! The benchmarks' load: submissions of new addresses with a number of requests in flight, and how their
// rate and latency are printed. Shared by the scale and analytics benchmarks.

/** POSTs one submission of `email` to `form` as JSON (a human's fill time, so no bot check refuses it). */
export const post = (base, form, email) =>
  fetch(`${base}/v1/leads`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ form, fields: { email, first_name: "Ada" }, meta: { elapsed_ms: 9000 } }),
  });

/**
 * Submits `count` new addresses (`<tag>-<i>@example.com`, to `forms` in turn) with `concurrency` requests in
 * flight: leads/s, latency percentiles, and how many were not answered 201.
 */
export async function intake(base, forms, count, concurrency, tag) {
  const latencies = [];
  let next = 0;
  let failed = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        const t = performance.now();
        const r = await post(base, forms[i % forms.length], `${tag}-${i}@example.com`);
        await r.arrayBuffer();
        latencies.push(performance.now() - t);
        if (r.status !== 201) failed++;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (p) => latencies[Math.min(latencies.length - 1, Math.floor((latencies.length * p) / 100))];
  return { rate: count / seconds, p50: at(50), p99: at(99), failed };
}

/** A run's numbers on one line. */
export const fmt = (r) => `${r.rate.toFixed(0)} leads/s, p50 ${r.p50.toFixed(0)} ms, p99 ${r.p99.toFixed(0)} ms${r.failed ? `, ${r.failed} not 201` : ""}`;
