//! End-to-end: one script tag on a customer's page puts a lead into KV and a signed webhook.
//
// Real parts only: the collector runs in workerd through `wrangler dev` with KV on disk, the page is served
// from another origin, Debian's Chromium types and clicks, and a real HTTP receiver verifies signatures
// with the official Standard Webhooks library.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { startReceiver } from "./receiver.mjs";
import { adminLeads, artifacts, eventually, humanPause, launchBrowser, secrets, startCollector, startSite } from "./support.mjs";

let receiver, collector, site, browser;

before(async () => {
  receiver = await startReceiver({ secret: secrets.WEBHOOK_SECRET });
  collector = await startCollector(`
[[forms]]
id = "newsletter"
kind = "newsletter"
allowed_origins = ["http://127.0.0.1:*"]
fields = [{ name = "first_name" }, { name = "email", required = true }]

[[forms.consents]]
id = "marketing_email"
required = true
text.en = "Yes, send me the newsletter."
text.de = "Ja, schickt mir den Newsletter."

[[forms.webhooks]]
id = "crm"
url = "${receiver.url}"
`);
  const page = (lang) => `<!doctype html><html lang="${lang}"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>Shop</title></head>
<body><h1>Our newsletter</h1><script src="${collector.base}/embed/newsletter.js" async></script></body></html>`;
  site = await startSite({ "/en.html": page("en"), "/de.html": page("de") });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await site?.close();
  await collector?.stop();
  await receiver?.close();
});

test("a visitor signs up through the one-script-tag form; the lead is stored and delivered, signed", async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  await page.goto(`${site.base}/en.html?utm_source=test&utm_campaign=launch`);
  await page.locator("#lg-f-first_name").fill("Ada");
  await page.locator("#lg-f-email").fill("ada@example.com");
  await page.locator("#lg-consent-marketing_email").check();
  await page.screenshot({ path: path.join(artifacts, "skeleton-newsletter-filled.png") });
  await humanPause(page);
  await page.locator("button[type=submit]").click();
  await page.getByRole("status").filter({ hasText: "Thank you! You are signed up." }).waitFor();
  assert.deepEqual(errors, []);

  const leads = await adminLeads(collector);
  assert.equal(leads.length, 1);
  const lead = leads[0];
  assert.equal(lead.fields.email, "ada@example.com");
  assert.equal(lead.fields.first_name, "Ada");
  assert.equal(lead.source.utm.source, "test");
  assert.equal(lead.source.page, `${site.base}/en.html?utm_source=test&utm_campaign=launch`);
  assert.equal(lead.consent.entries[0].purpose, "marketing_email");
  assert.equal(lead.consent.entries[0].granted, true);
  assert.equal(lead.consent.entries[0].text, "Yes, send me the newsletter.");

  await eventually(() => receiver.deliveries.length >= 1, 15_000, "the webhook delivery");
  // Give a duplicate delivery the chance to show up before asserting there is exactly one.
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(receiver.deliveries.length, 1);
  const d = receiver.deliveries[0];
  assert.equal(d.verified, true, d.error);
  assert.equal(d.payload.type, "lead.created");
  assert.equal(d.payload.data.id, lead.id);
  assert.equal(d.payload.data.fields.email, "ada@example.com");
  await page.close();
});

test("an invalid email shows an inline error, in the page's language, and nothing is stored or sent", async () => {
  const before = (await adminLeads(collector)).length;
  const sent = receiver.deliveries.length;
  const page = await browser.newPage();
  await page.goto(`${site.base}/de.html`);
  const email = page.locator("#lg-f-email");
  await email.fill("ada@example..com");
  await page.locator("#lg-consent-marketing_email").check();
  await page.locator("button[type=submit]").click();
  await page.locator("#lg-f-email-e").filter({ hasText: "gültige E-Mail-Adresse" }).waitFor();
  assert.equal(await email.getAttribute("aria-invalid"), "true");
  assert.equal(await email.getAttribute("aria-describedby"), "lg-f-email-e");
  assert.equal(await page.evaluate(() => document.querySelector("[data-leadgate-form]").shadowRoot.activeElement?.id), "lg-f-email");
  await page.screenshot({ path: path.join(artifacts, "skeleton-newsletter-invalid.png") });
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal((await adminLeads(collector)).length, before);
  assert.equal(receiver.deliveries.length, sent);
  await page.close();
});

test("the collector validates again and answers every bad request with a 4xx JSON error", async () => {
  const post = (body, headers = { "content-type": "application/json" }) =>
    fetch(`${collector.base}/v1/leads`, { method: "POST", headers, body });
  const bad = await post(JSON.stringify({ form: "newsletter", fields: { email: "a@b@c" }, consent: [] }));
  assert.equal(bad.status, 422);
  const body = await bad.json();
  assert.equal(body.error.code, "validation_failed");
  assert.equal(body.error.fields.email[0].code, "invalid_email");
  assert.equal(body.error.fields["consent.marketing_email"][0].code, "consent_required");

  const german = await post(JSON.stringify({ form: "newsletter", fields: { email: "a@" }, consent: ["marketing_email"], meta: { lang: "de" } }));
  assert.equal((await german.json()).error.fields.email[0].message, "Bitte geben Sie eine gültige E-Mail-Adresse ein, z. B. name@beispiel.de.", "the page's language, as in the form");

  const malformed = await post("{\"form\": ");
  assert.equal(malformed.status, 400);
  assert.equal((await malformed.json()).error.code, "malformed_body");
  assert.equal((await post("x", { "content-type": "text/plain" })).status, 415);
  assert.equal((await post(JSON.stringify({ form: "nope", fields: {} }))).status, 404);
  const foreign = await post(JSON.stringify({ form: "newsletter", fields: { email: "a@b.de" }, consent: ["marketing_email"] }), {
    "content-type": "application/json",
    origin: "https://evil.example",
  });
  assert.equal(foreign.status, 403);
  assert.equal((await fetch(`${collector.base}/v1/admin/leads`)).status, 401);
  assert.equal((await fetch(`${collector.base}/v1/admin/leads`, { headers: { authorization: "Bearer wrong" } })).status, 401);
});
