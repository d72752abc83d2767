//! End-to-end: Cloudflare Turnstile. A local stand-in for siteverify behaves like Cloudflare's documented
// test secrets (1x... always passes, 2x... always fails); the collector refuses submissions without a
// token or with a refused one (403), and passes on the visitor's address. The widget picks up the token
// Turnstile leaves in the page (real Turnstile needs the internet, which this machine does not have, so
// the page carries the token Cloudflare's test site keys produce).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { humanPause, launchBrowser, postLead, startCollector, startSite } from "./support.mjs";

const PASS = "1x0000000000000000000000000000000AA";
const FAIL = "2x0000000000000000000000000000000AA";
const TOKEN = "XXXX.DUMMY.TOKEN.XXXX";
let siteverify, collector, browser, site;
const checks = [];

before(async () => {
  siteverify = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const form = new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
      checks.push(Object.fromEntries(form));
      const success = form.get("secret") === PASS && form.get("response") === TOKEN;
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ success, "error-codes": success ? [] : ["invalid-input-response"] }));
    });
  });
  await new Promise((r) => siteverify.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${siteverify.address().port}/turnstile/v0/siteverify`;
  process.env.TS_PASS = PASS;
  process.env.TS_FAIL = FAIL;
  collector = await startCollector(`
[[forms]]
id = "guarded"
kind = "newsletter"
allowed_origins = ["http://127.0.0.1:*"]
fields = [{ name = "email", required = true }]
turnstile = { secret = "TS_PASS", siteverify_url = "${url}" }

[[forms]]
id = "blocked"
kind = "newsletter"
fields = [{ name = "email", required = true }]
turnstile = { secret = "TS_FAIL", siteverify_url = "${url}" }
`);
  site = await startSite({
    "/guarded.html": `<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>Guarded</title></head>
<body><h1>Guarded</h1><input type="hidden" name="cf-turnstile-response" value="${TOKEN}"><script src="${collector.base}/embed/guarded.js" async></script></body></html>`,
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await site?.close();
  await collector?.stop();
  await new Promise((r) => siteverify.close(r));
});

const post = (form, turnstile) => postLead(collector, { form, fields: { email: `${form}-${checks.length}@example.com` }, meta: { turnstile } });

test("no token or a refused token is a 403; a genuine one passes, checked with the visitor's address", async () => {
  const missing = await post("guarded");
  assert.equal(missing.status, 403);
  assert.equal((await missing.json()).error.code, "human_check_failed");
  assert.equal(checks.length, 0, "without a token siteverify is not even asked");

  assert.equal((await post("guarded", TOKEN)).status, 201);
  assert.equal(checks.at(-1).secret, PASS);
  assert.equal(checks.at(-1).response, TOKEN);
  assert.ok(checks.at(-1).remoteip, "the visitor's address goes to siteverify (and nowhere into storage)");

  const refused = await post("blocked", TOKEN);
  assert.equal(refused.status, 403);
  assert.equal(checks.at(-1).secret, FAIL);

  const plain = await fetch(`${collector.base}/v1/leads`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: `form=guarded&email=plain%40example.com&_elapsed=9000&cf-turnstile-response=${TOKEN}`,
    redirect: "manual",
  });
  assert.equal(plain.status, 303, "the no-JavaScript form passes Turnstile's field along");
});

test("the widget sends the token Turnstile left in the page", async () => {
  const page = await browser.newPage();
  await page.goto(`${site.base}/guarded.html`);
  await page.fill("#lg-f-email", "widget-turnstile@example.com");
  await humanPause(page);
  await page.click("button[type=submit]");
  await page.getByRole("status").filter({ hasText: "Thank you" }).waitFor();
  assert.equal(checks.at(-1).response, TOKEN);
  await page.close();
});
