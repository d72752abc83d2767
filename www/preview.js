//! The editor's live preview, framed by the admin page: renders a draft with the real embed script that
// the collector writes for it (`POST /v1/preview`: the same widget, sheet, markup and style sheet a page
// gets once it is published), in the language the editor asks for.
//
// Each render starts from a fresh page (the draft waits in session storage over the reload), so no widget
// of an earlier draft stays in memory. Only the admin page of this origin may send drafts.
"use strict";

const KEY = "leadgate-preview";
const say = (text) => (document.getElementById("preview-status").textContent = text);

async function render(wanted) {
  document.documentElement.lang = wanted.lang;
  const shown = wanted.variant ? `?variant=${encodeURIComponent(wanted.variant)}` : "";
  const r = await fetch(`/v1/preview${shown}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(wanted.draft) });
  if (!r.ok) {
    let message = String(r.status);
    try {
      message = (await r.json()).error.message;
    } catch {}
    say(`No preview: ${message}`);
    parent.postMessage({ rendered: wanted.n }, location.origin);
    return;
  }
  const host = document.createElement("div");
  host.setAttribute("data-leadgate-form", wanted.draft.id);
  document.getElementById("preview-host").append(host);
  const script = document.createElement("script");
  script.src = URL.createObjectURL(new Blob([await r.text()], { type: "text/javascript" }));
  script.addEventListener("load", () => {
    URL.revokeObjectURL(script.src);
    document.body.setAttribute("data-rendered", String(wanted.n));
    parent.postMessage({ rendered: wanted.n }, location.origin);
  });
  document.body.append(script);
}

window.addEventListener("message", (event) => {
  if (event.origin !== location.origin || event.source !== parent || !event.data || !event.data.draft) return;
  sessionStorage.setItem(KEY, JSON.stringify(event.data));
  location.reload();
});

const waiting = sessionStorage.getItem(KEY);
sessionStorage.removeItem(KEY);
if (waiting) {
  const wanted = JSON.parse(waiting);
  render(wanted).catch((e) => {
    say(`No preview: ${e.message}`);
    parent.postMessage({ rendered: wanted.n }, location.origin);
  });
}
else parent.postMessage({ previewReady: true }, location.origin);
