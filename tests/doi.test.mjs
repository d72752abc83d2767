//! End-to-end: double opt-in. A visitor signs up through the widget in Chromium; the lead waits as
// `pending` and no marketing webhook goes out; the confirmation mail arrives in the local mailbox (the
// stand-in for the mail API); a real click on its link in Chromium confirms the lead (time and
// pseudonymous client recorded) and only then `lead.confirmed` is delivered. The link works once. Leads
// nobody confirms are erased by the scheduled handler.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { startReceiver } from "./receiver.mjs";
import { admin, adminLeads, artifacts, eventually, humanPause, launchBrowser, postLead, secrets, startCollector, startSite, tick } from "./support.mjs";

let receiver, collector, browser, site;

before(async () => {
  receiver = await startReceiver({ secret: secrets.WEBHOOK_SECRET });
  collector = await startCollector(`
[mail]
url = "${receiver.mailbox}"
from = "Beispiel GmbH <news@beispiel.example>"
confirm_within_hours = 1
erase_unconfirmed_after_days = 0

[[forms]]
id = "news"
kind = "newsletter"
double_opt_in = true
title = { de = "Der Beispiel-Newsletter", en = "The example newsletter" }
allowed_origins = ["http://127.0.0.1:*"]
fields = [{ name = "email", required = true }]
consents = [{ id = "marketing_email", required = true, text = { de = "Ja, schickt mir den Newsletter.", en = "Yes, send me the newsletter." } }]

[[forms.webhooks]]
id = "crm"
url = "${receiver.url}"
`);
  site = await startSite({
    "/news.html": `<!doctype html><html lang="de"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>Newsletter</title></head>
<body><h1>Newsletter</h1><script src="${collector.base}/embed/news.js" async></script></body></html>`,
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await site?.close();
  await collector?.stop();
  await receiver?.close();
});

test("sign up, get the mail, click the link: confirmed, proven, and only then sent to the CRM", async () => {
  const page = await browser.newPage();
  await page.goto(`${site.base}/news.html`);
  await page.fill("#lg-f-email", "erika.doi@beispiel.de");
  await page.check("#lg-consent-marketing_email");
  await humanPause(page);
  await page.click("button[type=submit]");
  await page.getByRole("status").filter({ hasText: "Fast geschafft: Bitte prüfen Sie Ihr Postfach" }).waitFor();

  const [pending] = (await adminLeads(collector)).filter((l) => l.fields.email === "erika.doi@beispiel.de");
  assert.equal(pending.status, "pending");
  const mail = await eventually(() => receiver.mails.find((m) => m.to === "erika.doi@beispiel.de"), 10_000, "the confirmation mail");
  assert.equal(mail.subject, "Bitte bestätigen Sie Ihre E-Mail-Adresse");
  assert.equal(mail.from, "Beispiel GmbH <news@beispiel.example>");
  assert.match(mail.text, /„Der Beispiel-Newsletter“/);
  assert.match(mail.text, /1 Stunden gültig/);
  assert.equal(receiver.deliveries.length, 0, "no marketing webhook before the confirmation");

  // The mailbox page, as a person would use it: open it, click the link.
  await page.goto(receiver.mailbox);
  await page.screenshot({ path: path.join(artifacts, "doi-mailbox.png"), fullPage: true });
  await page.getByRole("link", { name: "E-Mail-Adresse bestätigen" }).click();
  // Following the link (what mail scanners do too) only shows a page with a button; the press confirms.
  await page.getByRole("heading", { name: "E-Mail-Adresse bestätigen" }).waitFor();
  const confirmUrl = page.url();
  assert.match(confirmUrl, new RegExp(`^${collector.base}/v1/confirm/`));
  assert.equal((await admin(collector, `/v1/admin/leads/${pending.id}`)).status, "pending", "a GET confirms nothing");
  await page.getByRole("button", { name: "E-Mail-Adresse bestätigen" }).click();
  await page.getByRole("heading", { name: "Vielen Dank für Ihre Bestätigung!" }).waitFor();

  const lead = await admin(collector, `/v1/admin/leads/${pending.id}`);
  assert.equal(lead.status, "confirmed");
  assert.equal(lead.engagement.confirmed, true);
  assert.ok(Date.parse(lead.confirmation.at) >= Date.parse(lead.created_at));
  // Same browser, same address: the click's pseudonymous client id is the submission's (never the IP itself).
  assert.match(lead.confirmation.client_id, /^[A-Za-z0-9_-]{20,}$/);
  assert.equal(lead.confirmation.client_id, lead.consent.client_id);
  const confirmed = await eventually(() => receiver.deliveries.find((d) => d.payload?.type === "lead.confirmed"), 10_000, "lead.confirmed");
  assert.ok(confirmed.verified);
  assert.equal(confirmed.payload.data.id, pending.id);
  assert.equal(confirmed.payload.data.status, "confirmed");
  assert.ok(!receiver.deliveries.some((d) => d.payload?.type === "lead.created"), "a double opt-in form never sends lead.created");

  // The link works once: a second click changes nothing.
  await page.goto(confirmUrl);
  await page.getByRole("heading", { name: "Bereits bestätigt" }).waitFor();
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(receiver.deliveries.filter((d) => d.payload?.type === "lead.confirmed").length, 1);

  // A link that was tampered with is refused with a readable page.
  const forged = await fetch(confirmUrl.replace(/.$/, (c) => (c === "A" ? "B" : "A")), { headers: { "accept-language": "en" } });
  assert.equal(forged.status, 403);
  assert.match(await forged.text(), /This link is not valid/);
  await page.close();
});

test("a lead nobody confirms is erased by the scheduled handler, and its link then leads nowhere", async () => {
  const r = await postLead(collector, { form: "news", fields: { email: "never.confirms@beispiel.de" }, consent: ["marketing_email"] });
  assert.equal(r.status, 201);
  const { id, status } = await r.json();
  assert.equal(status, "pending");
  const mail = await eventually(() => receiver.mails.find((m) => m.to === "never.confirms@beispiel.de"), 10_000, "the confirmation mail");
  const link = mail.text.match(/https?:\/\/\S+\/v1\/confirm\/\S+/)[0];

  await tick(collector); // erase_unconfirmed_after_days = 0: erased at the next run
  await eventually(async () => (await fetch(`${collector.base}/v1/admin/leads/${id}`, { headers: { authorization: `Bearer ${secrets.ADMIN_TOKEN}` } })).status === 404, 10_000, "erasure");
  const { deliveries } = await admin(collector, `/v1/admin/deliveries?lead=${id}`);
  assert.deepEqual(deliveries, [], "its mail record (which holds the address) is gone too");
  const gone = await fetch(link, { headers: { "accept-language": "de" } });
  assert.equal(gone.status, 404);
  assert.ok((await adminLeads(collector)).some((l) => l.fields.email === "erika.doi@beispiel.de"), "the confirmed lead stays");
  assert.ok(!receiver.deliveries.some((d) => d.payload?.data?.id === id), "nothing about it was ever sent");
});
