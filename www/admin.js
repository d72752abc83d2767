//! The admin page: a thin client of the collector's admin API (leads with their stage, owner and history,
// GDPR rights, deliveries, endpoints, giveaway draws, bot counts; the form editor is editor.js).
//
// Everything shown comes from the API and is written with `textContent`, never as HTML, so a lead's data
// cannot run as code here. The token lives in session storage: it is gone when the tab closes.
"use strict";

const $ = (sel) => document.querySelector(sel);
const status = $("#status");
let cursor = null;
let current = null;

function say(text, error = false) {
  status.textContent = text;
  status.className = error ? "err" : "";
}

function token() {
  return sessionStorage.getItem("leadgate-admin-token") || "";
}

/** Calls the admin API; throws with the collector's own message on an error answer. */
async function api(path, init = {}) {
  const used = token();
  const r = await fetch(path, { ...init, headers: { authorization: `Bearer ${used}`, ...(init.headers || {}) } });
  if (!r.ok) {
    let message = `${r.status}`;
    try {
      message = (await r.json()).error.message;
    } catch {}
    // Only a refusal of the token in use sends back to the login: a late answer to an earlier, wrong token
    // must not close the page that the right one opened.
    if (r.status === 401 && used === token()) showLogin();
    throw new Error(message);
  }
  return r;
}

/** A table cell with `text`. */
function cell(text) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "—" : String(text);
  return td;
}

function button(label, onClick, danger = false) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  if (danger) b.className = "danger";
  b.addEventListener("click", onClick);
  return b;
}

/** Whether the token is a viewer's (see `open`). */
const viewing = () => document.body.classList.contains("viewer");

/** Marks a control that changes something: hidden from a viewer (see `open`). */
function changing(el) {
  el.dataset.change = "";
  return el;
}

/** A table row; cells are text, or elements such as buttons. */
function row(cells) {
  const tr = document.createElement("tr");
  for (const c of cells) {
    if (c instanceof Node) {
      const td = document.createElement("td");
      td.append(c);
      tr.append(td);
    } else {
      tr.append(cell(c));
    }
  }
  return tr;
}

async function save(path, filename) {
  const blob = await (await api(path)).blob();
  const a = Object.assign(document.createElement("a"), { href: URL.createObjectURL(blob), download: filename });
  a.click();
  URL.revokeObjectURL(a.href);
}

/** Downloads every lead as one CSV file, following the collector's pages (500 leads each). */
async function saveCsv() {
  const parts = [];
  let next = "/v1/admin/leads.csv";
  while (next) {
    const r = await api(next);
    parts.push(await r.text());
    const cursor = r.headers.get("x-next-cursor");
    next = cursor ? `/v1/admin/leads.csv?cursor=${encodeURIComponent(cursor)}` : null;
    say(`${parts.length} page(s) of leads fetched…`);
  }
  const a = Object.assign(document.createElement("a"), { href: URL.createObjectURL(new Blob(parts, { type: "text/csv" })), download: "leads.csv" });
  a.click();
  URL.revokeObjectURL(a.href);
  say("CSV downloaded.");
}

// --- Dashboard -------------------------------------------------------------------------------------------

const SVG = "http://www.w3.org/2000/svg";
const STAGES = ["subscriber", "lead", "mql", "sql", "opportunity", "customer"];

/** An SVG element with attributes (values set as attributes, text as text: nothing is parsed as markup). */
function svg(name, attrs = {}, text) {
  const el = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = String(text);
  return el;
}

/** An accessible horizontal bar chart: `bars` are `{label, value, note}`; the figure's table is its data. */
function barChart(bars, titleId, summary) {
  const width = 640, rowH = 26, labelW = 150, max = Math.max(1, ...bars.map((b) => b.value));
  const chart = svg("svg", { viewBox: `0 0 ${width} ${rowH * bars.length + 8}`, width: "100%", role: "img", "aria-labelledby": titleId });
  chart.append(svg("desc", {}, summary));
  bars.forEach((b, i) => {
    const y = 4 + i * rowH;
    const w = Math.round(((width - labelW - 120) * b.value) / max);
    chart.append(svg("text", { x: 0, y: y + 16 }, b.label));
    chart.append(svg("rect", { x: labelW, y: y + 3, width: Math.max(w, b.value ? 2 : 0), height: rowH - 8, class: b.muted ? "bar muted" : "bar" }));
    chart.append(svg("text", { x: labelW + w + 6, y: y + 16 }, b.note ?? b.value));
  });
  return chart;
}

/** Sums the funnel's groups into one funnel. */
function overall(groups) {
  return STAGES.map((stage, i) => {
    const sum = (f) => groups.reduce((n, g) => n + (g.stages[i]?.[f] || 0), 0);
    return { stage, reached: sum("reached"), now: sum("now"), medians: groups.map((g) => g.stages[i]?.median_days).filter((d) => d !== null && d !== undefined) };
  });
}

async function loadDashboard() {
  const f = new FormData($("#dash-filter"));
  const days = f.get("days");
  const by = f.get("by");
  const from = new Date(Date.now() - (days - 1) * 86_400_000).toISOString().slice(0, 10);
  const [daily, funnel, sources, campaigns, speed] = await Promise.all([
    api(`/v1/admin/daily?days=${days}&by=${by}`).then((r) => r.json()),
    api(`/v1/admin/funnel?by=form&from=${from}`).then((r) => r.json()),
    api(`/v1/admin/funnel?by=source&from=${from}`).then((r) => r.json()),
    api(`/v1/admin/funnel?by=campaign&from=${from}`).then((r) => r.json()),
    api(`/v1/admin/speed?by=owner&since=${from}`).then((r) => r.json()),
  ]);
  const minutes = (m) => (m === null || m === undefined ? "—" : m.toFixed(1));
  $("#speed-rows").replaceChildren(
    ...speed.groups.map((g) => row([g.key, g.leads, g.touched, minutes(g.median_minutes), minutes(g.p90_minutes), g.within_share === null ? "—" : `${Math.round(100 * g.within_share)}%`, g.breaches, g.running])),
  );
  // Leads per day: one bar per day (the table has them per group).
  const perDay = new Map();
  for (const d of daily.days) perDay.set(d.day, (perDay.get(d.day) || 0) + d.count);
  const dayBars = [...perDay.entries()].map(([day, n]) => ({ label: day, value: n }));
  const total = dayBars.reduce((n, b) => n + b.value, 0);
  $("#daily-h").textContent = `Leads per day, last ${days} days: ${total} in all`;
  $("#daily-chart").replaceChildren(dayBars.length ? barChart(dayBars, "daily-h", `${total} leads on ${dayBars.length} days with leads.`) : document.createTextNode("No leads in this period."));
  $("#daily-rows").replaceChildren(...daily.days.map((d) => row([d.day, d.key, d.count])));

  const stages = overall(funnel.groups);
  const median = (values) => (values.length ? values.sort((a, b) => a - b)[Math.floor(values.length / 2)] : null);
  const funnelBars = stages.map((s, i) => {
    const before = stages[i - 1];
    const rate = before && before.reached ? ` (${Math.round((100 * s.reached) / before.reached)}%)` : "";
    return { label: s.stage, value: s.reached, note: `${s.reached}${rate}`, muted: s.stage === "subscriber" };
  });
  $("#funnel-chart").replaceChildren(barChart(funnelBars, "funnel-h", funnelBars.map((b) => `${b.label}: ${b.note}`).join("; ")));
  $("#funnel-rows").replaceChildren(
    ...stages.map((s, i) => {
      const before = stages[i - 1];
      const rate = before && before.reached ? `${Math.round((100 * s.reached) / before.reached)}%` : "—";
      const m = median(s.medians);
      return row([s.stage, s.reached, s.now, rate, m === null ? "—" : m.toFixed(1)]);
    }),
  );

  const ranked = [...sources.groups.map((g) => ["source", g]), ...campaigns.groups.map((g) => ["campaign", g])]
    .filter(([, g]) => g.key !== "(none)")
    .map(([kind, g]) => ({ kind, key: g.key, leads: g.leads, at: Object.fromEntries(g.stages.map((s) => [s.stage, s.reached])) }))
    .sort((a, b) => b.at.opportunity + b.at.customer - (a.at.opportunity + a.at.customer) || b.at.customer - a.at.customer || b.leads - a.leads)
    .slice(0, 10);
  $("#top-rows").replaceChildren(...ranked.map((r) => row([r.kind, r.key, r.leads, r.at.mql, r.at.sql, r.at.opportunity, r.at.customer])));
  await loadFormAnalytics(from);
}

/** What the steps from views to customers are called on the page. */
const STEPS = { views: "views", leads: "leads", mql: "MQL", sql: "SQL", opportunity: "opportunities", customer: "customers" };

/** A share as a whole percentage, or a dash when there is nothing to share. */
const percent = (part, whole) => (whole ? `${Math.round((100 * part) / whole)}%` : "—");

/** An element with text. */
function element(name, text, className) {
  const el = document.createElement(name);
  if (text !== undefined) el.textContent = String(text);
  if (className) el.className = className;
  return el;
}

/** A table with a caption, column headings and rows (each a list of texts). */
function table(caption, headings, rows) {
  const t = element("table");
  t.append(element("caption", caption, "small"));
  const head = element("thead");
  const tr = element("tr");
  for (const h of headings) {
    const th = element("th", h);
    th.scope = "col";
    tr.append(th);
  }
  head.append(tr);
  const body = element("tbody");
  body.append(...rows.map(row));
  t.append(head, body);
  return t;
}

/**
 * One form's panel: its funnel from views to customers as a chart with its table, the rates in a line, and
 * the fields where visitors stumble (problems shown, and where those who left stopped).
 */
function formPanel(report, n) {
  const t = report.total;
  const figure = element("figure", undefined, "panel");
  const caption = element("figcaption", `${report.form}: ${t.views} views, ${t.submissions} sign-ups in the form (${percent(t.submissions, t.views)} of views)`);
  caption.id = `form-${n}-h`;
  const views = t.funnel[0].count;
  const bars = t.funnel.map((s, i) => ({ label: STEPS[s.step], value: s.count, note: i ? `${s.count} (${percent(s.count, views)})` : `${s.count}` }));
  figure.append(caption, barChart(bars, caption.id, bars.map((b) => `${b.label}: ${b.note}`).join("; ")));
  const facts = [
    `${t.loads ?? "?"} loads`,
    `${t.starts} starts (${percent(t.starts, t.views)} of views)`,
    `completed by ${percent(t.submissions, t.starts)} of those who started`,
    `${t.abandons} left after starting`,
  ];
  if (t.visitors !== null) facts.push(`${t.visitors} unique visitors (per day)`);
  if (report.plain_form.submissions) facts.push(`${report.plain_form.submissions} sent with the plain HTML form (its views are unknown)`);
  figure.append(element("p", facts.join(" · "), "small"));
  const details = element("details");
  details.append(element("summary", `The funnel of ${report.form} as a table`));
  details.append(
    table(
      `${report.form}: each step, as a share of views and of the step before`,
      ["Step", "Count", "Of views", "Of the step before"],
      t.funnel.map((s, i) => [STEPS[s.step], s.count, i ? percent(s.count, views) : "—", i ? percent(s.count, t.funnel[i - 1].count) : "—"]),
    ),
  );
  figure.append(details);
  // Each field once: the problems shown under it, and how many left the form there.
  const fields = [...new Set([...t.errors.map((e) => e.field), ...t.dropoff.map((d) => d.field)])];
  const stumbles = fields
    .map((field) => {
      const shown = t.errors.filter((e) => e.field === field);
      const left = t.dropoff.find((d) => d.field === field)?.count || 0;
      return { field, problems: shown.reduce((n, e) => n + e.count, 0), what: shown.map((e) => `${e.code} ${e.count}`).join(", "), left };
    })
    .sort((a, b) => b.problems + b.left - (a.problems + a.left));
  figure.append(
    stumbles.length
      ? table(`Where visitors stumble on ${report.form}, the worst first`, ["Field", "Problems shown", "Which", "Left the form here"], stumbles.map((s) => [s.field, s.problems, s.what || "—", s.left]))
      : element("p", "No problems shown and nobody left the form after starting.", "small"),
  );
  return figure;
}

async function loadFormAnalytics(from) {
  const { forms } = await (await api("/v1/admin/forms")).json();
  const reports = await Promise.all(forms.map((f) => api(`/v1/admin/forms/${encodeURIComponent(f.id)}/analytics?from=${from}`).then((r) => r.json())));
  $("#form-panels").replaceChildren(...reports.map(formPanel));
}

// --- Import ----------------------------------------------------------------------------------------------

async function runImport(ev) {
  ev.preventDefault();
  const f = new FormData(ev.target);
  const file = f.get("file");
  const q = new URLSearchParams({ form: f.get("form"), source: f.get("source"), basis: f.get("basis"), batch: crypto.randomUUID() });
  if (f.get("proof")) q.set("proof", f.get("proof"));
  const type = /\.(jsonl|ndjson)$/i.test(file.name) ? "application/x-ndjson" : "text/csv";
  const report = await (await api(`/v1/admin/import?${q}`, { method: "POST", headers: { "content-type": type }, body: file })).json();
  $("#import-summary").textContent = `Batch ${report.batch} into ${report.form}: ${report.created} created, ${report.merged} merged, ${report.rejected} rejected` + (report.ignored_columns.length ? `; columns ignored: ${report.ignored_columns.join(", ")}` : "") + ".";
  $("#import-rows").replaceChildren(
    ...report.rows.map((r) => row([r.row, r.status, r.id || r.problem || Object.entries(r.errors || {}).map(([k, v]) => `${k}: ${v}`).join(", ")])),
  );
  say(`Imported: ${report.created} created, ${report.merged} merged, ${report.rejected} rejected.`);
  await Promise.all([loadLeads(), loadDashboard()]);
}

// --- Leads -----------------------------------------------------------------------------------------------

async function loadLeads(append = false) {
  const f = new FormData($("#lead-filter"));
  const q = new URLSearchParams({ limit: "50" });
  for (const k of ["email", "form", "status", "stage", "owner", "min_score", "cooling"]) if (f.get(k)) q.set(k, f.get(k));
  if (append && cursor) q.set("cursor", cursor);
  const { leads, cursor: next } = await (await api(`/v1/admin/leads?${q}`)).json();
  cursor = next;
  const rows = $("#lead-rows");
  if (!append) rows.replaceChildren();
  for (const lead of leads) {
    const open = button(lead.fields.email || lead.id, () => showLead(lead.id));
    open.className = "link";
    rows.append(row([lead.created_at, lead.form, open, lead.status, lead.score.total, lead.stage + (lead.cooling ? " (cooling)" : ""), lead.owner]));
  }
  $("#more").hidden = !next;
  say(`${rows.children.length} lead(s) shown.`);
}

async function showLead(id) {
  const lead = await (await api(`/v1/admin/leads/${encodeURIComponent(id)}`)).json();
  current = lead;
  $("#detail-h").textContent = `Lead ${lead.id}`;
  const dl = $("#detail-fields");
  dl.replaceChildren();
  const facts = { form: lead.form, status: lead.status, stage: lead.stage + (lead.cooling ? " (cooling)" : ""), owner: lead.owner, created: lead.created_at, updated: lead.updated_at, ...lead.fields };
  facts["page"] = lead.source.page;
  facts["score"] = `${lead.score.total}: fit ${lead.score.fit}, behaviour ${lead.score.behaviour} (${lead.score.reasons.join(", ") || "no points"})`;
  facts["engagement"] = `${lead.engagement.submissions} submission(s), ${lead.engagement.downloads} download(s)`;
  for (const [k, v] of Object.entries(facts)) {
    dl.append(Object.assign(document.createElement("dt"), { textContent: k }), Object.assign(document.createElement("dd"), { textContent: v ?? "—" }));
  }
  const body = $("#detail-consent");
  body.replaceChildren();
  for (const e of lead.consent.entries) {
    body.append(row([e.purpose, e.granted ? "yes" : "no", e.basis, e.version, e.text, e.text_sha256.slice(0, 16) + "…"]));
  }
  const proof = [`Recorded ${lead.consent.recorded_at} in ${lead.consent.lang} on ${lead.consent.page || "an unknown page"}`];
  if (lead.confirmation) proof.push(`double opt-in confirmed ${lead.confirmation.at}`);
  if (lead.consent_history.length) proof.push(`${lead.consent_history.length} further record(s) kept`);
  const withdrawn = lead.consent.withdrawn;
  if (withdrawn) proof.push(`consent withdrawn ${withdrawn.at} via ${withdrawn.via}${withdrawn.note ? ` (${withdrawn.note})` : ""}`);
  for (const r of lead.repeats || []) {
    const differing = Object.entries(r.differing || {}).map(([k, v]) => `${k} = ${v}`);
    const parts = [r.filled?.length && `filled ${r.filled.join(", ")}`, r.consent_added?.length && `added ${r.consent_added.join(", ")}`, differing.length && `sent differing ${differing.join(", ")}`];
    proof.push(`repeat ${r.at}: ${parts.filter(Boolean).join("; ") || "nothing new"}`);
  }
  for (const h of lead.held || []) proof.push(`changes waiting for the owner's confirmation: ${Object.keys(h.fill || {}).join(", ") || "consent"}`);
  $("#detail-proof").textContent = proof.join("; ") + ".";
  const history = [
    ...(lead.history || []).map((c) => [c.at, `${c.from ?? "—"} → ${c.to}`, c.by, c.reason]),
    ...(lead.assignments || []).map((a) => [a.at, `owner ${a.from ?? "—"} → ${a.to}`, a.by, a.reason]),
  ].sort((a, b) => a[0].localeCompare(b[0]));
  $("#detail-history").replaceChildren(...history.map(row));
  $("#move").elements.stage.value = lead.stage;
  $("#lead-detail").hidden = false;
  $("#detail-h").focus();
}

async function withdraw() {
  if (!current) return;
  const note = prompt(`Record a withdrawal of consent for lead ${current.id}. How did it reach you (e.g. "letter of 2026-11-30")?`);
  if (note === null) return;
  const answer = await (
    await api(`/v1/admin/leads/${encodeURIComponent(current.id)}/withdraw`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(note.trim() ? { note: note.trim().slice(0, 500) } : {}),
    })
  ).json();
  if (answer.erased) {
    $("#lead-detail").hidden = true;
    current = null;
    await loadLeads();
    return say(`Lead ${answer.id} was never confirmed and is erased.`);
  }
  await showLead(answer.id);
  say(`Withdrawal recorded for lead ${answer.id}; lead.consent_withdrawn sent to the CRMs.`);
}

async function move(ev) {
  ev.preventDefault();
  if (!current) return;
  const f = new FormData(ev.target);
  const answer = await (
    await api(`/v1/admin/leads/${encodeURIComponent(current.id)}/stage`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ stage: f.get("stage"), reason: f.get("reason") }),
    })
  ).json();
  ev.target.reset();
  await showLead(answer.id);
  say(answer.changed ? `Lead ${answer.id} moved to ${answer.stage}; lead.stage_changed sent.` : `Lead ${answer.id} is at ${answer.stage} already.`);
}

async function assign(ev) {
  ev.preventDefault();
  if (!current) return;
  const f = new FormData(ev.target);
  const answer = await (
    await api(`/v1/admin/leads/${encodeURIComponent(current.id)}/owner`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ owner: f.get("owner"), reason: f.get("reason") }),
    })
  ).json();
  ev.target.reset();
  await showLead(answer.id);
  say(answer.changed ? `Lead ${answer.id} assigned to ${answer.owner}; lead.assigned sent.` : `Lead ${answer.id} has that owner already.`);
}

async function erase() {
  if (!current || !confirm(`Erase lead ${current.id} and everything stored about it? This cannot be undone.`)) return;
  const answer = await (await api(`/v1/admin/leads/${encodeURIComponent(current.id)}`, { method: "DELETE" })).json();
  const manual = answer.erase_by_hand_in.length ? ` Erase it by hand in: ${answer.erase_by_hand_in.join(", ")}.` : "";
  $("#lead-detail").hidden = true;
  current = null;
  // The list is reloaded first: its own status line would replace the erasure's.
  await loadLeads();
  say(`Lead ${answer.id} erased; lead.erased sent to the CRMs that take it.${manual}`);
}

// --- Deliveries, endpoints -------------------------------------------------------------------------------

async function loadDeliveries() {
  const s = new FormData($("#delivery-filter")).get("status");
  const { deliveries } = await (await api(`/v1/admin/deliveries${s ? `?status=${s}` : ""}`)).json();
  const rows = $("#delivery-rows");
  rows.replaceChildren();
  for (const d of deliveries) {
    const replay = changing(button("Replay", async () => {
      await api(`/v1/admin/deliveries/${encodeURIComponent(d.id)}/replay`, { method: "POST" });
      say(`Delivery ${d.id} sent again.`);
      await loadDeliveries();
    }));
    rows.append(row([d.event, `${d.form} / ${d.endpoint}`, d.status, d.attempts, d.last_status ?? d.last_error, d.next_attempt_at, d.status === "delivered" ? "" : replay]));
  }
}

async function loadEndpoints() {
  const { endpoints } = await (await api("/v1/admin/endpoints")).json();
  const rows = $("#endpoint-rows");
  rows.replaceChildren();
  for (const e of endpoints) {
    const enable = changing(button("Enable", async () => {
      await api(`/v1/admin/endpoints/${encodeURIComponent(e.form)}/${encodeURIComponent(e.id)}/enable`, { method: "POST" });
      say(`Endpoint ${e.form}/${e.id} enabled.`);
      await loadEndpoints();
    }));
    rows.append(row([e.form, e.id, e.url, e.disabled ? `disabled since ${e.disabled_since}` : "active", e.disabled ? enable : ""]));
  }
}

// --- Giveaways, stats ------------------------------------------------------------------------------------

function showDraw(d, reproduces) {
  const p = document.createElement("p");
  const check = reproduces === undefined ? "" : reproduces ? " Re-check: reproduces." : " Re-check: does NOT reproduce.";
  p.textContent = `Draw ${d.id} at ${d.drawn_at}: ${d.winners.length} winner(s) among ${d.eligible_count} eligible (${d.winners.join(", ")}). Seed ${d.seed}.${check}`;
  $("#draw-result").append(p);
}

async function draw(ev) {
  ev.preventDefault();
  const f = new FormData(ev.target);
  const d = await (
    await api(`/v1/admin/giveaways/${encodeURIComponent(f.get("form"))}/draw`, {
      method: "POST",
      // One key per click: a retried request (a flaky connection) gets this click's draw, never a second one.
      headers: { "content-type": "application/json", "idempotency-key": crypto.randomUUID() },
      body: JSON.stringify({ winners: Number(f.get("winners")) }),
    })
  ).json();
  $("#draw-result").replaceChildren();
  showDraw(d);
  say(`Drawn: ${d.winners.length} winner(s); giveaway.winner sent to the form's endpoints.`);
}

async function listDraws() {
  const form = new FormData($("#draw")).get("form");
  const { draws } = await (await api(`/v1/admin/giveaways/${encodeURIComponent(form)}/draws`)).json();
  $("#draw-result").replaceChildren();
  for (const d of draws) showDraw(d.draw, d.reproduces);
  if (!draws.length) say("No draws yet.");
}

async function loadStats() {
  const { spam } = await (await api("/v1/admin/stats")).json();
  const rows = $("#stat-rows");
  rows.replaceChildren();
  for (const [key, n] of Object.entries(spam)) {
    const [form, day] = key.split(":");
    rows.append(row([form, day, n]));
  }
}

// --- Wiring ----------------------------------------------------------------------------------------------

function showLogin() {
  $("#login").hidden = false;
  $("#app").hidden = true;
}

/**
 * Opens the page for the token. A viewer's token (`VIEWER_TOKENS`) reads everything and changes nothing:
 * the controls that would change something are hidden from it, rather than answering each click with a
 * refusal (the API refuses them all the same).
 */
async function open() {
  $("#login").hidden = true;
  $("#app").hidden = false;
  const who = async () => {
    const me = await (await api("/v1/admin/me")).json();
    document.body.classList.toggle("viewer", me.viewer);
    $("#who").textContent = me.viewer ? `Signed in as ${me.name}, a viewer: you can read everything and change nothing.` : `Signed in as ${me.name}.`;
  };
  // The catalog after `who`: its buttons say "View" to a viewer and "Edit" to anyone else.
  await Promise.all([who().then(loadCatalog), loadDashboard(), loadLeads(), loadDeliveries(), loadEndpoints(), loadStats()]);
}

/** Runs an action, showing its failure in the status line instead of failing silently. */
const guard = (fn) => async (...args) => {
  try {
    await fn(...args);
  } catch (e) {
    say(e.message, true);
  }
};

$("#login").addEventListener("submit", guard(async (ev) => {
  ev.preventDefault();
  sessionStorage.setItem("leadgate-admin-token", $("#token").value);
  await open();
}));
$("#logout").addEventListener("click", () => {
  sessionStorage.removeItem("leadgate-admin-token");
  showLogin();
  say("Token forgotten.");
});
$("#lead-filter").addEventListener("submit", guard(async (ev) => {
  ev.preventDefault();
  await loadLeads();
}));
$("#more").addEventListener("click", guard(() => loadLeads(true)));
$("#csv").addEventListener("click", guard(saveCsv));
$("#export").addEventListener("click", guard(() => save(`/v1/admin/leads/${encodeURIComponent(current.id)}/export`, `lead-${current.id}.json`)));
$("#erase").addEventListener("click", guard(erase));
$("#withdraw").addEventListener("click", guard(withdraw));
$("#move").addEventListener("submit", guard(move));
$("#dash-filter").addEventListener("submit", guard(async (ev) => {
  ev.preventDefault();
  await loadDashboard();
}));
$("#import-form").addEventListener("submit", guard(runImport));
$("#assign").addEventListener("submit", guard(assign));
$("#delivery-filter").addEventListener("submit", guard(async (ev) => {
  ev.preventDefault();
  await loadDeliveries();
}));
$("#draw").addEventListener("submit", guard(draw));
$("#show-draws").addEventListener("click", guard(listDraws));
$("#detail-h").tabIndex = -1;
// After every deferred script (the editor's too), whose functions `open` calls.
if (token()) document.addEventListener("DOMContentLoaded", guard(open), { once: true });
