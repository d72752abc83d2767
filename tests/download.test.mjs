//! End-to-end: the download gate. The gated file lives in R2 (workerd's local R2), uploaded through the
// admin API; after a valid submission the visitor gets a signed link (with double opt-in: on the
// confirmation page) that streams the file with the right type and name, and counts as engagement.
// Altered links get a readable 403 page; links of erased leads lead nowhere. Downloads are counted in the
// ledger: a hundred at once are all counted, a withdrawal racing them stays, a link past its hourly limit
// gets a 429 page. A stranger who submits a known address sees what a new address gets.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { startReceiver } from "./receiver.mjs";
import { admin, eventually, humanPause, launchBrowser, postLead, root, secrets, startCollector, startSite } from "./support.mjs";

const pdf = readFileSync(path.join(root, "xtask/assets/ebook-leadgenerierung.pdf"));
let receiver, collector, browser, site;

before(async () => {
  receiver = await startReceiver({ secret: secrets.WEBHOOK_SECRET });
  collector = await startCollector(`
[mail]
url = "${receiver.mailbox}"
from = "Beispiel GmbH <news@beispiel.example>"
resend_after_minutes = 0

[[forms]]
id = "guide"
kind = "download_gate"
mode = "b2b"
allowed_origins = ["http://127.0.0.1:*"]
asset = { key = "guide.pdf", filename = "Leitfaden für Einsteiger.pdf", content_type = "application/pdf", link_valid_hours = 1 }
fields = [{ name = "email", required = true }, { name = "company" }]

[[forms]]
id = "doiguide"
kind = "download_gate"
double_opt_in = true
asset = { key = "guide.pdf", filename = "Leitfaden.pdf" }
fields = [{ name = "email", required = true }]

[[forms]]
id = "team"
kind = "download_gate"
asset = { key = "guide.pdf", filename = "Leitfaden.pdf", downloads_per_hour = 1000 }
fields = [{ name = "email", required = true }]
consents = [{ id = "marketing_email", text = { en = "Send me news." } }]

[[forms.webhooks]]
id = "crm"
url = "${receiver.url}"

[[forms]]
id = "tight"
kind = "download_gate"
asset = { key = "guide.pdf", filename = "Leitfaden.pdf", downloads_per_hour = 3 }
fields = [{ name = "email", required = true }]
`);
  site = await startSite({
    "/guide.html": `<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>Guide</title></head>
<body><h1>The guide</h1><script src="${collector.base}/embed/guide.js" async></script></body></html>`,
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await site?.close();
  await collector?.stop();
  await receiver?.close();
});

const put = (key, body, token = secrets.ADMIN_TOKEN) =>
  fetch(`${collector.base}/v1/admin/files/${key}`, { method: "PUT", headers: token ? { authorization: `Bearer ${token}` } : {}, body });

test("the owner uploads the file; a visitor gets it through the form, by a signed link", async () => {
  assert.equal((await put("guide.pdf", pdf, null)).status, 401);
  assert.equal((await put("other.pdf", pdf)).status, 404, "only files a form names");
  const up = await put("guide.pdf", pdf);
  assert.equal(up.status, 201);
  assert.deepEqual(await up.json(), { key: "guide.pdf", size: pdf.length });

  const page = await browser.newPage();
  await page.goto(`${site.base}/guide.html`);
  await page.fill("#lg-f-email", "leser@beispiel.de");
  await page.fill("#lg-f-company", "Beispiel AG");
  await humanPause(page);
  await page.click("button[type=submit]");
  await page.getByRole("status").filter({ hasText: "Thank you! Your download is ready." }).waitFor();
  const link = page.getByRole("link", { name: "Download now" });
  const href = await link.getAttribute("href");
  assert.match(href, new RegExp(`^${collector.base}/v1/download/`));
  const [download] = await Promise.all([page.waitForEvent("download"), link.click()]);
  assert.equal(download.suggestedFilename(), "Leitfaden für Einsteiger.pdf");
  const saved = readFileSync(await download.path());
  assert.ok(saved.equals(pdf), "the visitor gets exactly the uploaded file");
  await page.close();

  const r = await fetch(href);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("content-type"), "application/pdf");
  assert.match(r.headers.get("content-disposition"), /^attachment; filename="Leitfaden f_r Einsteiger.pdf"; filename\*=UTF-8''Leitfaden%20f%C3%BCr%20Einsteiger.pdf$/);
  assert.ok(Buffer.from(await r.arrayBuffer()).equals(pdf));

  const { leads } = await admin(collector, "/v1/admin/leads?form=guide");
  assert.equal(leads[0].engagement.downloads, 2, "each download counts as engagement");

  const forged = await fetch(href.slice(0, -3) + "AAA", { headers: { "accept-language": "de-DE,de;q=0.9" } });
  assert.equal(forged.status, 403);
  assert.match(await forged.text(), /Dieser Link ist ungültig/);

  await admin(collector, `/v1/admin/leads/${leads[0].id}`, { method: "DELETE" });
  const gone = await fetch(href);
  assert.equal(gone.status, 404, "an erased lead's link opens nothing");
});

test("with double opt-in the link comes on the confirmation page, not before", async () => {
  const r = await postLead(collector, { form: "doiguide", fields: { email: "doi.leser@beispiel.de" } });
  assert.equal(r.status, 201);
  const answer = await r.json();
  assert.equal(answer.status, "pending");
  assert.equal(answer.download_url, undefined, "no file before the confirmation");
  const mail = await eventually(() => receiver.mails.find((m) => m.to === "doi.leser@beispiel.de"), 10_000, "the confirmation mail");
  const confirmLink = mail.text.match(/https?:\/\/\S+\/v1\/confirm\/\S+/)[0];
  const confirmed = await (await fetch(confirmLink, { method: "POST", headers: { "accept-language": "en" } })).text();
  const href = confirmed.match(/href="([^"]+\/v1\/download\/[^"]+)"/)[1].replaceAll("&amp;", "&");
  const file = await fetch(href);
  assert.equal(file.status, 200);
  assert.ok(Buffer.from(await file.arrayBuffer()).equals(pdf));
});

const linkOf = async (form, email, consent = []) => {
  const r = await postLead(collector, { form, fields: { email }, consent });
  assert.equal(r.status, 201);
  return (await r.json()).download_url;
};
const leadOf = async (form, email) => (await admin(collector, `/v1/admin/leads?form=${form}`)).leads.find((l) => l.fields.email === email);

test("a hundred downloads of one link at once are all counted", async () => {
  const href = await linkOf("team", "hundred@example.com");
  const statuses = await Promise.all(Array.from({ length: 100 }, () => fetch(href).then(async (r) => (await r.arrayBuffer(), r.status))));
  assert.deepEqual([...new Set(statuses)], [200]);
  const lead = await leadOf("team", "hundred@example.com");
  assert.equal(lead.engagement.downloads, 100, "the list counts every download");
  assert.equal((await admin(collector, `/v1/admin/leads/${lead.id}`)).engagement.downloads, 100, "and so does the lead's page");
  console.log(`downloads: 100 at once, ${lead.engagement.downloads} counted`);
});

test("a withdrawal racing a hundred downloads stays withdrawn, and every download is counted", async () => {
  const email = "racing@example.com";
  const href = await linkOf("team", email, ["marketing_email"]);
  const { id } = await leadOf("team", email);
  const withdraw = fetch(`${collector.base}/v1/admin/leads/${id}/withdraw`, { method: "POST", headers: { authorization: `Bearer ${secrets.ADMIN_TOKEN}` } });
  const downloads = Array.from({ length: 100 }, () => fetch(href).then(async (r) => (await r.arrayBuffer(), r.status)));
  const [withdrawn, ...statuses] = await Promise.all([withdraw, ...downloads]);
  assert.equal(withdrawn.status, 200);
  assert.deepEqual([...new Set(statuses)], [200]);
  const lead = await admin(collector, `/v1/admin/leads/${id}`);
  assert.equal(lead.consent.withdrawn.via, "admin", "no download's write put the consent back");
  assert.equal(lead.engagement.downloads, 100);
  await eventually(() => receiver.deliveries.find((d) => d.payload?.type === "lead.consent_withdrawn" && d.payload.data.id === id), 10_000, "lead.consent_withdrawn");
});

test("a link past its hourly limit gets a readable 429 page until the hour is over", async () => {
  const href = await linkOf("tight", "tight@example.com");
  for (let i = 0; i < 3; i++) assert.equal((await fetch(href).then(async (r) => (await r.arrayBuffer(), r.status))), 200);
  const over = await fetch(href, { headers: { "accept-language": "en" } });
  assert.equal(over.status, 429);
  const retry = Number(over.headers.get("retry-after"));
  assert.ok(retry >= 1 && retry <= 3600, `Retry-After ${retry}`);
  assert.match(await over.text(), /This link was used very often/);
  assert.equal((await leadOf("tight", "tight@example.com")).engagement.downloads, 3, "a refused download is not counted");
});

/** Everything a stranger can read in an answer: its keys and the length of each value, the token's
 * decoded payload, and the receipt's content as the public verify route shows it. */
async function visible(answer) {
  const shape = Object.fromEntries(Object.entries(answer).map(([k, v]) => [k, String(v).length]));
  const token = answer.download_url?.split("/").pop();
  const payload = token ? JSON.parse(Buffer.from(token.split(".")[0], "base64url").toString()) : null;
  const receipt = await (await fetch(`${collector.base}/v1/consent/verify?receipt=${encodeURIComponent(answer.receipt)}`)).json();
  return { shape, payload, receipt: receipt.receipt };
}

test("a stranger who submits a known address sees what a new address gets (single and double opt-in gates)", async () => {
  for (const form of ["guide", "doiguide"]) {
    const known = `known.${form}@example.com`;
    const fields = (email) => (form === "guide" ? { email, company: "Acme" } : { email });
    const first = await postLead(collector, { form, fields: fields(known) });
    const stored = (await first.json()).id;
    if (form === "doiguide") {
      const mail = await eventually(() => receiver.mails.find((m) => m.to === known), 10_000, "the confirmation mail");
      await fetch(mail.text.match(/https?:\/\/\S+\/v1\/confirm\/\S+/)[0], { method: "POST" });
      assert.equal((await admin(collector, `/v1/admin/leads/${stored}`)).status, "confirmed");
    }
    await new Promise((r) => setTimeout(r, 1100)); // a later second, so a leaked sign-up time would differ
    const again = await (await postLead(collector, { form, fields: fields(known) })).json();
    const fresh = await (await postLead(collector, { form, fields: fields(`new.${form}.${Date.now()}@example.com`) })).json();
    const [a, b] = [await visible(again), await visible(fresh)];
    assert.deepEqual(a.shape, b.shape, `${form}: the same keys, each value as long`);
    assert.equal(again.status, fresh.status);
    assert.deepEqual(Object.keys(a.payload ?? {}), Object.keys(b.payload ?? {}), `${form}: the same token claims`);
    const seen = JSON.stringify([again, a]);
    assert.ok(!seen.includes(stored), `${form}: the stored lead's id is nowhere in the answer`);
    assert.ok(!seen.includes(stored.slice(3, 13)), `${form}: nor the time part of that id`);
    assert.notEqual(a.receipt.lead, stored);
    assert.ok(Math.abs(Date.parse(a.receipt.recorded_at) - Date.parse(b.receipt.recorded_at)) < 5_000, `${form}: the receipt records this submission's time`);
    if (form === "guide") {
      const file = await fetch(again.download_url);
      assert.equal(file.status, 200, "the known address still gets its file");
      await file.arrayBuffer();
    } else {
      assert.equal(again.download_url, undefined, "a double opt-in gate gives no link in the answer, known or new");
      const mail = await eventually(() => receiver.mails.find((m) => m.to === known && /download/i.test(m.subject)), 10_000, "the known address's download mail");
      assert.match(mail.text, /\/v1\/confirm\//);
    }
  }
});
