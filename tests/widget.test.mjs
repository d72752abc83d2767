//! End-to-end: the widget on real pages in Chromium — every demo landing page passes axe-core, the form
// survives hostile page CSS, works under the Content-Security-Policy the README documents, mounts several
// forms on one page (script tag and placeholder div), works by keyboard alone, and hides itself on success.
// Screenshots of each demo form land in tests/artifacts/.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { startReceiver } from "./receiver.mjs";
import { adminLeads, artifacts, humanPause, launchBrowser, root, secrets, startCollector, startSite } from "./support.mjs";

let receiver, collector, browser;
const axeSource = readFileSync(path.join(root, "node_modules/axe-core/axe.min.js"), "utf8");

before(async () => {
  receiver = await startReceiver({ secret: secrets.WEBHOOK_SECRET });
  // The demo configuration itself, with its webhooks pointed at this test's receiver.
  const demo = readFileSync(path.join(root, "leadgate.toml"), "utf8").replaceAll("http://127.0.0.1:8789/webhook", receiver.url).replaceAll("http://127.0.0.1:8789/dev/mailbox", receiver.mailbox);
  collector = await startCollector(demo);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await collector?.stop();
  await receiver?.close();
});

async function axe(page) {
  await page.addScriptTag({ content: axeSource });
  return page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(" ")) }));
  });
}

for (const demo of ["newsletter", "ebook", "giveaway"]) {
  test(`the ${demo} demo page has no axe-core violations, before and after a failed submit`, async () => {
    const page = await browser.newPage();
    await page.goto(`${collector.base}/${demo}.html`);
    await page.locator("#lg-f-email").waitFor();
    await page.screenshot({ path: path.join(artifacts, `demo-${demo}.png`), fullPage: true });
    assert.deepEqual(await axe(page), []);
    await page.locator("button[type=submit]").click();
    await page.locator("[aria-invalid=true]").first().waitFor();
    assert.deepEqual(await axe(page), [], "error state too");
    await page.close();
  });
}

test("hostile page CSS cannot hide or restyle the form", async () => {
  const hostile = `<style>input,select,textarea,button,label{display:none!important}*{color:#fff!important;font-size:1px!important;visibility:hidden}form{display:none!important}div{opacity:0!important}</style>`;
  const site = await startSite({
    "/hostile.html": `<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>Hostile</title>${hostile}</head>
<body><script src="${collector.base}/embed/newsletter.js" async></script></body></html>`,
  });
  const page = await browser.newPage();
  await page.goto(`${site.base}/hostile.html`);
  // The host element itself can be hidden by the page (it is the page's element); isolate that question
  // from the form's own styling by making only the host visible again.
  await page.locator("#lg-f-email").waitFor({ state: "attached" });
  await page.addStyleTag({ content: "[data-leadgate-form]{visibility:visible!important;opacity:1!important}" });
  const email = page.locator("#lg-f-email");
  await email.waitFor({ state: "visible" });
  const size = await email.evaluate((el) => parseFloat(getComputedStyle(el).fontSize));
  assert.ok(size >= 14, `the form keeps its own font size (${size}px)`);
  await email.fill("hostile@example.com");
  await page.locator("#lg-consent-marketing_email").check();
  await humanPause(page);
  await page.locator("button[type=submit]").click();
  // The demo newsletter asks for double opt-in.
  await page.getByRole("status").filter({ hasText: "Almost done: please check your inbox" }).waitFor();
  await page.screenshot({ path: path.join(artifacts, "hostile-css.png") });
  await page.close();
  await site.close();
});

test("the form works under the documented Content-Security-Policy", async () => {
  const csp = `default-src 'self'; script-src 'self' ${collector.base} 'wasm-unsafe-eval'; connect-src 'self' ${collector.base}`;
  const site = await startSite({
    "/csp.html": {
      html: `<!doctype html><html lang="de"><head><meta charset="utf-8"><title>CSP</title></head>
<body><h1>Strenge CSP</h1><script src="${collector.base}/embed/ebook.js" async></script></body></html>`,
      headers: { "content-security-policy": csp },
    },
  });
  const page = await browser.newPage();
  const violations = [];
  page.on("console", (m) => /Content.Security.Policy|Refused/i.test(m.text()) && violations.push(m.text()));
  await page.goto(`${site.base}/csp.html`);
  await page.locator("#lg-f-email").waitFor();
  const padding = await page.locator("#lg-f-email").evaluate((el) => getComputedStyle(el).paddingLeft);
  assert.equal(padding, "12px", "the form's stylesheet applies under default-src 'self'");
  await page.fill("#lg-f-first_name", "Clara");
  await page.fill("#lg-f-last_name", "Schmidt");
  await page.fill("#lg-f-email", "clara.schmidt@beispiel.de");
  await page.fill("#lg-f-company", "Beispiel AG");
  await humanPause(page);
  await page.click("button[type=submit]");
  await page.getByRole("status").filter({ hasText: "Vielen Dank" }).waitFor();
  assert.deepEqual(violations, []);
  assert.ok((await adminLeads(collector)).some((l) => l.fields.email === "clara.schmidt@beispiel.de"));
  await page.close();
  await site.close();
});

test("several forms on one page: where the script stands and in a placeholder div, each in its own shadow root", async () => {
  const site = await startSite({
    "/multi.html": `<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>Multi</title></head><body>
<main><section id="top"><h2>Newsletter</h2><script src="${collector.base}/embed/newsletter.js" async></script></section>
<section id="side"><h2>Giveaway</h2><div data-leadgate-form="giveaway"></div></section>
<script src="${collector.base}/embed/giveaway.js" async></script></main></body></html>`,
  });
  const page = await browser.newPage();
  const modules = [];
  page.on("request", (r) => /\/w\/[0-9a-f]{16}\.wasm$/.test(r.url()) && modules.push(r.url()));
  await page.goto(`${site.base}/multi.html`);
  await page.locator("#top [data-leadgate-form=newsletter][data-leadgate-ready]").waitFor({ state: "attached" });
  await page.locator("#side [data-leadgate-form=giveaway][data-leadgate-ready]").waitFor({ state: "attached" });
  const hosts = await page.evaluate(() => [...document.querySelectorAll("[data-leadgate-form]")].map((h) => [h.getAttribute("data-leadgate-form"), !!h.shadowRoot, h.parentElement.id]));
  assert.deepEqual(hosts, [["newsletter", true, "top"], ["giveaway", true, "side"]]);
  assert.equal(modules.length, 1, `one download of the rules for both forms: ${modules}`);
  // Both forms check with their own rules: a wrong address is refused in each.
  for (const side of ["#top", "#side"]) {
    await page.locator(`${side} #lg-f-email`).fill("nope");
    await page.locator(`${side} #lg-f-email`).blur();
    assert.equal(await page.locator(`${side} #lg-f-email`).getAttribute("aria-invalid"), "true", side);
  }
  const leaked = await page.evaluate(() => ["__leadgate", "wasm_bindgen", "mount", "init"].filter((n) => n in window));
  assert.deepEqual(leaked, [], "no globals leak into the page");
  await page.close();
  await site.close();
});

test("keyboard only: tab through, tick with space, send with enter; focus is visible; the form hides after success", async () => {
  const page = await browser.newPage();
  await page.goto(`${collector.base}/giveaway.html`);
  await page.locator("#lg-f-email").waitFor();
  await page.locator("#lg-f-first_name").focus();
  await page.keyboard.type("Kim");
  const outline = await page.locator("#lg-f-first_name").evaluate((el) => getComputedStyle(el).outlineStyle);
  assert.equal(outline, "solid", "visible focus");
  await page.keyboard.press("Tab");
  await page.keyboard.type("kim@example.com");
  await page.keyboard.press("Tab"); // the rules link
  await page.keyboard.press("Tab"); // the rules box
  await page.keyboard.press("Space");
  assert.equal(await page.locator("#lg-consent-giveaway_rules").isChecked(), true);
  await page.keyboard.press("Tab"); // the optional marketing box stays unticked
  await page.keyboard.press("Tab");
  await humanPause(page);
  await page.keyboard.press("Enter");
  await page.getByRole("status").filter({ hasText: "does not affect your chance to win" }).waitFor();
  assert.equal(await page.locator(".lg-form").isVisible(), false, "the form is hidden after success");
  await page.screenshot({ path: path.join(artifacts, "giveaway-entered.png") });
  const lead = (await adminLeads(collector)).find((l) => l.fields.email === "kim@example.com");
  assert.ok(lead, "the entry is stored (a submission taken for a bot's is answered alike but not stored)");
  assert.equal(lead.consent.entries.find((e) => e.purpose === "marketing_email").granted, false);
  assert.equal(lead.score.stage, "lead");
  await page.close();
});

test("markup first, rules once: the module is fetched from its hashed URL, cached as immutable, and a returning visitor downloads nothing again", async () => {
  const site = await startSite({
    "/one.html": `<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>One</title></head><body>
<main><script src="${collector.base}/embed/newsletter.js" async></script></main></body></html>`,
    "/two.html": `<!doctype html><html lang="fr"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>Two</title></head><body>
<main><script src="${collector.base}/embed/giveaway.js" async></script></main></body></html>`,
  });
  const context = await browser.newContext();
  const visit = async (path) => {
    const page = await context.newPage();
    await page.goto(site.base + path);
    await page.locator("[data-leadgate-ready]").waitFor({ state: "attached" });
    // Resource timing of the embed script and the module (the collector allows it: `Timing-Allow-Origin`).
    const sizes = await page.evaluate(() =>
      Object.fromEntries(performance.getEntriesByType("resource").map((e) => [/\.wasm$/.test(e.name) ? "module" : /\/embed\//.test(e.name) ? "embed" : e.name, e.transferSize]))
    );
    const button = await page.locator("button[type=submit]").textContent();
    await page.close();
    return { sizes, button };
  };
  const first = await visit("/one.html");
  assert.ok(first.sizes.module > 10_000, `a first visit downloads the module: ${JSON.stringify(first.sizes)}`);
  const module = await fetch(`${collector.base}${new URL((await (await fetch(`${collector.base}/embed/newsletter.js`)).text()).match(/"\/w\/[0-9a-f]{16}\.wasm"/)[0].slice(1, -1), collector.base).pathname}`);
  assert.equal(module.headers.get("content-type"), "application/wasm", "streaming compilation needs its type");
  assert.match(module.headers.get("cache-control"), /immutable/);
  assert.equal(module.headers.get("access-control-allow-origin"), "*", "any site's page may load it");
  const again = await visit("/one.html");
  assert.equal(again.sizes.module, 0, `a returning visitor takes the module from the cache: ${JSON.stringify(again.sizes)}`);
  assert.ok(again.sizes.embed < 1000, `the embed script is revalidated (304, no body): ${JSON.stringify(again.sizes)}`);
  const other = await visit("/two.html");
  assert.equal(other.sizes.module, 0, "another page with another form shares the cached module");
  assert.equal(other.button, "Enter the giveaway", "a page language the form does not speak gets English, as the rules choose");
  await context.close();
  await site.close();
});

/**
 * Holds the page's requests for the rules (the wasm module) until the returned function is called; each is
 * first reported to `seen` (routing also turns the cache off, so every load asks). `refuse` answers a held
 * request with a network error instead, while it returns true.
 */
async function holdRules(page, { seen = () => {}, refuse = () => false } = {}) {
  let release;
  const held = new Promise((r) => (release = r));
  await page.route("**/w/*.wasm", async (route) => {
    seen();
    if (refuse()) return route.abort();
    await held;
    return route.continue();
  });
  return release;
}

test("a submit pressed before the rules are ready waits for them and is checked; nothing is sent unchecked", async () => {
  const page = await browser.newPage();
  const posts = [];
  page.on("request", (r) => r.method() === "POST" && r.url().endsWith("/v1/leads") && posts.push(r.postData()));
  const release = await holdRules(page);
  await page.goto(`${collector.base}/newsletter.html`);
  await page.locator("#lg-f-email").waitFor();
  assert.equal(await page.locator("[data-leadgate-ready]").count(), 0, "the form is shown before its rules");
  await page.fill("#lg-f-email", "not-an-address");
  await page.locator("#lg-consent-marketing_email").check();
  await humanPause(page);
  await page.click("button[type=submit]");
  assert.equal(await page.locator("button[type=submit]").getAttribute("aria-busy"), "true", "the submit waits");
  await page.waitForTimeout(300);
  assert.deepEqual(posts, [], "nothing goes out before the rules have checked it");
  release();
  await page.locator("[data-leadgate-ready]").waitFor({ state: "attached" });
  await page.getByRole("status").filter({ hasText: "check the highlighted" }).waitFor();
  assert.equal(await page.locator("#lg-f-email").getAttribute("aria-invalid"), "true");
  assert.deepEqual(posts, [], "the rules refused it: still nothing sent");

  await page.close();

  // A valid submission pressed before the rules goes out once they have checked it.
  const second = await browser.newPage();
  second.on("request", (r) => r.method() === "POST" && r.url().endsWith("/v1/leads") && posts.push(r.postData()));
  const let_through = await holdRules(second);
  await second.goto(`${collector.base}/newsletter.html`);
  await second.fill("#lg-f-email", "early.bird@example.com");
  await second.locator("#lg-consent-marketing_email").check();
  await humanPause(second);
  await second.click("button[type=submit]");
  await second.waitForTimeout(300);
  assert.deepEqual(posts, []);
  let_through();
  // The demo newsletter asks for a confirmation (double opt-in).
  await second.getByRole("status").filter({ hasText: "please check your inbox" }).waitFor();
  assert.equal(posts.length, 1, "sent once, after the check");
  assert.ok((await adminLeads(collector)).some((l) => l.fields.email === "early.bird@example.com"));
  await second.close();
});

test("rules that cannot be loaded: a waiting submit is released with a message in the form's language, and the next submit loads them once for every form of the script", async () => {
  // Two placeholders for one script: its two views share one attempt to load the rules.
  const site = await startSite({
    "/two.html": `<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>Two</title></head><body>
<main><div id="one" data-leadgate-form="newsletter"></div><div id="two" data-leadgate-form="newsletter"></div>
<script src="${collector.base}/embed/newsletter.js"></script></main></body></html>`,
  });
  const page = await browser.newPage();
  // Counts the forms opened from the rules: each view's once, however often its visitor submits.
  await page.addInitScript(() => {
    const Instance = WebAssembly.Instance;
    window.opened = 0;
    WebAssembly.Instance = function (module, imports) {
      const exports = { ...new Instance(module, imports).exports };
      const open = exports.open;
      exports.open = (...args) => (window.opened++, open(...args));
      return { exports };
    };
  });
  let blocked = true;
  const tries = [];
  const release = await holdRules(page, { seen: () => tries.push(blocked), refuse: () => blocked });
  await page.goto(`${site.base}/two.html`);
  for (const [side, email] of [["#one", "late.rules@example.com"], ["#two", "later.rules@example.com"]]) {
    await page.locator(`${side} #lg-f-email`).fill(email);
    await page.locator(`${side} #lg-consent-marketing_email`).check();
  }
  await humanPause(page);
  await page.click("#one button[type=submit]");
  // The first attempt and three retries (after 1, 3 and 9 s) fail: the visitor is told, and may try again.
  await page.locator("#one").getByRole("status").filter({ hasText: "The connection failed" }).waitFor({ timeout: 30_000 });
  assert.equal(tries.length, 4, "tried four times");
  assert.equal(await page.locator("#one button[type=submit]").getAttribute("aria-busy"), null, "released");
  // Both visitors submit while the next attempt is under way: it is made once, and opens each form once.
  blocked = false;
  await page.click("#one button[type=submit]");
  await page.click("#two button[type=submit]");
  assert.equal(await page.locator("#two button[type=submit]").getAttribute("aria-busy"), "true", "the second submit waits too");
  release();
  for (const side of ["#one", "#two"]) await page.locator(side).getByRole("status").filter({ hasText: "please check your inbox" }).waitFor();
  assert.equal(tries.length, 5, "one more download for both");
  assert.equal(await page.evaluate(() => window.opened), 2, "each form opened once");
  const stored = (await adminLeads(collector)).map((l) => l.fields.email);
  assert.ok(stored.includes("late.rules@example.com") && stored.includes("later.rules@example.com"), `${stored}`);
  await page.close();
  await site.close();
});
