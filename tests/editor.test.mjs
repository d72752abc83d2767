//! End-to-end: forms as data. In the admin page's editor a label and a consent text are changed, the live
// preview shows them in both languages with the real widget, a problem shows next to its control, and the
// draft is published; a customer's page shows the new label within the refresh window (measured); a lead
// sent before and one after record their versions and consent texts, and a page left open over the publish
// is checked against the version it showed. A file-managed form is read-only; the API refuses what it must,
// rolls back and keeps the trail; axe finds nothing on the editor.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { admin, humanPause, launchBrowser, root, secrets, startCollector, startSite } from "./support.mjs";

let collector, site, browser;
const axeSource = readFileSync(path.join(root, "node_modules/axe-core/axe.min.js"), "utf8");
// How long a collector's isolate serves its copy of the published forms: 1 s here, 30 s by default.
const TTL_MS = 1000;
// A person's own admin token (`ADMIN_TOKENS`): the audit trail names her.
const ANNA = "anna-" + "0123456789abcdef".repeat(3);

before(async () => {
  const page = `<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>News</title></head><body>
<div data-leadgate-form="news"></div><script src="COLLECTOR/embed/news.js" async></script></body></html>`;
  let base = null;
  site = await startSite({ get "/news.html"() { return page.replace("COLLECTOR", base); } });
  collector = await startCollector(
    `
[[forms]]
id = "news"
kind = "newsletter"
fields = [{ name = "email", required = true }, { name = "first_name", label = { en = "First name", de = "Vorname" } }]
consents = [{ id = "marketing_email", text = { en = "Send me the newsletter.", de = "Schickt mir den Newsletter." } }]
allowed_origins = ["${site.base}"]

[[forms]]
id = "git"
kind = "newsletter"
managed = "file"
fields = [{ name = "email", required = true }]
`,
    { env: { LEADGATE_FORMS_TTL_MS: String(TTL_MS), ADMIN_TOKENS: `anna=${ANNA}` } }
  );
  base = collector.base;
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await collector?.stop();
  await site?.close();
});

const json = (body) => ({ method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

/** Sends the form on the customer's page `page` as a person would: the email, the box, the button. */
async function send(page, email) {
  await page.locator("#lg-f-email").fill(email);
  await page.locator("#lg-consent-marketing_email").check();
  await humanPause(page);
  await page.locator("button[type=submit]").click();
  await page.getByRole("status").filter({ hasText: "Thank you" }).waitFor();
}

test("edited in the editor, previewed, published: pages show it within the refresh window and leads keep their version", async () => {
  const context = await browser.newContext();
  const customer = await context.newPage();
  await customer.goto(`${site.base}/news.html`);
  await customer.locator("label[for=lg-f-first_name]").filter({ hasText: "First name" }).waitFor();
  await send(customer, "before@example.com");
  // A second page stays open over the publish, showing version 1.
  const stale = await context.newPage();
  await stale.goto(`${site.base}/news.html`);
  await stale.locator("#lg-f-email").waitFor({ state: "attached" });

  const page = await context.newPage();
  await page.goto(`${collector.base}/admin.html`);
  await page.fill("#token", secrets.ADMIN_TOKEN);
  await page.click("#login button");
  await page.getByRole("button", { name: "Edit news" }).click();
  const preview = page.frameLocator("#preview");
  await preview.locator("label[for=lg-f-first_name]").filter({ hasText: "First name" }).waitFor();

  await page.getByLabel("Label (English)", { exact: true }).nth(1).fill("Your first name");
  await page.getByLabel("Label (Deutsch)", { exact: true }).nth(1).fill("Ihr Vorname");
  await page.getByLabel("Text (English)", { exact: true }).fill("Send me the newsletter and offers.");
  await preview.locator("label[for=lg-f-first_name]").filter({ hasText: "Your first name" }).waitFor();
  await preview.locator("label[for=lg-consent-marketing_email]").filter({ hasText: "and offers" }).waitFor();
  // A help text stands under its label and describes the control.
  await page.getByLabel("Help (English)", { exact: true }).first().fill("Only for the newsletter.");
  await preview.locator("#lg-f-email-h").filter({ hasText: "Only for the newsletter." }).waitFor();
  assert.equal(await preview.locator("#lg-f-email").getAttribute("aria-describedby"), "lg-f-email-h");
  // The preview runs the real widget: its own messages, in the language shown.
  await page.getByLabel("Deutsch", { exact: true }).check();
  await preview.locator("label[for=lg-f-first_name]").filter({ hasText: "Ihr Vorname" }).waitFor();
  await preview.locator("#lg-f-email").fill("kein-at");
  await preview.locator("#lg-f-first_name").focus();
  await preview.locator("#lg-f-email-e").filter({ hasText: "gültige E-Mail-Adresse" }).waitFor();

  // A problem shows next to the control it concerns, and goes when it is fixed.
  const name = page.getByLabel("Name", { exact: true }).nth(1);
  await name.fill("First-Name");
  await page.locator('[data-path="fields[1].name"][aria-invalid=true]').waitFor();
  const problem = await page.locator("#" + (await name.getAttribute("aria-describedby"))).textContent();
  assert.match(problem, /lowercase letters, digits and '_'/);
  await name.fill("first_name");
  await page.locator('[data-path="fields[1].name"]:not([aria-invalid])').waitFor();

  const axe = async () => {
    await page.evaluate(axeSource);
    return page.evaluate(async () => (await window.axe.run(document.querySelector("#forms"))).violations.map((v) => `${v.id}: ${v.nodes.length}`));
  };
  assert.deepEqual(await axe(), [], "axe on the editor");

  await page.getByRole("button", { name: "Publish" }).click();
  await page.locator("#status").filter({ hasText: "Version 2 of news is published" }).waitFor();
  const published = Date.now();
  // A page view after the publish: the embed script is revalidated on every view, so it shows the new
  // version as soon as the collector's copy is refreshed.
  let shownAfter = null;
  for (let i = 0; i < 120 && shownAfter === null; i++) {
    await customer.reload();
    await customer.locator("label[for=lg-f-first_name]").waitFor();
    if ((await customer.locator("label[for=lg-f-first_name]").textContent()).includes("Your first name")) shownAfter = Date.now() - published;
    else await new Promise((r) => setTimeout(r, 250));
  }
  assert.ok(shownAfter !== null && shownAfter < 60_000, `the new label within a minute (${shownAfter} ms)`);
  console.log(`# a publish reached a customer's page after ${shownAfter} ms (refresh window ${TTL_MS} ms)`);
  await send(customer, "after@example.com");
  // The page left open still shows version 1: its submission is checked against that version.
  await send(stale, "stale@example.com");

  const { leads } = await admin(collector, "/v1/admin/leads?form=news");
  const by = (email) => leads.find((l) => l.fields.email === email);
  const consent = (lead) => lead.consent.entries[0];
  assert.equal(by("before@example.com").form_version, 1);
  assert.equal(consent(by("before@example.com")).text, "Send me the newsletter.");
  assert.equal(consent(by("before@example.com")).version, 1);
  assert.equal(by("after@example.com").form_version, 2);
  assert.equal(consent(by("after@example.com")).text, "Send me the newsletter and offers.");
  assert.equal(consent(by("after@example.com")).version, 2, "a changed consent text got the next version");
  assert.equal(by("stale@example.com").form_version, 1);
  assert.equal(consent(by("stale@example.com")).text, "Send me the newsletter.", "the page open over the publish recorded what it showed");
  // The export keeps the version too.
  const exported = await admin(collector, `/v1/admin/leads/${by("after@example.com").id}/export`);
  assert.equal(exported.form_version, 2);

  // The versions and the trail in the editor.
  await page.locator("#version-rows").getByRole("cell", { name: "on pages" }).waitFor();
  const trail = await page.locator("#trail-rows").textContent();
  assert.match(trail, /published/);
  assert.match(trail, /seeded/);
  await context.close();
});

test("a file-managed form is read-only; drafts with problems are not published; a rollback publishes an earlier version", async () => {
  const page = await browser.newPage();
  await page.goto(`${collector.base}/admin.html`);
  await page.fill("#token", secrets.ADMIN_TOKEN);
  await page.click("#login button");
  await page.getByRole("button", { name: "Edit git" }).click();
  await page.locator("#editor-state").filter({ hasText: "Managed by the config file" }).waitFor();
  assert.equal(await page.getByLabel("Name", { exact: true }).first().isDisabled(), true, "its controls are read-only");
  assert.equal(await page.locator("#publish").isVisible(), false);
  await page.close();

  const auth = { authorization: `Bearer ${secrets.ADMIN_TOKEN}` };
  const call = (p, init = {}) => fetch(`${collector.base}${p}`, { ...init, headers: { ...auth, ...(init.headers || {}) } });
  const refused = await call("/v1/admin/catalog/git/publish", { method: "POST" });
  assert.equal(refused.status, 409);
  assert.equal((await refused.json()).error.code, "managed_by_file");

  // A new form from the API: a draft with a problem is saved, and publishing names the problem's path.
  const draft = { id: "fair", kind: "newsletter", fields: [{ name: "email", required: true }, { name: "size", type: "select", label: { en: "Size" } }] };
  const saved = await call("/v1/admin/catalog/fair", { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify(draft) });
  assert.equal(saved.status, 200);
  assert.deepEqual((await saved.json()).problems.map((p) => p.path), ["fields[1].options"]);
  const blocked = await call("/v1/admin/catalog/fair/publish", { method: "POST" });
  assert.equal(blocked.status, 422);
  assert.match((await blocked.json()).error.fields["fields[1].options"][0].message, /options/);
  assert.equal((await fetch(`${collector.base}/embed/fair.js`)).status, 404, "nothing published, nothing served");
  draft.fields[1].options = [{ value: "m", label: { en: "M" } }];
  await call("/v1/admin/catalog/fair", { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify(draft) });
  assert.equal((await call("/v1/admin/catalog/fair/publish", { method: "POST" })).status, 200);
  draft.title = { en: "Fair" };
  await call("/v1/admin/catalog/fair", { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify(draft) });
  const two = await (await call("/v1/admin/catalog/fair/publish", { method: "POST" })).json();
  assert.equal(two.form.published, 2);
  const embedded = async () => {
    for (let i = 0; i < 50; i++) {
      const r = await fetch(`${collector.base}/embed/fair.js`);
      if (r.ok) return r.text();
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error("fair is not served");
  };
  const waitFor = async (test) => {
    for (let i = 0; i < 50; i++) {
      if (test(await embedded())) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error("the embed script did not change");
  };
  await waitFor((s) => s.includes(">Fair<"));
  // Anna rolls back with her own token; the trail says it was her.
  const asAnna = { ...json({ to: 1 }), headers: { "content-type": "application/json", authorization: `Bearer ${ANNA}` } };
  const back = await (await fetch(`${collector.base}/v1/admin/catalog/fair/rollback`, asAnna)).json();
  const { trail: fairTrail } = await (await call("/v1/admin/trail?form=fair&limit=1")).json();
  assert.deepEqual([fairTrail[0].did, fairTrail[0].by], ["rolled_back", "anna"]);
  assert.deepEqual([back.form.published, back.form.latest], [1, 2]);
  await waitFor((s) => !s.includes(">Fair<"));
  assert.equal((await call("/v1/admin/catalog/fair/rollback", json({ to: 7 }))).status, 404);
  assert.equal((await call("/v1/admin/catalog/fair/rollback", json({ to: "one" }))).status, 422);
  const version = await (await call("/v1/admin/catalog/fair/versions/2")).json();
  assert.equal(version.def.title.en, "Fair", "a version stays as it was published");

  const { trail } = await (await call("/v1/admin/trail?form=fair")).json();
  assert.deepEqual(trail.map((t) => [t.did, t.version ?? null, t.by]), [
    ["rolled_back", 1, "anna"],
    ["published", 2, "admin"],
    ["saved", null, "admin"],
    ["published", 1, "admin"],
    ["saved", null, "admin"],
    ["created", null, "admin"],
  ]);
  // Archived: off every page; restored: back.
  assert.equal((await call("/v1/admin/catalog/fair/archive", { method: "POST" })).status, 200);
  for (let i = 0; i < 50 && (await fetch(`${collector.base}/embed/fair.js`)).status !== 404; i++) await new Promise((r) => setTimeout(r, 200));
  assert.equal((await fetch(`${collector.base}/embed/fair.js`)).status, 404);
  assert.equal((await call("/v1/admin/catalog/fair/restore", { method: "POST" })).status, 200);
  await embedded();
  // A definition that is not one is a 400 naming where it breaks; the preview takes no token and stores nothing.
  const broken = await call("/v1/admin/catalog/fair", { method: "PUT", headers: { "content-type": "application/json" }, body: '{"id": "fair", "kind": "poster"}' });
  assert.equal(broken.status, 400);
  assert.match((await broken.json()).error.message, /kind/);
  const shown = await fetch(`${collector.base}/v1/preview`, json(draft));
  assert.equal(shown.status, 200);
  assert.match(await shown.text(), /preview\.invalid/, "a preview's widget sends nowhere");
});
