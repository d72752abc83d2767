//! End-to-end: form analytics in Chromium. A form below the fold counts a view only once it is scrolled into
// view; typing counts one start; a problem shown counts under its field and code; leaving after a start
// counts an abandon at the last field; the conversion rate of a scripted mix of 20 page views is exact and
// joins the lead funnel by source; the plain HTML form counts submissions with unknown views; unique
// visitors are counted once a day; and reports that are not a page view's are refused, naming the problem.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { admin, eventually, humanPause, launchBrowser, startCollector, startSite } from "./support.mjs";

let collector, site, browser;

const form = (id, extra = "") => `
[[forms]]
id = "${id}"
kind = "newsletter"
fields = [{ name = "email", required = true }, { name = "first_name" }]
consents = [{ id = "marketing_email", text = { en = "Send me the newsletter." } }]
allowed_origins = ["SITE"]
${extra}
`;

before(async () => {
  // The site first: the forms allow its origin.
  const page = (id, { tall = false } = {}) =>
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>${id}</title></head><body>
${tall ? '<div style="height:3000px">Scroll down for the form.</div>' : ""}<div data-leadgate-form="${id}"></div>
<script src="COLLECTOR/embed/${id}.js" async></script></body></html>`;
  const pages = { "/seen.html": page("seen", { tall: true }), "/typed.html": page("typed"), "/mix.html": page("mix"), "/uniq.html": page("uniq") };
  let base = null;
  site = await startSite(new Proxy(pages, { get: (p, k) => (p[k] ? p[k].replace("COLLECTOR", base) : undefined) }));
  const config = ["seen", "typed", "mix"].map((id) => form(id)).join("") + form("uniq", "unique_visitors = true");
  collector = await startCollector(config.replaceAll("SITE", site.base), { env: { LEADGATE_FLUSH_MS: "200" } });
  base = collector.base;
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await collector?.stop();
  await site?.close();
});

const analytics = (id, by = "source") => admin(collector, `/v1/admin/forms/${id}/analytics?by=${by}`);

/** Opens `path` on the site and waits until the form is rendered. */
async function open(context, path) {
  const page = await context.newPage();
  await page.goto(`${site.base}${path}`);
  await page.locator("#lg-f-email").waitFor({ state: "attached" });
  return page;
}

/** Waits until at least half of the form is in view (the widget's observer runs in the same step). */
async function inView(page) {
  await page.evaluate(
    () =>
      new Promise((resolve) => {
        const o = new IntersectionObserver(
          (es) => {
            if (es.some((e) => e.intersectionRatio >= 0.5)) {
              o.disconnect();
              requestAnimationFrame(() => resolve());
            }
          },
          { threshold: [0.5] }
        );
        o.observe(document.querySelector("[data-leadgate-form]"));
      })
  );
}

/** Leaves the page the way a visitor does: it is hidden, then gone. */
async function leave(page) {
  await page.goto("about:blank");
  await page.close();
}

test("a form below the fold counts a view only once it is scrolled into view", async () => {
  const context = await browser.newContext();
  const unseen = await open(context, "/seen.html");
  await leave(unseen);
  const first = await eventually(async () => {
    const r = await analytics("seen");
    return r.total.loads === 1 && r;
  }, 15_000, "the load");
  // The report, if the widget had sent one, would have come with the page's hiding: give it time.
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal((await analytics("seen")).total.views, 0, "not in view, not a view");
  assert.equal(first.total.views, 0);

  const seen = await open(context, "/seen.html");
  await seen.locator("#lg-f-email").scrollIntoViewIfNeeded();
  await inView(seen);
  await leave(seen);
  const got = await eventually(async () => {
    const r = await analytics("seen");
    return r.total.views === 1 && r;
  }, 15_000, "the view");
  assert.equal(got.total.loads, 2);
  assert.equal(got.total.starts, 0);
  await context.close();
});

test("typing counts one start, a problem shown counts under its field and code, leaving counts an abandon at the last field", async () => {
  const context = await browser.newContext();
  const page = await open(context, "/typed.html");
  await inView(page);
  // Sent empty: the required address is shown missing (the check of the whole form), then typed wrong.
  await page.locator("button[type=submit]").click();
  await page.locator("#lg-f-email-e").filter({ hasText: "fill in" }).waitFor();
  await page.locator("#lg-f-email").fill("nope");
  await page.locator("#lg-f-first_name").focus(); // The email field's check runs when it loses focus.
  await page.locator("#lg-f-email-e").filter({ hasText: "valid email" }).waitFor();
  await page.locator("#lg-f-first_name").pressSequentially("Kim");
  await leave(page);
  const got = await eventually(async () => {
    const r = await analytics("typed");
    return r.total.abandons === 1 && r;
  }, 15_000, "the abandon");
  const t = got.total;
  assert.deepEqual([t.views, t.starts, t.submissions], [1, 1, 0], "four keystrokes, one start");
  assert.deepEqual(t.errors, [
    { field: "email", code: "invalid_email", count: 1 },
    { field: "email", code: "required", count: 1 },
  ]);
  assert.deepEqual(t.dropoff, [{ field: "first_name", count: 1 }]);
  await context.close();
});

test("the conversion rate of a scripted mix of 20 page views is exact and joins the lead funnel by source", async () => {
  const context = await browser.newContext();
  // 20 page views, half from each source: per source 3 send the form, 2 start and leave, 5 only look.
  const plan = [];
  for (const source of ["fair", "ads"]) {
    for (let i = 0; i < 10; i++) plan.push({ source, act: i < 3 ? "send" : i < 5 ? "start" : "look", i });
  }
  let n = 0;
  const visit = async ({ source, act, i }) => {
    const page = await open(context, `/mix.html?utm_source=${source}&utm_campaign=winter`);
    await inView(page);
    if (act !== "look") await page.locator("#lg-f-email").fill(`mix-${source}-${i}-${n++}@example.com`);
    if (act === "send") {
      await humanPause(page);
      await page.locator("button[type=submit]").click();
      await page.getByRole("status").filter({ hasText: "Thank you" }).waitFor();
    }
    await leave(page);
  };
  // Five at a time: the sends each wait out the bot check's two seconds.
  for (let k = 0; k < plan.length; k += 5) await Promise.all(plan.slice(k, k + 5).map(visit));
  const got = await eventually(async () => {
    const r = await analytics("mix");
    return r.total.views === 20 && r.total.submissions === 6 && r.total.abandons === 4 && r;
  }, 20_000, "20 page views");
  const t = got.total;
  assert.deepEqual([t.loads, t.views, t.starts, t.submissions, t.abandons], [20, 20, 10, 6, 4]);
  assert.equal(t.conversion_rate, 6 / 20);
  assert.equal(t.completion_rate, 6 / 10);
  assert.equal(t.start_rate, 10 / 20);
  assert.deepEqual(t.dropoff, [{ field: "email", count: 4 }]);
  assert.deepEqual(
    t.funnel.map((s) => [s.step, s.count]),
    [["views", 20], ["leads", 6], ["mql", 0], ["sql", 0], ["opportunity", 0], ["customer", 0]]
  );
  for (const source of ["ads", "fair"]) {
    const g = got.groups.find((g) => g.key === source);
    assert.deepEqual([g.loads, g.views, g.submissions, g.conversion_rate, g.funnel[1].count], [null, 10, 3, 0.3, 3], source);
  }
  const byCampaign = await analytics("mix", "campaign");
  assert.deepEqual(byCampaign.groups.map((g) => [g.key, g.views]), [["winter", 20]]);
  const byDay = await analytics("mix", "day");
  assert.equal(byDay.groups.length, 1);
  assert.match(byDay.groups[0].key, /^\d{4}-\d{2}-\d{2}$/);
  assert.equal(byDay.groups[0].loads, 20, "loads are known per day");
  await context.close();
});

test("the plain HTML form counts its submissions; its views are unknown, not zero", async () => {
  const body = new URLSearchParams({ form: "typed", email: "plain@example.com", _elapsed: "9000" });
  const r = await fetch(`${collector.base}/v1/leads`, { method: "POST", body, redirect: "manual", headers: { "content-type": "application/x-www-form-urlencoded" } });
  assert.equal(r.status, 303, await r.text());
  const got = await eventually(async () => {
    const a = await analytics("typed");
    return a.plain_form.submissions === 1 && a;
  }, 15_000, "the plain form's submission");
  assert.equal(got.plain_form.views, null);
  assert.equal(got.total.submissions, 0, "the widget's submissions are apart");
});

test("unique visitors are counted once a day per browser, with nothing stored in it", async () => {
  // Another browser on the same machine (the same address): a context's user agent does not reach the
  // beacons a leaving page sends, a browser's own does.
  const other = await launchBrowser(["--user-agent=Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"]);
  const firefox = await other.newContext();
  const chrome = await browser.newContext();
  for (const context of [firefox, firefox, chrome]) {
    const page = await open(context, "/uniq.html");
    await inView(page);
    assert.deepEqual(await page.evaluate(() => [document.cookie, localStorage.length, sessionStorage.length]), ["", 0, 0], "no cookie, no storage");
    await leave(page);
  }
  let seen;
  const got = await eventually(async () => {
    seen = await analytics("uniq", "day");
    return seen.total.views === 3 && seen.total.visitors === 2 && seen;
  }, 15_000, "three views of two visitors").catch((e) => assert.fail(`${e.message}: ${JSON.stringify(seen?.total)}`));
  assert.equal(got.counts_visitors, true);
  assert.equal((await analytics("mix")).total.visitors, null, "a form that does not count them says so");
  await chrome.close();
  await other.close();
});

test("a report that no page view makes is refused, naming the problem, and counts nothing", async () => {
  const send = (body, headers = {}) => fetch(`${collector.base}/v1/beacon`, { method: "POST", body: JSON.stringify(body), headers: { "content-type": "text/plain", ...headers } });
  const before = (await analytics("typed")).total;
  for (const [body, status, says] of [
    [{ form: "typed", view: 5 }, 400, "`view` must be 0 or 1"],
    [{ form: "typed", abandon: ["", "password"] }, 400, "no field `password`"],
    [{ form: "typed", errors: [["email", 99]] }, 400, "no problem is numbered 99"],
    [{ form: "typed", view: 1, visitor: "c_123" }, 400, "unknown field"],
    [{ form: "nope", view: 1 }, 404, ""],
  ]) {
    const r = await send(body);
    assert.equal(r.status, status, JSON.stringify(body));
    const answer = await r.json();
    assert.ok(answer.error.message.includes(says), `${JSON.stringify(body)}: ${answer.error.message}`);
  }
  const foreign = await send({ form: "typed", view: 1 }, { origin: "https://elsewhere.example" });
  assert.equal(foreign.status, 403, "a page the form does not allow");
  const ok = await send({ form: "typed", start: 1 });
  assert.equal(ok.status, 204);
  await eventually(async () => (await analytics("typed")).total.starts === before.starts + 1, 15_000, "the one good report");
  assert.equal((await analytics("typed")).total.views, before.views, "the refused ones counted nothing");
});

test("the embed script is revalidated on every page view: each is a load, and a known version costs a bodiless 304", async () => {
  const url = `${collector.base}/embed/typed.js`;
  const before = (await analytics("typed")).total.loads;
  const first = await fetch(url);
  assert.equal(first.status, 200);
  assert.equal(first.headers.get("cache-control"), "no-cache");
  const etag = first.headers.get("etag");
  assert.match(etag, /^"[0-9a-f]{20}"$/);
  const again = await fetch(url, { headers: { "if-none-match": etag } });
  assert.equal(again.status, 304);
  assert.equal((await again.arrayBuffer()).byteLength, 0);
  assert.equal((await fetch(url, { headers: { "if-none-match": '"0000"' } })).status, 200, "another version is sent whole");
  await eventually(async () => (await analytics("typed")).total.loads === before + 3, 15_000, "three loads");
});
