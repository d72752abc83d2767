//! End-to-end: the collector's intake rules through the real runtime — idempotent retries, one lead per
// email, giveaway entry rules, spam handling, size limits and the no-JavaScript form.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { startReceiver } from "./receiver.mjs";
import { adminLeads, artifacts, eventually, launchBrowser, secrets, startCollector, startSite } from "./support.mjs";

let receiver, collector, browser;

before(async () => {
  receiver = await startReceiver({ secret: secrets.WEBHOOK_SECRET });
  collector = await startCollector(`
[[forms]]
id = "newsletter"
kind = "newsletter"
allowed_origins = ["http://127.0.0.1:*"]
fields = [{ name = "first_name" }, { name = "email", required = true }, { name = "company" }]
thank_you_url = "/thanks-page.html"

[[forms.consents]]
id = "marketing_email"
required = true
text.en = "Yes, send me the newsletter."

[[forms.webhooks]]
id = "crm"
url = "${receiver.url}"

[[forms]]
id = "win"
kind = "giveaway"
fields = [{ name = "email", required = true }]
giveaway = { starts_at = "2020-01-01", ends_at = "2099-12-31", rules_url = "/rules" }

[[forms.consents]]
id = "giveaway_rules"
required = true
text.en = "I accept the rules."

[[forms]]
id = "over"
kind = "giveaway"
fields = [{ name = "email", required = true }]
giveaway = { starts_at = "2020-01-01", ends_at = "2021-01-01", rules_url = "/rules" }

[[forms.consents]]
id = "giveaway_rules"
required = true
text.en = "I accept the rules."
`);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await collector?.stop();
  await receiver?.close();
});

const post = (body, headers = {}) =>
  fetch(`${collector.base}/v1/leads`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });

const leadsOf = async (form) => (await adminLeads(collector)).filter((l) => l.form === form);

test("a retry with the same Idempotency-Key returns the first answer and stores nothing new", async () => {
  const body = { form: "newsletter", fields: { email: "idem@example.com" }, consent: ["marketing_email"] };
  const first = await post(body, { "idempotency-key": "k-1" });
  assert.equal(first.status, 201);
  const a = await first.json();
  const again = await post(body, { "idempotency-key": "k-1" });
  assert.equal(again.status, 201);
  assert.deepEqual(await again.json(), a);
  assert.equal((await leadsOf("newsletter")).filter((l) => l.fields.email === "idem@example.com").length, 1);
  await eventually(() => receiver.deliveries.some((d) => d.payload?.data?.id === a.id), 10_000, "the delivery");
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(receiver.deliveries.filter((d) => d.payload?.data?.id === a.id).length, 1, "one delivery, not two");
  assert.equal((await post(body, { "idempotency-key": "not ok!" })).status, 400);
});

test("the same email on the same form fills the lead's empty fields instead of creating a second one", async () => {
  const first = await post({ form: "newsletter", fields: { email: "Repeat@Example.com", first_name: "Rae" }, consent: ["marketing_email"] });
  assert.equal(first.status, 201);
  const firstBody = await first.json();
  const id = firstBody.id;
  const second = await post({ form: "newsletter", fields: { email: "repeat@example.com", first_name: "Mallory", company: "ACME" }, consent: ["marketing_email"] });
  assert.equal(second.status, 201, "a repeat is answered exactly like a first submission");
  const secondBody = await second.json();
  assert.deepEqual(Object.keys(secondBody).sort(), Object.keys(firstBody).sort());
  assert.notEqual(secondBody.id, id, "the answer does not reveal the stored lead");
  const stored = (await leadsOf("newsletter")).filter((l) => l.fields.email.toLowerCase() === "repeat@example.com");
  assert.equal(stored.length, 1);
  assert.equal(stored[0].fields.first_name, "Rae", "a stored value is never replaced");
  assert.equal(stored[0].fields.company, "ACME", "an empty field is filled");
  assert.equal(stored[0].repeats[0].differing.first_name, "Mallory", "the differing value is kept for sales");
  assert.equal(stored[0].repeats[0].id, secondBody.id);
  assert.equal(stored[0].engagement.submissions, 2);
  assert.ok(stored[0].score.reasons.includes("+5 repeat"), stored[0].score.reasons.join());
  assert.equal(stored[0].events.filter((e) => e.type === "repeat").length, 1, "the repeat is a behaviour event");
  const updated = await eventually(() => receiver.deliveries.find((d) => d.payload?.type === "lead.updated" && d.payload.data.id === id), 10_000, "lead.updated");
  assert.equal(updated.verified, true);
  assert.equal(updated.payload.data.fields.company, "ACME");
  assert.equal(updated.payload.data.fields.first_name, "Rae");
  assert.deepEqual(updated.payload.data.changes, { submission: secondBody.id, filled: ["company"], consent_added: [], confirmed_by: "none" });
});

test("a giveaway takes one entry per email, only while it is open", async () => {
  const entry = (form, email) => post({ form, fields: { email }, consent: ["giveaway_rules"] });
  assert.equal((await entry("win", "lucky@example.com")).status, 201);
  const twice = await entry("win", "LUCKY@example.com");
  assert.equal(twice.status, 409);
  assert.equal((await twice.json()).error.code, "already_entered");
  const noRules = await post({ form: "win", fields: { email: "rules@example.com" }, consent: [] });
  assert.equal(noRules.status, 422);
  assert.equal((await noRules.json()).error.fields["consent.giveaway_rules"][0].code, "consent_required");
  const closed = await entry("over", "late@example.com");
  assert.equal(closed.status, 410);
  assert.equal((await closed.json()).error.code, "form_closed");
  assert.equal((await leadsOf("over")).length, 0);
});

test("bots are answered like people but nothing is stored or forwarded, and they are counted", async () => {
  const before = (await adminLeads(collector)).length;
  const sent = receiver.deliveries.length;
  const honeypot = await post({ form: "newsletter", fields: { email: "bot1@example.com" }, consent: ["marketing_email"], meta: { hp: "http://spam" } });
  assert.equal(honeypot.status, 201);
  assert.match((await honeypot.json()).id, /^ld_/);
  const fast = await post({ form: "newsletter", fields: { email: "bot2@example.com" }, consent: ["marketing_email"], meta: { elapsed_ms: 300 } });
  assert.equal(fast.status, 201);
  const human = await post({ form: "newsletter", fields: { email: "human@example.com" }, consent: ["marketing_email"], meta: { elapsed_ms: 4200 } });
  assert.equal(human.status, 201);
  await new Promise((r) => setTimeout(r, 1500));
  const after = await adminLeads(collector);
  assert.equal(after.length, before + 1);
  assert.ok(!after.some((l) => l.fields.email.startsWith("bot")));
  assert.equal(receiver.deliveries.length, sent + 1);
  const stats = await (await fetch(`${collector.base}/v1/admin/stats`, { headers: { authorization: `Bearer ${secrets.ADMIN_TOKEN}` } })).json();
  assert.equal(Object.entries(stats.spam).find(([k]) => k.startsWith("newsletter:"))[1], 2);
});

test("bodies over 32 KB get 413 and nothing is stored", async () => {
  const before = (await adminLeads(collector)).length;
  const big = await post({ form: "newsletter", fields: { email: "big@example.com", first_name: "x".repeat(40_000) }, consent: ["marketing_email"] });
  assert.equal(big.status, 413);
  assert.equal((await big.json()).error.code, "payload_too_large");
  assert.equal((await adminLeads(collector)).length, before);
});

test("the plain HTML form (no JavaScript) stores the same lead and redirects, or shows a readable error page", async () => {
  const snippet = `<form action="${collector.base}/v1/leads" method="post">
  <input type="hidden" name="form" value="newsletter">
  <input type="hidden" name="_page" value="PAGE_URL">
  <label for="e">Email</label> <input id="e" name="email" type="email" required>
  <label for="n">First name</label> <input id="n" name="first_name">
  <label><input type="checkbox" name="consent" value="marketing_email"> Yes, send me the newsletter.</label>
  <div hidden><input name="_hp" tabindex="-1" autocomplete="off"></div>
  <button>Subscribe</button>
</form>`;
  let site;
  const html = () => `<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>No JS</title></head><body>${snippet.replace("PAGE_URL", site.base + "/nojs.html")}</body></html>`;
  site = await startSite({ "/nojs.html": { get html() { return html(); }, headers: {} } });
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto(`${site.base}/nojs.html`);
  await page.fill("#e", "nojs@example.com");
  await page.fill("#n", "Noa");
  await page.check("input[name=consent]");
  await Promise.all([page.waitForURL(/thanks-page\.html$/), page.click("button")]);
  const lead = (await leadsOf("newsletter")).find((l) => l.fields.email === "nojs@example.com");
  assert.ok(lead, "stored");
  assert.equal(lead.fields.first_name, "Noa");
  assert.equal(lead.consent.entries[0].granted, true);
  assert.equal(lead.source.page, `${site.base}/nojs.html`);

  // Without the consent tick: a readable error page, not JSON, and nothing stored.
  await page.goto(`${site.base}/nojs.html`);
  await page.fill("#e", "nojs-2@example.com");
  await page.click("button");
  await page.getByRole("heading", { name: "Please check your entries" }).waitFor();
  assert.match(await page.textContent("body"), /Yes, send me the newsletter\.: Please accept this to continue\./);
  assert.equal(await page.getAttribute("a", "href"), `${site.base}/nojs.html`, "a working way back, without JavaScript");
  await page.screenshot({ path: path.join(artifacts, "nojs-error-page.png") });
  assert.ok(!(await leadsOf("newsletter")).some((l) => l.fields.email === "nojs-2@example.com"));
  await context.close();
  await site.close();
});
