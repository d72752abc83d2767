//! End-to-end: the per-form, per-client rate limit through the Workers rate limiting binding (simulated by
// workerd locally): a client over its budget gets 429 with `Retry-After` and the JSON error shape, in
// the form's language; nothing of the refused submission is stored; other forms are not affected.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { adminLeads, postLead, startCollector } from "./support.mjs";

let collector;

before(async () => {
  collector = await startCollector(`
[rate_limit]
limit = 3
period = 60

[[forms]]
id = "news"
kind = "newsletter"
lang = "de"
fields = [{ name = "email", required = true }]

[[forms]]
id = "other"
kind = "newsletter"
fields = [{ name = "email", required = true }]
`);
});

after(async () => {
  await collector?.stop();
});

const post = (form, email) => postLead(collector, { form, fields: { email } });

// workerd's simulated limiter counts in windows of the period aligned to the wall clock (a new one starts
// every full minute), so a test's requests could straddle two windows and the last one pass. Each test
// starts its requests where at least 20 seconds of the window are left.
const inOneWindow = async () => {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < 20_000) await new Promise((resolve) => setTimeout(resolve, left + 100));
};

test("a client over its budget gets 429 with Retry-After; other forms are unaffected", async () => {
  await inOneWindow();
  for (let i = 0; i < 3; i++) assert.equal((await post("news", `rate${i}@example.com`)).status, 201);
  const refused = await post("news", "rate3@example.com");
  assert.equal(refused.status, 429);
  assert.equal(refused.headers.get("retry-after"), "60");
  const body = await refused.json();
  assert.equal(body.error.code, "rate_limited");
  assert.match(body.error.message, /Zu viele Versuche/);
  assert.ok(!(await adminLeads(collector)).some((l) => l.fields.email === "rate3@example.com"), "nothing of it is stored");
  assert.equal((await post("other", "rate4@example.com")).status, 201, "the budget is per form");
});

test("IPv6 clients are counted by their /64 network, not by each of its 2^64 addresses", async () => {
  const from = (ip, email) =>
    fetch(`${collector.base}/v1/leads`, {
      method: "POST",
      headers: { "content-type": "application/json", "cf-connecting-ip": ip },
      body: JSON.stringify({ form: "other", fields: { email }, meta: { elapsed_ms: 9000 } }),
    });
  await inOneWindow();
  for (let i = 1; i <= 3; i++) assert.equal((await from(`2001:db8:1:2::${i}`, `v6-${i}@example.com`)).status, 201);
  const sameNetwork = await from("2001:db8:1:2:ffff:ffff:ffff:ffff", "v6-4@example.com");
  assert.equal(sameNetwork.status, 429, "another address of the same /64 shares the budget");
  assert.equal((await from("2001:db8:1:3::1", "v6-5@example.com")).status, 201, "the next /64 is another client");
});
