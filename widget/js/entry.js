//! The widget's JavaScript entry: finds where to render and mounts the Rust form there.
//
// The collector wraps this bundle as
// `(function(){var __leadgate={id, endpoint, sheet, en, de, css, draw, variants}; <bundle>})()`, so the
// form (its rules as a sheet, its markup per language, its style sheet; per variant for a form under an A/B
// test) arrives with the script (one request) and nothing is added to the page's globals.
// `document.currentScript` is read synchronously, at once, because it is only set while the script runs.
import { initSync, Form } from "../../target/widget/pkg/widget.js";
import { mount } from "./view.js";

// The build replaces LEADGATE_WASM with the wasm module as a template literal of one character per byte
// (`byte_literal` in xtask/src/compile.rs): it compresses far better than base64.
const wasm = Uint8Array.from(LEADGATE_WASM, (c) => c.charCodeAt(0));

const config = __leadgate;
const script = document.currentScript;

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
  // Compiled synchronously: the module is a few dozen kilobytes, far below the browsers' limit for that, and
  // the asynchronous loader would add its own code to every download.
  initSync({ module: wasm });
  const lang = document.documentElement.getAttribute("lang") || undefined;
  for (const host of targets()) {
    host.setAttribute("data-leadgate-mounted", "");
    // The Rust form chooses the language; the embed script carries the markup of each one it may choose.
    // A form under an A/B test has a sheet and a markup per variant: this page view is shown the first whose
    // bound in `config.draw` (the collector's, by weight) lies above a random number.
    const r = Math.random();
    const variant = config.draw ? config.draw.findIndex((bound) => r < bound) : 0;
    const form = Form.open([].concat(config.sheet)[variant], lang);
    const markup = form && [].concat(config[form.lang()])[variant];
    if (!markup) throw new Error("the form definition is damaged");
    // The form lives as long as the page: its listeners keep it alive, so the returned view (which could
    // unmount it) is not kept.
    mount(host, config.css, markup, form, config.endpoint, config.id, config.variants?.[variant]);
  }
}

const run = () => {
  try {
    start();
  } catch (e) {
    console.error("leadgate:", e);
  }
};
if (document.readyState === "loading") {
  // A placeholder div may stand later in the page than an async script: wait for the document.
  document.addEventListener("DOMContentLoaded", run, { once: true });
} else {
  run();
}
