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

test("a client over its budget gets 429 with Retry-After; other forms are unaffected", async () => {
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
