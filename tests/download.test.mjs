//! End-to-end: the download gate. The gated file lives in R2 (workerd's local R2), uploaded through the
// admin API; after a valid submission the visitor gets a signed link (with double opt-in: on the
// confirmation page) that streams the file with the right type and name, and counts as engagement.
// Altered links get a readable 403 page; links of erased leads lead nowhere.
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
