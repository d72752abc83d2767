//! The widget's conversation with the collector: one JSON POST with an idempotency key, retried with backoff
// on network errors and 5xx answers, so a flaky connection neither loses nor duplicates a lead.
//
// This part is JavaScript because it is nothing but browser calls (fetch, timers, JSON): written in Rust it
// needed an async runtime and reflection glue, about 7 KB of every page's download. The rules, the markup
// and what the answer means stay in Rust (`transport.rs`, `view.rs`).
const BACKOFF_MS = [500, 1500, 4000];

/**
 * Posts `body` to `${endpoint}/v1/leads` and calls `done(kind, status, download, message, names, messages)`
 * once: kind 0 = accepted (the lead's status and download link), 1 = rejected (the collector's message and
 * per-field messages, names[i] -> messages[i]), 2 = failed ("network" or "internal" in `status`).
 */
export function post(endpoint, body, key, done) {
  const attempt = async (n) => {
    let failure = "network";
    try {
      const r = await fetch(`${endpoint}/v1/leads`, {
        method: "POST",
        body,
        headers: new Headers({ "Content-Type": "application/json", "Idempotency-Key": key }),
      });
      const answer = await r.json().catch(() => null);
      if (r.ok) return done(0, String(answer?.status ?? ""), answer?.download_url ?? undefined, "", [], []);
      if (r.status < 500) {
        const error = answer?.error;
        if (typeof error?.message !== "string") return done(2, "internal", undefined, "", [], []);
        const fields = Object.entries(error.fields || {}).filter(([, problems]) => typeof problems?.[0]?.message === "string");
        return done(1, "", undefined, error.message, fields.map(([name]) => name), fields.map(([, problems]) => problems[0].message));
      }
      failure = "internal";
    } catch {
      // A network error: retried below like a 5xx.
    }
    if (n < BACKOFF_MS.length) setTimeout(() => attempt(n + 1), BACKOFF_MS[n]);
    else done(2, failure, undefined, "", [], []);
  };
  attempt(0);
}
