//! `cargo xtask bench`, part two: how long a page takes to show the Leadgate form, against the same form
//! written in plain JavaScript, in the same Debian Chromium run (median of 20 loads each).
//
// Usage: node xtask/js/render-bench.mjs <embed-script.js> <module path, /w/<hash>.wasm> <module file>
// Each load is a fresh browser context (an empty cache), so every run downloads, compiles and renders.
// The times are taken inside the page: a hook installed before any form script watches every shadow root
// and notes `performance.now()` (milliseconds since navigation start) when a submit button appears in it
// (the form is shown), and when the widget marks its host `data-leadgate-ready` (its rules are there).
// The module is served as the collector serves it (`www/_headers`): `application/wasm`, immutable.
// Then, in 10 more loads each under Chromium's trace, the script's own work: how long the main thread ran
// it (`EvaluateScript`: compiling and running it, with the DOM work it does before it ends). That is the
// part the code decides, measured without the navigation and scheduling around it, whose noise (tens of
// milliseconds between loads on this machine) is most of the form-shown figures' spread.
// Last, the same two pages in one warm tab, as a visitor whose browser is already running opens them: 20
// loads each, alternating, with the browser's cache cleared before each load and each script's text made
// unique (a comment with a number), so that every load downloads and compiles its script as a first visit
// does; only the renderer process is not new. That removes most of the navigation's noise (the spread of a
// load about 4 ms instead of about 11), and the page's main thread is then idle when the script arrives,
// so what the script makes it wait for shows, such as the compiling that V8's compile hint moves ahead of
// the run (see `edge::rules::embed`). The module's own compile may come from the process's cache there,
// so only the form's time is taken.
import { readFileSync } from "node:fs";
import http from "node:http";
import { chromium } from "playwright-core";
import { spread } from "./spread.mjs";

const LOADS = 20;
const [embedFile, modulePath, moduleFile] = process.argv.slice(2);
const module = readFileSync(moduleFile);

const hook = `<script>
(() => {
  const attach = Element.prototype.attachShadow;
  Element.prototype.attachShadow = function (init) {
    const root = attach.call(this, init);
    const host = this;
    const seen = () => { if (!window.__shown && root.querySelector("button")) window.__shown = performance.now(); };
    new MutationObserver(seen).observe(root, { childList: true, subtree: true });
    const ready = () => { if (!window.__ready && host.hasAttribute("data-leadgate-ready")) window.__ready = performance.now(); };
    new MutationObserver(ready).observe(host, { attributes: true });
    return root;
  };
})();
</script>`;
const page = (script) => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>bench</title>${hook}</head>
<body><h1>Newsletter</h1><p>Monthly notes on lead generation.</p><script src="${script}" async></script></body></html>`;

// The baseline: the same form as a careful hand-written script would show it: the very markup and style
// sheet the embed script carries (shadow root, constructed stylesheet, labels, consent box, live region),
// with validation on submit, and nothing else to load.
const shown = JSON.parse(readFileSync(embedFile, "utf8").match(/^(?:\/\/.*\n)?\(function\(\)\{var __leadgate=(.*);\n/)[1]);
const plain = `(() => {
  const css = ${JSON.stringify(shown.css)};
  const host = document.createElement("div");
  document.currentScript.before(host);
  const root = host.attachShadow({ mode: "open" });
  const sheet = new CSSStyleSheet();
  sheet.replaceSync(css);
  root.adoptedStyleSheets = [sheet];
  root.innerHTML = ${JSON.stringify([].concat(shown.markup.en)[0])};
  const form = root.querySelector("form");
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const email = root.querySelector("[name=email]");
    const ok = /^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$/.test(email.value.trim());
    email.toggleAttribute("aria-invalid", !ok);
    root.getElementById(email.id + "-e").textContent = ok ? "" : "Please enter a valid email address.";
    if (ok) fetch("/v1/leads", { method: "POST", body: JSON.stringify({ email: email.value }) });
  });
})();`;

const files = {
  "/leadgate.html": ["text/html; charset=utf-8", page("/leadgate.js")],
  "/plain.html": ["text/html; charset=utf-8", page("/plain.js")],
  "/plain.js": ["text/javascript; charset=utf-8", plain],
  [modulePath]: ["application/wasm", module],
};
// A page asked for with `?n=<number>` (the warm tab's loads) asks for its script with it, and the script
// gets that number as a last comment line.
const server = http.createServer((req, res) => {
  const url = new URL(req.url, "http://x");
  let file = files[url.pathname];
  if (!file) return res.writeHead(404).end();
  const n = url.searchParams.get("n");
  if (n !== null && file[0].startsWith("text/html")) file = [file[0], file[1].replace(/(\.js)"/, `$1?n=${n}"`)];
  else if (n !== null) file = [file[0], `${file[1]}\n//${n}\n`];
  const cache = file[0] === "application/wasm" ? "public, max-age=31536000, immutable" : "no-store";
  res.writeHead(200, { "content-type": file[0], "cache-control": cache });
  res.end(file[1]);
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const base = `http://127.0.0.1:${server.address().port}`;
const embed = readFileSync(embedFile, "utf8").replace("BENCH_ORIGIN", base);
files["/leadgate.js"] = ["text/javascript; charset=utf-8", embed];
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
});

// One load in a fresh context: when the form was shown and, for Leadgate's, how long after that its rules
// were ready; then, in the same context (a returning visitor), the same again from the browser's cache.
async function load(path) {
  const context = await browser.newContext();
  const tab = await context.newPage();
  const visit = async () => {
    await tab.goto(base + path);
    const shown = await (await tab.waitForFunction(() => window.__shown, null, { timeout: 10_000 })).jsonValue();
    const ready = path === "/leadgate.html" ? await (await tab.waitForFunction(() => window.__ready, null, { timeout: 10_000 })).jsonValue() : shown;
    // When the form's script had arrived: what follows is the script's own work (compiling and running it
    // up to the form), without the navigation before it, which is most of the time and of its noise.
    const arrived = await tab.evaluate(() => performance.getEntriesByType("resource").find((e) => e.initiatorType === "script")?.responseEnd);
    own[path].push(shown - arrived);
    return [shown, ready - shown];
  };
  const first = await visit();
  const again = await visit();
  await context.close();
  return [first, again];
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const times = { leadgate: [], plain: [], rules: [], again: [], againRules: [] };
// From the script's arrival to the form being shown, per page, first and returning visits alike.
const own = { "/leadgate.html": [], "/plain.html": [] };
// One warm-up load each (starting Chromium's processes), then the two alternate so drift hits both alike.
await load("/leadgate.html");
await load("/plain.html");
for (const page in own) own[page].length = 0;
for (let i = 0; i < LOADS; i++) {
  const [[shown, rules], [againShown, againRules]] = await load("/leadgate.html");
  times.leadgate.push(shown);
  times.rules.push(rules);
  times.again.push(againShown);
  times.againRules.push(againRules);
  times.plain.push((await load("/plain.html"))[0][0]);
}
// The script's own work, traced (after the timed loads: tracing slows a load down).
const TRACED = 10;
const work = { "/leadgate.html": [], "/plain.html": [] };
async function traced(path) {
  const context = await browser.newContext();
  const tab = await context.newPage();
  await browser.startTracing(tab, { categories: ["devtools.timeline"] });
  await tab.goto(base + path);
  await tab.waitForFunction(() => window.__shown, null, { timeout: 10_000 });
  const events = JSON.parse((await browser.stopTracing()).toString()).traceEvents;
  await context.close();
  const script = base + path.replace(".html", ".js");
  const run = events.find((e) => e.name === "EvaluateScript" && e.args?.data?.url === script);
  if (run) work[path].push(run.dur / 1000);
}
for (let i = 0; i < TRACED; i++) for (const path in work) await traced(path);
// The warm tab (see the top): one context and tab for all its loads, its cache cleared before each.
const warm = { "/leadgate.html": [], "/plain.html": [] };
{
  const context = await browser.newContext();
  const tab = await context.newPage();
  const devtools = await context.newCDPSession(tab);
  await devtools.send("Network.enable");
  let n = 0;
  const visit = async (path) => {
    await devtools.send("Network.clearBrowserCache");
    await tab.goto(`${base}${path}?n=${n++}`);
    return (await tab.waitForFunction(() => window.__shown, null, { timeout: 10_000 })).jsonValue();
  };
  for (let i = 0; i < 3; i++) for (const path in warm) await visit(path);
  for (let i = 0; i < LOADS; i++) for (const path in warm) warm[path].push(await visit(path));
  await context.close();
}
await browser.close();
server.close();
const fmt = (xs) => `median ${median(xs).toFixed(1)} ms (min ${Math.min(...xs).toFixed(1)}, max ${Math.max(...xs).toFixed(1)})`;
console.log(`form shown after navigation start, ${LOADS} loads each, ${embed.length} bytes of embed script, ${module.length} bytes of module:`);
console.log(`  leadgate widget (wasm): ${fmt(times.leadgate)}`);
console.log(`  plain JavaScript form:  ${fmt(times.plain)}`);
console.log(`  ratio of medians:       ${(median(times.leadgate) / median(times.plain)).toFixed(2)}x (difference ${(median(times.leadgate) - median(times.plain)).toFixed(1)} ms)`);
// The machine's speed drifts between seconds (a shared VM: the plain form's median moved from 32 to 86 ms
// between runs, and the ratio of medians from 0.92x to 1.15x within one hour), so each Leadgate load is also
// compared with the plain load right after it: the median of those ratios is the figure least moved by it.
const paired = times.leadgate.map((t, i) => t / times.plain[i]);
console.log(`  ratio load by load:     median ${median(paired).toFixed(2)}x (each against the plain load beside it)`);
// How far the ratio of medians moves with the loads' noise alone: the same figure over the loads drawn
// again at random (by pair, with replacement), see `spread.mjs`.
const [low, high] = spread(LOADS, (picks) => median(picks.map((i) => times.leadgate[i])) / median(picks.map((i) => times.plain[i])));
console.log(`  ratio of medians, 90% of redrawn runs: ${low.toFixed(2)}x to ${high.toFixed(2)}x (the spread one run's figure has from noise alone)`);
console.log(`  from the script's arrival to the form: leadgate ${fmt(own["/leadgate.html"])}; plain ${fmt(own["/plain.html"])}`);
console.log(`  the script's own work (Chromium's trace: EvaluateScript, ${TRACED} loads each): leadgate ${fmt(work["/leadgate.html"])}; plain ${fmt(work["/plain.html"])}`);
const [warmLow, warmHigh] = spread(LOADS, (picks) => median(picks.map((i) => warm["/leadgate.html"][i])) / median(picks.map((i) => warm["/plain.html"][i])));
console.log(
  `  in a warm tab (cache cleared, ${LOADS} loads each): leadgate ${fmt(warm["/leadgate.html"])}; plain ${fmt(warm["/plain.html"])}; ` +
    `ratio of medians ${(median(warm["/leadgate.html"]) / median(warm["/plain.html"])).toFixed(2)}x (${warmLow.toFixed(2)}x to ${warmHigh.toFixed(2)}x from noise alone)`,
);
console.log(`  rules ready after the form is shown: ${fmt(times.rules)}`);
console.log(`  returning visitor (module cached): shown ${fmt(times.again)}; rules ready ${fmt(times.againRules)} after`);
