//! End-to-end: the admin page (www/admin.html) in Chromium against the real admin API. Token login, the
// lead list and a lead's consent record, erasure with its confirmation, deliveries, a giveaway draw; no
// axe-core violations; data that looks like markup stays text.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { startReceiver } from "./receiver.mjs";
import { admin, adminLeads, artifacts, eventually, launchBrowser, postLead, root, secrets, startCollector } from "./support.mjs";

let receiver, collector, browser;
const axeSource = readFileSync(path.join(root, "node_modules/axe-core/axe.min.js"), "utf8");

before(async () => {
  receiver = await startReceiver({ secret: secrets.WEBHOOK_SECRET });
  collector = await startCollector(`
[[owners]]
id = "anna"
name = "Anna Schmidt"

[[forms]]
id = "news"
kind = "newsletter"
fields = [{ name = "email", required = true }, { name = "first_name" }]
consents = [{ id = "marketing_email", required = true, version = 2, text = { en = "Send me the newsletter." } }]

[[forms.webhooks]]
id = "crm"
url = "${receiver.url}"

[[forms]]
id = "win"
kind = "giveaway"
fields = [{ name = "email", required = true }]
giveaway = { starts_at = "2020-01-01", ends_at = "2099-12-31", rules_url = "https://example.com/rules" }
consents = [{ id = "giveaway_rules", required = true, text = { en = "I accept the rules." } }]
`, { env: { LEADGATE_FLUSH_MS: "200" } });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await collector?.stop();
  await receiver?.close();
});

const post = (form, fields, consent) => postLead(collector, { form, fields, consent, meta: { page: "https://shop.example/news" } });

test("the admin page shows leads with their consent, erases, lists deliveries and draws winners", async () => {
  assert.equal((await post("news", { email: "ada@example.com", first_name: '<img src=x onerror="window.__pwned=1">' }, ["marketing_email"])).status, 201);
  assert.equal((await post("news", { email: "grace@example.com" }, ["marketing_email"])).status, 201);
  for (let i = 0; i < 3; i++) await post("win", { email: `entrant${i}@example.com` }, ["giveaway_rules"]);
  await eventually(() => receiver.deliveries.length >= 2, 10_000, "deliveries");
  // Page views of the newsletter form, as its widget reports them: 20 views, 8 starts, 2 sign-ups, 5 who
  // left (3 at the email, 2 at the name) and 1 still on the page; problems shown under the email and the box.
  const beacon = (body) => fetch(`${collector.base}/v1/beacon`, { method: "POST", body: JSON.stringify({ form: "news", ...body }) });
  for (let i = 0; i < 20; i++) {
    const body = { view: 1 };
    if (i < 8) body.start = 1;
    if (i < 2) body.submit = 1;
    if (i >= 2 && i < 7) body.abandon = ["", i < 5 ? "email" : "first_name"];
    if (i < 4) body.errors = [["email", 2]];
    if (i === 0 || i === 1) body.errors.push(["consent.marketing_email", 14]);
    assert.equal((await beacon(body)).status, 204);
  }
  await eventually(async () => (await admin(collector, "/v1/admin/forms/news/analytics")).total.views === 20, 10_000, "the page views");

  const page = await browser.newPage();
  // Confirms erasures; answers the withdrawal's question like an admin who received a letter.
  page.on("dialog", (d) => d.accept(d.type() === "prompt" ? "letter of 2026-11-30" : undefined));
  await page.goto(`${collector.base}/admin.html`);
  await page.fill("#token", "wrong");
  await page.click("#login button");
  await page.locator("#status.err").waitFor();
  assert.match(await page.locator("#status").textContent(), /admin token/i);
  assert.equal(await page.locator("#login").isVisible(), true, "a wrong token opens nothing");

  await page.fill("#token", secrets.ADMIN_TOKEN);
  await page.click("#login button");
  await page.getByRole("button", { name: "ada@example.com" }).waitFor();
  await page.getByRole("button", { name: "grace@example.com" }).waitFor();

  // The dashboard opens the page: leads per day, the funnel, the ranking; each chart with its table.
  await page.locator("#daily-h").filter({ hasText: "5 in all" }).waitFor();
  assert.equal(await page.locator("#daily-chart svg[role=img]").count(), 1);
  assert.equal(await page.locator("#funnel-chart svg[role=img] rect").count(), 6, "one bar per stage");
  assert.match(await page.locator("#funnel-rows").textContent(), /subscriber5/);
  // Each form's panel: views to customers as a chart with its table, and where visitors stumble.
  const news = page.locator("#form-panels figure").filter({ hasText: "news: 20 views, 2 sign-ups in the form (10% of views)" });
  await news.waitFor();
  assert.equal(await page.locator("#form-panels figure").count(), 2, "one panel per form");
  assert.equal(await news.locator("svg[role=img] rect").count(), 6, "views, leads, MQL, SQL, opportunities, customers");
  assert.match(await news.locator("svg desc").textContent(), /^views: 20; leads: 2 \(10%\); MQL: 0 \(0%\)/);
  const stumbles = await news.locator("table").last().locator("tbody tr").allTextContents();
  assert.deepEqual(stumbles, ["email4invalid_email 43", "consent.marketing_email2consent_required 20", "first_name0—2"]);
  assert.match(await news.locator("p.small").textContent(), /8 starts \(40% of views\) · completed by 25% of those who started · 5 left after starting/);
  await page.locator("#dashboard").screenshot({ path: path.join(artifacts, "dashboard.png") });

  // Search by address (exact, without case).
  await page.fill("#lead-filter input[name=email]", "Grace@Example.com");
  await page.click("#lead-filter button[type=submit]");
  await page.locator("#status").filter({ hasText: "1 lead(s) shown" }).waitFor();
  await page.fill("#lead-filter input[name=email]", "");

  // An import from the page: a report per row.
  await page.fill("#import-form input[name=form]", "news");
  await page.fill("#import-form input[name=source]", "Messe Hannover 2026");
  await page.setInputFiles("#import-form input[type=file]", { name: "scans.csv", mimeType: "text/csv", buffer: Buffer.from("email,first_name\nfair1@example.com,Fair\nnot-an-email,Bad\n") });
  await page.click("#import-form button");
  await page.locator("#import-summary").filter({ hasText: "1 created, 0 merged, 1 rejected" }).waitFor();
  assert.match(await page.locator("#import-rows").textContent(), /email: invalid_email/);
  await page.click("#lead-filter button[type=submit]");
  await page.getByRole("button", { name: "fair1@example.com" }).waitFor();

  // The CSV button assembles the collector's pages into one file.
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#csv")]);
  const csv = readFileSync(await download.path(), "utf8");
  assert.equal(csv.split("\r\n").filter((l) => l.startsWith('"id"')).length, 1);
  assert.match(csv, /"grace@example\.com"/);

  await page.getByRole("button", { name: "ada@example.com" }).click();
  await page.locator("#lead-detail").waitFor();
  const consent = await page.locator("#detail-consent").textContent();
  assert.match(consent, /marketing_email/);
  assert.match(consent, /Send me the newsletter\./);
  assert.match(await page.locator("#detail-fields").textContent(), /<img src=x onerror=/, "markup in data is shown as text");
  assert.equal(await page.evaluate(() => window.__pwned), undefined, "and never runs");
  // Evaluated through the debugging protocol: the admin page's CSP refuses inline scripts, as it should.
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => (await window.axe.run(document, { resultTypes: ["violations"] })).violations.map((v) => v.id));
  assert.deepEqual(violations, []);

  // Sales qualifies her on the page: a move with its reason, then an owner; both in the history and sent.
  await page.selectOption("#move select", "sql");
  await page.fill("#move input[name=reason]", "call on 30 Nov: budget 20k");
  await page.click("#move button");
  await page.locator("#status").filter({ hasText: "moved to sql" }).waitFor();
  await page.fill("#assign input[name=owner]", "anna");
  await page.click("#assign button");
  await page.locator("#status").filter({ hasText: "assigned to anna" }).waitFor();
  const history = await page.locator("#detail-history").textContent();
  assert.match(history, /subscriber → sql/);
  assert.match(history, /call on 30 Nov: budget 20k/);
  assert.match(history, /owner — → anna/);
  assert.match(await page.locator("#detail-fields").textContent(), /owneranna/);
  const sent = await eventually(() => {
    const types = receiver.deliveries.filter((d) => d.verified && d.payload?.data?.fields?.email === "ada@example.com").map((d) => d.payload.type);
    return types.includes("lead.stage_changed") && types.includes("lead.assigned") ? types : null;
  }, 10_000, "lead.stage_changed and lead.assigned");
  assert.ok(sent);
  await page.selectOption("#lead-filter select[name=stage]", "sql");
  await page.click("#lead-filter button[type=submit]");
  await page.locator("#status").filter({ hasText: "1 lead(s) shown" }).waitFor();
  assert.match(await page.locator("#lead-rows").textContent(), /sqlanna/);
  const again = await page.evaluate(async () => (await window.axe.run(document, { resultTypes: ["violations"] })).violations.map((v) => v.id));
  assert.deepEqual(again, [], "no violations with the history and the new controls");
  await page.screenshot({ path: path.join(artifacts, "admin.png"), fullPage: true });
  await page.selectOption("#lead-filter select[name=stage]", "");
  await page.click("#lead-filter button[type=submit]");

  // A withdrawal received by letter, recorded on the page.
  await page.click("#withdraw");
  await page.locator("#detail-proof").filter({ hasText: "consent withdrawn" }).waitFor();
  assert.match(await page.locator("#detail-proof").textContent(), /via admin \(letter of 2026-11-30\)/);
  await eventually(() => receiver.deliveries.some((d) => d.payload?.type === "lead.consent_withdrawn"), 10_000, "lead.consent_withdrawn");

  await page.click("#erase");
  await page.locator("#status").filter({ hasText: "erased" }).waitFor();
  assert.ok(!(await adminLeads(collector)).some((l) => l.fields.email === "ada@example.com"), "the erasure happened");
  await eventually(() => receiver.deliveries.some((d) => d.payload?.type === "lead.erased"), 10_000, "lead.erased");

  await page.selectOption("#delivery-filter select", "delivered");
  await page.click("#delivery-filter button");
  await page.locator("#delivery-rows tr").first().waitFor();
  assert.match(await page.locator("#delivery-rows").textContent(), /lead\.created/);

  await page.fill("#draw input[name=form]", "win");
  await page.fill("#draw input[name=winners]", "2");
  await page.click("#draw button[type=submit]");
  await page.locator("#draw-result p").waitFor();
  assert.match(await page.locator("#draw-result").textContent(), /2 winner\(s\) among 3 eligible/);
  await page.click("#show-draws");
  await page.locator("#draw-result").filter({ hasText: "reproduces" }).waitFor();
  await page.close();
});
