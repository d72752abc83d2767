//! The widget's JavaScript entry: shows the form where it belongs at once, and hands it its rules when the
// shared wasm module has arrived.
//
// The collector wraps this bundle as
// `(function(){var __leadgate={id, endpoint, base, sheet, markup, css, draw, variants, turnstile}; <bundle>})()`
// (after a line with V8's compile hint, see `edge::rules::embed`), so
// the form (its markup per language, its style sheet, its rules as a sheet; per variant for a form under an
// A/B test) arrives with the script and nothing is added to the page's globals by name.
// `document.currentScript` is read synchronously, at once, because it is only set while the script runs.
//
// Markup first: the form is put on the page before any wasm is compiled. The rules (the widget's wasm
// module, the same for every form of this build) are fetched from the collector at a content-hashed URL
// that is cached for good (`/w/<hash>.wasm`, `Cache-Control: immutable`) and compiled while it streams in;
// several forms on one page share one download and one compilation (a promise kept under a symbol on the
// window, `Symbol.for("leadgate")`). Until the rules are there the view checks nothing and a submit waits for them.
import { functions } from "./rules.js";
import { mount } from "./view.js";

const config = __leadgate;
const script = document.currentScript;
// The build replaces LEADGATE_WASM with the module's path, `/w/<hash>.wasm`; it is fetched from the
// collector that served this script (`base`, else where submissions go).
const url = (config.base || config.endpoint) + LEADGATE_WASM;

// What every Leadgate script on the page shares (see `view.js` for Turnstile): here the compiled module by
// URL. A failed attempt is forgotten, so the next try (this script's or another's) fetches again; a script
// tries three more times, after 1, 3 and 9 s.
const shared = (window[Symbol.for("leadgate")] ||= {});
function rules(n) {
  const compiling = (shared[url] ||= WebAssembly.compileStreaming(fetch(url)));
  return compiling.catch((e) => {
    if (shared[url] === compiling) delete shared[url];
    if (n > 2) throw e;
    return new Promise((r) => setTimeout(r, 1000 * 3 ** n)).then(() => rules(n + 1));
  });
}

function targets() {
  const id = config.id;
  const marked = Array.from(document.querySelectorAll("[data-leadgate-form]")).filter(
    (el) => el.getAttribute("data-leadgate-form") === id && !el.hasAttribute("data-leadgate-mounted")
  );
  if (marked.length) return marked;
  // No placeholder: render where the script tag stands.
  if (script && script.parentNode) {
    const host = document.createElement("div");
    host.setAttribute("data-leadgate-form", id);
    script.parentNode.insertBefore(host, script);
    return [host];
  }
  return [];
}

function start() {
  // The language shown: the page's (its `lang` attribute's primary subtag) when the script carries markup
  // for it, else English, else the form's only one. It is chosen here, before the rules, because what is
  // shown depends on it; the Rust form is then opened in the language shown (`Lang::choose` picks the same).
  const markups = config.markup;
  const primary = (document.documentElement.lang || "").toLowerCase().replace("_", "-").split("-")[0];
  const lang = (primary === "de" || primary === "en") && markups[primary] ? primary : markups.en ? "en" : "de";
  const views = [];
  for (const host of targets()) {
    host.setAttribute("data-leadgate-mounted", "");
    // A form under an A/B test has a sheet and a markup per variant: this page view is shown the first whose
    // bound in `config.draw` (the collector's, by weight) lies above a random number.
    const r = Math.random();
    const variant = config.draw ? config.draw.findIndex((bound) => r < bound) : 0;
    views.push([mount(host, config.css, [].concat(markups[lang])[variant], config.endpoint, config.id, config.variants?.[variant], config.turnstile), variant]);
  }
  // The rules are asked for in the next task, so the browser may paint the forms first (starting the fetch
  // and the streaming compilation takes about 1.4 ms, measured by `cargo xtask bench render`). One instance
  // per script, from the shared module; a damaged sheet opens no form: its view then waits, and the console
  // says why. (The forms live as long as the page: their listeners keep them alive, so the views are not
  // kept.)
  // When they cannot be loaded (after the retries), each view is told so, with a new attempt for its next
  // submit. The attempt under way is kept: views that submit while it runs share it, so each view's form
  // is opened once, and only a failed attempt is made again.
  let loading;
  const load = () =>
    (loading ||= rules(0)
      .then((module) => {
        // The module imports nothing.
        const exported = functions(new WebAssembly.Instance(module));
        for (const [view, variant] of views) view.ready(exported, exported.open([].concat(config.sheet)[variant], lang) || damaged());
      })
      .catch((e) => {
        loading = null;
        fail(e);
        for (const [view] of views) view.lost(load);
      }));
  if (views.length) setTimeout(load);
}

const damaged = () => {
  throw new Error("the form definition is damaged");
};
const fail = (e) => console.error("leadgate:", e);
const run = () => {
  try {
    start();
  } catch (e) {
    fail(e);
  }
};
if (document.readyState === "loading") {
  // A placeholder div may stand later in the page than an async script: wait for the document.
  document.addEventListener("DOMContentLoaded", run, { once: true });
} else {
  run();
}
