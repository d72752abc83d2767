//! End-to-end: an A/B test of a form's texts in Chromium. 40 page views of a form with two variants weighted
// 3:1 split by weight within a stated tolerance; each shows its variant's title, button and thank-you
// sentence; the leads record the variant their page showed; the analytics report per variant counts exactly
// the views and submissions the browser saw and compares the second with the control; the funnel groups
// leads by variant; and the editor shows the results and ends the test by publishing the winner, after
// which pages show its texts and no test. axe finds nothing on the editor with a test.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { admin, eventually, humanPause, launchBrowser, pool, root, secrets, startCollector, startSite } from "./support.mjs";

let collector, site, browser;
const axeSource = readFileSync(path.join(root, "node_modules/axe-core/axe.min.js"), "utf8");

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
title = { en = "News" }
fields = [{ name = "email", required = true }]
consents = [{ id = "marketing_email", text = { en = "Send me the newsletter." } }]
allowed_origins = ["${site.base}"]
variants = [
  { name = "plain", weight = 3 },
  { name = "bold", weight = 1, title = { en = "Ideas every Monday" }, button = { en = "Count me in" }, thanks = { en = "See you on Monday." } },
]
`,
    { env: { LEADGATE_FLUSH_MS: "200", LEADGATE_FORMS_TTL_MS: "1000" } }
  );
  base = collector.base;
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await collector?.stop();
  await site?.close();
});

/** The variant a customer's page shows, read from its heading. */
const shownOn = async (page) => ((await page.locator("h2").textContent()) === "Ideas every Monday" ? "bold" : "plain");

test("40 page views split by weight, each variant's texts and leads are its own, and the report counts what the browser saw", async () => {
  const context = await browser.newContext();
  const views = Array.from({ length: 40 }, (_, i) => i);
  // Every fourth page view sends the form.
  const seen = await pool(views, 4, async (i) => {
    const page = await context.newPage();
    await page.goto(`${site.base}/news.html`);
    await page.locator("h2").waitFor();
    const variant = await shownOn(page);
    assert.equal(await page.locator("button[type=submit]").textContent(), variant === "bold" ? "Count me in" : "Subscribe");
    const email = i % 4 === 0 ? `v${i}@example.com` : null;
    if (email) {
      await page.locator("#lg-f-email").fill(email);
      await page.locator("#lg-consent-marketing_email").check();
      await humanPause(page);
      await page.locator("button[type=submit]").click();
      await page.getByRole("status").filter({ hasText: variant === "bold" ? "See you on Monday." : "Thank you" }).waitFor();
    }
    // Leaving hides the page: the widget reports the view (and the submission) then.
    await page.goto("about:blank");
    await page.close();
    return { variant, email };
  });
  const count = (variant, f = () => true) => seen.filter((s) => s.variant === variant && f(s)).length;
  // Weighted 3:1, 40 views show "bold" 10 times on average (standard deviation 2.7); more than 9 off happens
  // about once in a thousand runs.
  const bold = count("bold");
  console.log(`# 40 page views: plain ${count("plain")}, bold ${bold} (expected 30 and 10)`);
  assert.ok(Math.abs(bold - 10) <= 9, `bold shown ${bold} times of 40`);

  const report = await eventually(async () => {
    const r = await admin(collector, "/v1/admin/forms/news/analytics?by=variant");
    return r.total.views === 40 && r.total.submissions === 10 && r;
  }, 20_000, "the reports of 40 page views");
  const line = (key) => report.groups.find((g) => g.key === key);
  assert.deepEqual(report.groups.map((g) => g.key), ["plain", "bold"], "the control first");
  for (const v of ["plain", "bold"]) {
    assert.equal(line(v).views, count(v), `${v}: views as seen`);
    assert.equal(line(v).submissions, count(v, (s) => s.email), `${v}: submissions as sent`);
    assert.equal(line(v).funnel[1].count, count(v, (s) => s.email), `${v}: leads`);
  }
  assert.equal(line("plain").versus, undefined);
  const versus = line("bold").versus;
  assert.equal(versus.control, "plain");
  const rate = (v) => (count(v) ? count(v, (s) => s.email) / count(v) : 0);
  assert.ok(Math.abs(versus.difference - (rate("bold") - rate("plain"))) < 1e-9, "the difference of the conversion rates");
  assert.ok(versus.confidence === null || (versus.confidence >= 0 && versus.confidence <= 1));

  const { leads } = await admin(collector, "/v1/admin/leads?form=news&limit=100");
  for (const s of seen.filter((s) => s.email)) assert.equal(leads.find((l) => l.fields.email === s.email).variant, s.variant, `${s.email}'s variant`);
  const funnel = await admin(collector, "/v1/admin/funnel?form=news&by=variant");
  const leadsOf = (key) => funnel.groups.find((g) => g.key === key)?.leads ?? 0;
  assert.deepEqual([leadsOf("plain"), leadsOf("bold")], [count("plain", (s) => s.email), count("bold", (s) => s.email)]);
  await context.close();
});

test("the editor shows the test's results, previews each variant and ends the test with the winner", async () => {
  const page = await browser.newPage();
  await page.goto(`${collector.base}/admin.html`);
  await page.fill("#token", secrets.ADMIN_TOKEN);
  await page.click("#login button");
  await page.getByRole("button", { name: "Edit news" }).click();
  await page.locator("#variant-rows tr").nth(1).waitFor();
  assert.match(await page.locator("#variant-rows").textContent(), /control/);
  // The preview shows the variant chosen.
  await page.locator("#preview-variant").selectOption("bold");
  await page.frameLocator("#preview").locator("h2").filter({ hasText: "Ideas every Monday" }).waitFor();
  await page.locator("#preview-variant").selectOption("plain");
  await page.frameLocator("#preview").locator("h2").filter({ hasText: "News" }).waitFor();

  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => (await window.axe.run(document.querySelector("#forms"))).violations.map((v) => `${v.id}: ${v.nodes.length}`));
  assert.deepEqual(violations, [], "axe on the editor with a test");

  await page.getByRole("button", { name: "Publish bold as the winner" }).click();
  await page.locator("#status").filter({ hasText: "bold won" }).waitFor();
  await page.locator("#variant-results").waitFor({ state: "hidden" }); // No test any more.
  const script = await eventually(async () => {
    const s = await (await fetch(`${collector.base}/embed/news.js`)).text();
    return !s.includes('"variants"') && s;
  }, 10_000, "the winner's version on pages");
  // (The script escapes `</` as `<\/`.)
  assert.ok(script.includes("<h2>Ideas every Monday<\\/h2>"), "the winner's title is the form's");
  assert.ok(script.includes(">Count me in<\\/button>"), "the winner's button is the form's");
  const { trail } = await admin(collector, "/v1/admin/trail?form=news&limit=2");
  assert.deepEqual(trail.map((t) => t.did), ["published", "saved"]);
  await page.close();
});
