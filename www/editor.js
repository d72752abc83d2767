//! The admin page's form editor: the catalog's forms, a form's every setting as controls (texts in English
// and German, fields, consent purposes, origins, the variants of an A/B test; the rest as JSON), each
// problem next to the control it concerns, a live preview with the real widget in both languages (and per
// variant), the test's results with a button that ends it with its winner, and save, publish, roll back,
// archive and the audit trail. A thin client of the admin API like the rest of the page (see admin.js, whose
// helpers it uses): the collector checks, versions and keeps everything.
"use strict";

/** Settings edited as JSON: everything of a definition that the controls below do not show. */
const ADVANCED = ["webhooks", "asset", "giveaway", "scoring", "lead_definition", "assign", "min_fill_ms", "turnstile", "shards", "unique_visitors"];
const TYPES = ["text", "email", "phone", "textarea", "url", "select", "checkbox", "number"];

/** The form being edited: its id, its draft as the controls change it, and whether the file manages it. */
let edited = null;
/** Each control by the path of its setting (`fields[1].label`), with the element its problem goes in. */
let controls = new Map();
let checking = null;
/** The preview frame's state: loaded, rendering, and whether the draft changed since it last rendered. */
const preview = { idle: false, changed: false, n: 0 };

const path = (...parts) => parts.reduce((p, part) => (typeof part === "number" ? `${p}[${part}]` : p ? `${p}.${part}` : part), "");
const texts = (en, de) => (en || de ? { en: en || null, de: de || null } : null);

async function loadCatalog() {
  const { forms } = await (await api("/v1/admin/catalog")).json();
  const rows = $("#catalog-rows");
  rows.replaceChildren();
  for (const f of forms) {
    // A viewer opens a form to read it: every control disabled, nothing to save (see `renderEditor`).
    const verb = viewing() ? "View" : "Edit";
    const edit = button(verb, guard(() => editForm(f.id)));
    edit.setAttribute("aria-label", `${verb} ${f.id}`);
    rows.append(row([f.id, f.kind, f.managed === "file" ? "config file" : "editor", f.published ?? "never", f.draft_changed ? "yes" : "no", f.archived ? "archived" : "on pages", `${f.changed_at} (${f.changed_by})`, edit]));
  }
}

async function editForm(id) {
  const detail = await (await api(`/v1/admin/catalog/${encodeURIComponent(id)}`)).json();
  // Why the form is shown read-only, if it is: a viewer's token, or a form the config file manages.
  const readOnly = viewing() ? "viewer" : detail.form.managed === "file" ? "file" : null;
  edited = { id, draft: detail.draft, detail, readOnly };
  renderEditor();
  showProblems(detail.problems);
  $("#editor").hidden = false;
  $("#editor-h").focus();
  await Promise.all([loadTrail(), loadResults()]);
  queuePreview();
}

/** One labelled control for the setting at `at`; `set` takes its new value. */
function control(labelText, at, value, set, kind = "text") {
  const label = document.createElement("label");
  label.append(labelText);
  let input;
  if (kind === "textarea" || kind === "json") {
    input = document.createElement("textarea");
    input.rows = kind === "json" ? 12 : 2;
    input.cols = 50;
    input.value = value ?? "";
  } else if (Array.isArray(kind)) {
    input = document.createElement("select");
    for (const [v, text] of kind) input.append(Object.assign(document.createElement("option"), { value: v, textContent: text }));
    input.value = value ?? "";
  } else if (kind === "checkbox") {
    input = Object.assign(document.createElement("input"), { type: "checkbox", checked: Boolean(value) });
    label.classList.add("check");
  } else {
    input = Object.assign(document.createElement("input"), { type: "text", value: value ?? "", size: 30 });
  }
  input.dataset.path = at;
  input.addEventListener(kind === "checkbox" || Array.isArray(kind) ? "change" : "input", () => {
    set(kind === "checkbox" ? input.checked : input.value);
    changed();
  });
  label.append(input);
  // The problem stands beside the label, not in it: it describes the control and must not rename it.
  const problem = Object.assign(document.createElement("span"), { className: "problem", id: `problem-${controls.size}` });
  const box = Object.assign(document.createElement("div"), { className: "control" });
  box.append(label, problem);
  controls.set(at, { input, problem });
  return box;
}

function fieldset(legend, ...children) {
  const f = document.createElement("fieldset");
  f.append(Object.assign(document.createElement("legend"), { textContent: legend }), ...children);
  return f;
}

/** Both languages of a text, side by side; `set` gets `{en, de}`, or null when both are empty. Problems
 * of the text as a whole (`title`) go under the pair. */
function bilingual(labelText, at, value, set, kind = "text") {
  let current = { en: value?.en ?? null, de: value?.de ?? null };
  const update = (lang) => (x) => {
    current = { ...current, [lang]: x || null };
    set(current.en || current.de ? { ...current } : null);
  };
  const div = Object.assign(document.createElement("div"), { className: "row" });
  const en = control(`${labelText} (English)`, `${at}.en`, current.en, update("en"), kind);
  div.append(en, control(`${labelText} (Deutsch)`, `${at}.de`, current.de, update("de"), kind));
  own(at, en.querySelector("input, textarea"), div);
  return div;
}

/** Registers `input` as the control of the setting `at` (a group's first control), its problems in `box`. */
function own(at, input, box) {
  const problem = Object.assign(document.createElement("span"), { className: "problem", id: `problem-${controls.size}` });
  box.append(problem);
  controls.set(at, { input, problem });
}

/** The path of the setting that holds the one at `p` (`fields[1]` for `fields[1].label`); "" at the top. */
const parentPath = (p) => p.match(/^(.*?)(\.[^.[\]]+|\[\d+\])$/)?.[1] ?? "";

function fieldControls(f, i) {
  const d = edited.draft;
  const options = (f.options || []).map((o) => [o.value, o.label?.en || "", o.label?.de || ""].join(" | ")).join("\n");
  const box = fieldset(
    `Field ${i + 1}: ${f.name || "new"}`,
    Object.assign(document.createElement("div"), { className: "row" }),
    bilingual("Label", path("fields", i, "label"), f.label, (t) => (d.fields[i].label = t)),
    bilingual("Help", path("fields", i, "help"), f.help, (t) => (d.fields[i].help = t)),
    control("Choices, one per line: value | English | Deutsch", path("fields", i, "options"), options, (text) => {
      d.fields[i].options = text
        .split("\n")
        .map((line) => line.split("|").map((s) => s.trim()))
        .filter(([value]) => value)
        .map(([value, en, de]) => ({ value, label: { en: en || value, de: de || null } }));
    }, "textarea")
  );
  const first = box.querySelector(".row");
  const name = control("Name", path("fields", i, "name"), f.name, (v) => (d.fields[i].name = v));
  first.append(
    name,
    control("Type", path("fields", i, "type"), f.type || "", (v) => (d.fields[i].type = v || null), [["", "standard for its name"], ...TYPES.map((t) => [t, t])]),
    control("Required", path("fields", i, "required"), f.required, (v) => (d.fields[i].required = v), "checkbox"),
    button("Remove field", () => {
      d.fields.splice(i, 1);
      renderEditor();
      changed();
    })
  );
  own(path("fields", i), name.querySelector("input"), box);
  return box;
}

function consentControls(p, i) {
  const d = edited.draft;
  const row1 = Object.assign(document.createElement("div"), { className: "row" });
  const purpose = control("Purpose id", path("consents", i, "id"), p.id, (v) => (d.consents[i].id = v));
  row1.append(
    purpose,
    control("Required", path("consents", i, "required"), p.required, (v) => (d.consents[i].required = v), "checkbox"),
    control("Legal basis", path("consents", i, "basis"), p.basis || "consent", (v) => (d.consents[i].basis = v), [["consent", "consent"], ["legitimate_interest", "legitimate interest (B2B)"]]),
    button("Remove purpose", () => {
      d.consents.splice(i, 1);
      renderEditor();
      changed();
    })
  );
  const note = Object.assign(document.createElement("p"), {
    className: "small",
    textContent: `Text version ${p.version ?? 1}: publishing a changed text gives it the next version; leads keep the text and version they saw.`,
  });
  const box = fieldset(`Consent: ${p.id || "new"}`, row1, bilingual("Text", path("consents", i, "text"), p.text, (t) => (d.consents[i].text = t || { en: null, de: null }), "textarea"), note);
  own(path("consents", i), purpose.querySelector("input"), box);
  return box;
}

/** One variant of the A/B test: its name, weight and the texts it shows instead of the form's. */
function variantControls(v, i) {
  const d = edited.draft;
  const first = Object.assign(document.createElement("div"), { className: "row" });
  const name = control("Name", path("variants", i, "name"), v.name, (x) => (d.variants[i].name = x));
  first.append(
    name,
    control("Weight", path("variants", i, "weight"), v.weight ?? 1, (x) => (d.variants[i].weight = Number(x) || x)),
    button("Remove variant", () => {
      d.variants.splice(i, 1);
      renderEditor();
      changed();
    })
  );
  const note = Object.assign(document.createElement("p"), { className: "small", textContent: i === 0 ? "The control: the others are compared with it. Texts left empty are the form's own." : "Texts left empty are the form's own." });
  const at = (key) => path("variants", i, key);
  const box = fieldset(
    `Variant ${i + 1}: ${v.name || "new"}`,
    first,
    note,
    bilingual("Title", at("title"), v.title, (t) => (d.variants[i].title = t)),
    bilingual("Intro", at("intro"), v.intro, (t) => (d.variants[i].intro = t), "textarea"),
    bilingual("Button", at("button"), v.button, (t) => (d.variants[i].button = t)),
    bilingual("Thank-you sentence", at("thanks"), v.thanks, (t) => (d.variants[i].thanks = t))
  );
  own(path("variants", i), name.querySelector("input"), box);
  return box;
}

/** The running test's numbers per variant (the published form's, last 30 days), each with a button that
 * ends the test with it. */
async function loadResults() {
  const table = $("#variant-results");
  const rows = $("#variant-rows");
  rows.replaceChildren();
  const published = edited.detail.form.published;
  const running = published && edited.detail.versions.length ? await liveVariants(published) : [];
  table.hidden = running.length === 0;
  if (!running.length) return;
  const report = await (await api(`/v1/admin/forms/${encodeURIComponent(edited.id)}/analytics?by=variant`)).json();
  const pct = (x) => (x == null ? "—" : `${(100 * x).toFixed(1)}%`);
  for (const g of report.groups) {
    if (!running.includes(g.key)) continue;
    const v = g.versus;
    const versus = v ? `${v.difference >= 0 ? "+" : ""}${(100 * v.difference).toFixed(1)} points (confidence ${pct(v.confidence)})` : "control";
    const end = edited.readOnly ? "—" : changing(button(`Publish ${g.key} as the winner`, guard(() => act("winner", { variant: g.key }))));
    rows.append(row([g.key, g.views, g.submissions, pct(g.conversion_rate), g.funnel[1].count, versus, end]));
  }
}

/** The variants' names of published version `n` (the test pages run now). */
async function liveVariants(n) {
  const { def } = await (await api(`/v1/admin/catalog/${encodeURIComponent(edited.id)}/versions/${n}`)).json();
  return (def.variants || []).map((v) => v.name);
}

function renderEditor() {
  const d = edited.draft;
  controls = new Map();
  $("#editor-h").textContent = `Form ${edited.id}`;
  const s = edited.detail.form;
  $("#editor-state").textContent = edited.readOnly === "viewer"
    ? "You are signed in as a viewer: shown read-only."
    : edited.readOnly === "file"
    ? "Managed by the config file: change it there and deploy. Shown read-only."
    : `Published version: ${s.published ?? "none yet"} · draft ${s.draft_changed ? "changed since" : "is the published version"}${s.archived ? " · archived" : ""}`;
  const basics = Object.assign(document.createElement("div"), { className: "row" });
  basics.append(
    control("Kind", "kind", d.kind, (v) => (d.kind = v), [["newsletter", "newsletter"], ["download_gate", "download gate"], ["giveaway", "giveaway"]]),
    control("Language", "lang", d.lang || "", (v) => (d.lang = v || null), [["", "the page's"], ["en", "English"], ["de", "Deutsch"]]),
    control("Audience", "mode", d.mode || "b2c", (v) => (d.mode = v), [["b2c", "consumers (B2C)"], ["b2b", "businesses (B2B)"]]),
    control("Double opt-in", "double_opt_in", d.double_opt_in, (v) => (d.double_opt_in = v), "checkbox")
  );
  const addField = button("Add field", () => {
    d.fields.push({ name: "", required: false, label: null, options: [] });
    renderEditor();
    changed();
  });
  const addConsent = button("Add consent purpose", () => {
    d.consents.push({ id: "", required: false, text: { en: "", de: null }, version: 1, basis: "consent" });
    renderEditor();
    changed();
  });
  const rest = {};
  for (const key of ADVANCED) if (d[key] !== undefined) rest[key] = d[key];
  const advanced = control("Webhooks and CRM adapters, gated file, giveaway dates and rules, scoring, lead definition, assignment, bot checks (JSON)", "advanced", JSON.stringify(rest, null, 2), (text) => {
    try {
      Object.assign(d, JSON.parse(text));
      edited.advancedBroken = null;
    } catch (e) {
      edited.advancedBroken = e.message;
    }
  }, "json");
  const where = fieldset(
    "Where it is used",
    control("Allowed page origins, one per line", "allowed_origins", (d.allowed_origins || []).join("\n"), (v) => (d.allowed_origins = v.split("\n").map((s) => s.trim()).filter(Boolean)), "textarea"),
    control("Thank-you page of the plain HTML form (URL)", "thank_you_url", d.thank_you_url, (v) => (d.thank_you_url = v || null)),
    control("Error page of the plain HTML form (URL)", "error_url", d.error_url, (v) => (d.error_url = v || null))
  );
  const addVariant = button("Add variant", () => {
    d.variants = d.variants || [];
    d.variants.push({ name: d.variants.length ? `v${d.variants.length + 1}` : "control", weight: 1 });
    renderEditor();
    changed();
  });
  addVariant.disabled = (d.variants || []).length >= 4;
  const variantsProblems = document.createElement("div");
  own("variants", addVariant, variantsProblems);
  const test = fieldset(
    "A/B test of the texts",
    Object.assign(document.createElement("p"), {
      className: "small",
      textContent: "Up to four variants; each page view is shown one by weight, and leads record theirs. The results below compare each with the first.",
    }),
    ...(d.variants || []).map(variantControls),
    addVariant,
    variantsProblems
  );
  const fieldsProblems = document.createElement("div");
  own("fields", addField, fieldsProblems);
  const consentsProblems = document.createElement("div");
  own("consents", addConsent, consentsProblems);
  const all = $("#editor-controls");
  all.replaceChildren(
    fieldset(
      "Form",
      basics,
      bilingual("Title", "title", d.title, (t) => (d.title = t)),
      bilingual("Intro", "intro", d.intro, (t) => (d.intro = t), "textarea"),
      bilingual("Button", "button", d.button, (t) => (d.button = t)),
      bilingual("Thank-you sentence", "thanks", d.thanks, (t) => (d.thanks = t))
    ),
    ...d.fields.map(fieldControls),
    addField,
    fieldsProblems,
    ...(d.consents || []).map(consentControls),
    addConsent,
    consentsProblems,
    where,
    test,
    fieldset("More settings", advanced)
  );
  const shown = $("#preview-variant");
  const wanted = shown.value;
  shown.replaceChildren(Object.assign(document.createElement("option"), { value: "", textContent: "drawn by weight" }));
  for (const v of d.variants || []) if (v.name) shown.append(Object.assign(document.createElement("option"), { value: v.name, textContent: v.name }));
  shown.value = (d.variants || []).some((v) => v.name === wanted) ? wanted : "";
  shown.parentElement.hidden = !(d.variants || []).length;
  all.disabled = Boolean(edited.readOnly);
  for (const id of ["#save", "#publish", "#archive"]) $(id).hidden = Boolean(edited.readOnly);
  $("#archive").textContent = s.archived ? "Restore" : "Archive";
  const versions = $("#version-rows");
  versions.replaceChildren();
  for (const v of edited.detail.versions) {
    const back = v.n === s.published || edited.readOnly ? "—" : changing(button(`Roll back to version ${v.n}`, guard(() => act("rollback", { to: v.n }))));
    versions.append(row([v.n, new Date(v.at).toISOString(), v.by, v.n === s.published ? "on pages" : "", back]));
  }
}

/** Shows each problem next to its control: the control of its path, else of the nearest enclosing one. */
function showProblems(problems) {
  for (const { input, problem } of controls.values()) {
    problem.textContent = "";
    input.removeAttribute("aria-invalid");
    input.removeAttribute("aria-describedby");
  }
  const list = $("#editor-problems");
  list.replaceChildren();
  if (edited.advancedBroken) problems = [...problems, { path: "advanced", problem: `not JSON: ${edited.advancedBroken}` }];
  for (const p of problems) {
    let at = p.path;
    while (at && !controls.has(at)) at = parentPath(at);
    const root = p.path.split(/[.[]/)[0];
    const target = controls.get(at) || (ADVANCED.includes(root) ? controls.get("advanced") : null);
    if (target) {
      target.problem.textContent = [target.problem.textContent, `${p.path}: ${p.problem}`].filter(Boolean).join(" · ");
      target.input.setAttribute("aria-invalid", "true");
      target.input.setAttribute("aria-describedby", target.problem.id);
    }
    list.append(Object.assign(document.createElement("li"), { textContent: `${p.path}: ${p.problem}` }));
  }
  $("#editor-summary").textContent = problems.length ? `${problems.length} problem(s): publishing waits until they are fixed.` : "No problems: the draft can be published.";
}

/** After each change: the problems and the preview follow the draft, a moment after typing stops. */
function changed() {
  clearTimeout(checking);
  checking = setTimeout(guard(check), 300);
  queuePreview();
}

async function check() {
  const answer = await api(`/v1/admin/catalog/${encodeURIComponent(edited.id)}/check`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(edited.draft) });
  showProblems((await answer.json()).problems);
}

function queuePreview() {
  preview.changed = true;
  sendPreview();
}

function sendPreview() {
  const frame = $("#preview");
  if (!edited || !preview.idle || !preview.changed || !frame.contentWindow) return;
  preview.idle = false;
  preview.changed = false;
  const lang = new FormData($("#preview-lang")).get("lang");
  const variant = $("#preview-variant").value || undefined;
  frame.contentWindow.postMessage({ draft: edited.draft, lang, variant, n: ++preview.n }, location.origin);
}

window.addEventListener("message", (event) => {
  if (event.origin !== location.origin || event.source !== $("#preview").contentWindow) return;
  if (event.data && (event.data.previewReady || event.data.rendered)) {
    preview.idle = true;
    sendPreview();
  }
});

/** Saves the draft; the answer is the form as stored, with its problems. */
async function saveDraft() {
  if (edited.advancedBroken) throw new Error("The JSON settings are not valid JSON; fix them first.");
  const r = await api(`/v1/admin/catalog/${encodeURIComponent(edited.id)}`, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify(edited.draft) });
  const detail = await r.json();
  edited.detail = detail;
  showProblems(detail.problems);
  return detail;
}

async function act(what, body) {
  if (what === "publish") await saveDraft();
  const init = { method: "POST", headers: { "content-type": "application/json" }, body: body ? JSON.stringify(body) : undefined };
  let detail;
  try {
    detail = await (await api(`/v1/admin/catalog/${encodeURIComponent(edited.id)}/${what}`, init)).json();
  } catch (e) {
    await check();
    throw e;
  }
  edited = { ...edited, draft: detail.draft, detail };
  renderEditor();
  showProblems(detail.problems);
  const published = `Version ${detail.form.published} of ${edited.id} is published: pages show it within a minute.`;
  say(what === "publish" ? published : what === "winner" ? `The test of ${edited.id} is over: ${body.variant} won. ${published}` : `${edited.id}: ${what} done.`);
  await Promise.all([loadCatalog(), loadTrail(), loadResults()]);
  queuePreview();
}

async function loadTrail() {
  const { trail } = await (await api(`/v1/admin/trail?form=${encodeURIComponent(edited.id)}&limit=50`)).json();
  const rows = $("#trail-rows");
  rows.replaceChildren();
  for (const t of trail) rows.append(row([new Date(t.at).toISOString(), t.by, t.did.replace("_", " "), t.version ?? ""]));
}

async function createForm(ev) {
  ev.preventDefault();
  const f = new FormData(ev.target);
  const id = String(f.get("id")).trim();
  const draft = { id, kind: f.get("kind"), fields: [{ name: "email", required: true }], consents: [] };
  await api(`/v1/admin/catalog/${encodeURIComponent(id)}`, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify(draft) });
  say(`Form ${id} created as a draft.`);
  await loadCatalog();
  await editForm(id);
}

$("#new-form").addEventListener("submit", guard(createForm));
$("#save").addEventListener("click", guard(async () => {
  await saveDraft();
  say(`Draft of ${edited.id} saved.`);
  await Promise.all([loadCatalog(), loadTrail()]);
}));
$("#publish").addEventListener("click", guard(() => act("publish")));
$("#archive").addEventListener("click", guard(() => act(edited.detail.form.archived ? "restore" : "archive")));
$("#preview-lang").addEventListener("change", queuePreview);
$("#editor-h").tabIndex = -1;
