//! The reference collector for `cargo xtask bench`: the work Leadgate's collector does for an accepted submission, written in plain JavaScript, so that the CPU time per submission can be compared side by side on the same runtime.
//
// It is a yardstick, not a product: it takes only what the bench sends (a JSON submission to a form of the
// same config, `LEADGATE_FORMS`) and does the same work as `edge::submission::take` for a new address:
// - the same request checks: the body's size and encoding, the envelope's limits, the form, the origin,
//   the idempotency key, the honeypot and fill time, every field (required, length, control characters,
//   the email rules of `shared::email::check`) and every consent (known, required ones given);
// - the same records: a pseudonymous client id (HMAC of the network), a consent record with the SHA-256
//   of each text, a signed receipt, a lead document with its score and first stage;
// - the same storage: 1 KV read (the old layout's address index), 1 KV write (the document), and the same
//   ledger statements in 2 requests (the claim; the settle with the index row, the outbox entry of
//   `lead.created` and the alarm), the way a collector written by hand claims an address before it
//   writes. (Leadgate's collector asked the same two until 2026-12-06, when issue 27 asked for fewer and
//   larger crossings: it now writes the document first and sends claim and settle as one admission, see
//   `cmd::Admit`. The reference keeps the two requests: it is the yardstick the issue measured against.
//   One ledger request costs it about 1.45 ms of its 8.5–10 ms per submission: `cargo xtask bench cpu`
//   with a third, empty request added.)
// - the same delivery: the ledger's alarm leases due rows, POSTs each payload signed as Standard Webhooks
//   says (the bench's receiver verifies it with the official library and checks it against the published
//   schema) and records the outcome.
// Repeats, double opt-in and the admin API are out of its scope: the bench only submits new addresses.

const MAX_BODY = 64 * 1024;
const RESERVATION_MS = 60_000;
const LEASE_MS = 15 * 60_000;
const DUE_LIMIT = 15;

/** The problem answer every collector gives: 4xx with a JSON body naming the field. */
function problem(status, code, field, message) {
  return Response.json({ error: { code, field, message } }, { status });
}

let forms = null;
/** The forms config, parsed once per isolate (as the Rust collector caches it). */
function config(env) {
  if (!forms) forms = new Map(JSON.parse(env.LEADGATE_FORMS).forms.map((f) => [f.id, f]));
  return forms;
}

const enc = new TextEncoder();
const keys = new Map();
/** The HMAC key of a secret, imported once per isolate; a `whsec_` secret's key is its base64 part. */
async function hmacKey(secret) {
  let key = keys.get(secret);
  if (!key) {
    const raw = secret.startsWith("whsec_") ? Uint8Array.from(atob(secret.slice(6)), (ch) => ch.charCodeAt(0)) : enc.encode(secret);
    key = await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    keys.set(secret, key);
  }
  return key;
}
async function hmac(secret, data) {
  return new Uint8Array(await crypto.subtle.sign("HMAC", await hmacKey(secret), enc.encode(data)));
}
const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const sha256 = async (text) => hex(new Uint8Array(await crypto.subtle.digest("SHA-256", enc.encode(text))));
const base64url = (bytes) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const base64 = (bytes) => btoa(String.fromCharCode(...bytes));

/** A sortable id: 48 bits of milliseconds and 80 random bits in Crockford base32, like `edge::id`. */
function newId(prefix, now) {
  const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  let out = "";
  let t = now;
  for (let i = 0; i < 10; i++) {
    out = alphabet[t % 32] + out;
    t = Math.floor(t / 32);
  }
  for (const b of crypto.getRandomValues(new Uint8Array(16))) out += alphabet[b % 32];
  return prefix + out;
}

const LOCAL = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+$/;
const LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
/** `shared::email::check`: WHATWG's syntax, RFC 5321's lengths, a dot in the domain. */
function emailProblem(address) {
  const at = address.indexOf("@");
  if (at < 0) return "invalid_email";
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  if (!local || !LOCAL.test(local) || !domain || !domain.split(".").every((l) => LABEL.test(l))) return "invalid_email";
  if (local.length > 64 || address.length > 254) return "too_long";
  if (!domain.includes(".")) return "email_domain_incomplete";
  return null;
}

/** Trims a value and drops control characters, as `shared::text` sanitises. */
const clean = (v) => v.replace(/[\u0000-\u001f\u007f]/g, " ").trim();

/** Checks the fields and consents against the form; the accepted values, or the problem answer. */
function check(form, sub) {
  const fields = {};
  for (const name of Object.keys(sub.fields)) {
    if (!form.fields.some((f) => f.name === name)) return problem(422, "unknown_field", name, `The form has no field ${name}.`);
  }
  for (const def of form.fields) {
    const raw = sub.fields[def.name];
    if (raw !== undefined && typeof raw !== "string") return problem(422, "invalid", def.name, "Values are text.");
    const value = raw === undefined ? "" : clean(raw);
    if (!value) {
      if (def.required) return problem(422, "required", def.name, `${def.name} is required.`);
      continue;
    }
    if (value.length > (def.max_length ?? 200)) return problem(422, "too_long", def.name, `${def.name} is too long.`);
    if (def.name === "email" || def.type === "email") {
      const p = emailProblem(value);
      if (p) return problem(422, p, def.name, "That is not an email address.");
    }
    fields[def.name] = value;
  }
  for (const id of sub.consent) {
    if (!form.consents.some((c) => c.id === id)) return problem(422, "unknown_consent", `consent.${id}`, `The form has no consent ${id}.`);
  }
  for (const c of form.consents) {
    if (c.required && !sub.consent.includes(c.id)) return problem(422, "consent_required", `consent.${c.id}`, "This consent is required.");
  }
  return fields;
}

/** The envelope's limits (`shared::wire::Submission`'s `validator` rules). */
function envelopeProblem(sub) {
  if (typeof sub !== "object" || sub === null || typeof sub.form !== "string") return "form";
  sub.fields ??= {};
  sub.consent ??= [];
  sub.meta ??= {};
  if (sub.form.length < 1 || sub.form.length > 64) return "form";
  if (typeof sub.fields !== "object" || Object.keys(sub.fields).length > 60) return "fields";
  if (!Array.isArray(sub.consent) || sub.consent.length > 20) return "consent";
  const m = sub.meta;
  if ((m.page?.length ?? 0) > 2048) return "meta.page";
  if ((m.referrer?.length ?? 0) > 2048) return "meta.referrer";
  if (Object.keys(m.utm ?? {}).length > 10 || Object.entries(m.utm ?? {}).some(([k, v]) => k.length > 64 || String(v).length > 512)) return "meta.utm";
  if ((m.hp?.length ?? 0) > 512) return "meta.hp";
  if ((m.turnstile?.length ?? 0) > 2048) return "meta.turnstile";
  return null;
}

const ledger = (env) => env.LEDGER.get(env.LEDGER.idFromName("ledger"));
async function ask(env, command) {
  const r = await ledger(env).fetch("https://ledger/", { method: "POST", body: JSON.stringify(command) });
  if (!r.ok) throw new Error(`ledger: ${r.status} ${await r.text()}`);
  return r.json();
}

/** Accepts a submission of a new address: the same steps as `edge::submission::take`. */
async function submit(req, env) {
  if (!(req.headers.get("content-type") || "").startsWith("application/json")) return problem(415, "unsupported_media_type", "content-type", "Send JSON.");
  const body = await req.text();
  if (body.length > MAX_BODY) return problem(413, "too_large", "body", "The body is too large.");
  let sub;
  try {
    sub = JSON.parse(body);
  } catch (e) {
    return problem(400, "malformed", "body", `The body is not JSON: ${e.message}.`);
  }
  const broken = envelopeProblem(sub);
  if (broken) return problem(400, "malformed", broken, `Envelope limits exceeded: ${broken}.`);
  const form = config(env).get(sub.form);
  if (!form) return problem(404, "unknown_form", "form", "There is no such form.");
  const own = new URL(req.url).origin;
  const origin = req.headers.get("origin");
  if (origin && origin !== own && form.allowed_origins.length && !form.allowed_origins.includes(origin)) {
    return problem(403, "origin_not_allowed", "origin", "This site may not use the form.");
  }
  const key = req.headers.get("idempotency-key");
  if (key !== null && !/^[A-Za-z0-9_-]{1,128}$/.test(key.trim())) return problem(400, "malformed", "Idempotency-Key", "Bad key.");
  const now = Date.now();
  const recordedAt = new Date(now).toISOString();
  const ip = req.headers.get("cf-connecting-ip") || "127.0.0.1";
  const clientId = "c_" + hex(await hmac(env.CLIENT_ID_SECRET, ip.split(".").slice(0, 3).join("."))).slice(0, 32);
  const lang = form.lang || (sub.meta.lang === "de" ? "de" : "en");
  const id = newId("ld_", now);
  if ((sub.meta.hp || "").trim() || (sub.meta.elapsed_ms ?? 10_000) < (form.min_fill_ms ?? 1500)) {
    return Response.json({ id, status: "new" }, { status: 201 });
  }
  const fields = check(form, sub);
  if (fields instanceof Response) return fields;
  const entries = [];
  for (const c of form.consents) {
    const text = c.text[lang] ?? c.text.en ?? c.text.de;
    entries.push({ purpose: c.id, granted: sub.consent.includes(c.id), basis: c.basis, text, version: c.version, lang, text_sha256: await sha256(text) });
  }
  const consent = { entries, lang, recorded_at: recordedAt, page: sub.meta.page ?? null, client_id: clientId };
  const fit = (fields.company ? form.scoring.company : 0) + (fields.job_title ? form.scoring.job_title : 0);
  const lead = {
    id,
    form: form.id,
    kind: form.kind,
    status: form.double_opt_in ? "pending" : "new",
    created_at: recordedAt,
    updated_at: recordedAt,
    fields,
    consent,
    consent_history: [],
    source: { page: sub.meta.page ?? null, referrer: sub.meta.referrer ?? null, utm: sub.meta.utm ?? {}, dropped: [] },
    engagement: { confirmed: false, downloads: 0, submissions: 1 },
    score: { total: fit, fit, behaviour: 0, reasons: [], stage: fit >= form.scoring.mql_threshold ? "mql" : "lead" },
    repeats: [],
    mails_sent: [],
    stage: "subscriber",
    history: [{ from: null, to: "subscriber", at: recordedAt, by: "rule", reason: "Das ist ein Lead, weil er den Newsletter abonniert hat." }],
    events: [],
    assignments: [],
  };
  const granted = entries.filter((e) => e.granted).map(({ purpose, version, text_sha256 }) => ({ purpose, version, text_sha256 }));
  const claims = JSON.stringify({ v: 1, lead: id, form: form.id, recorded_at: recordedAt, granted, refused: entries.filter((e) => !e.granted).map((e) => e.purpose) });
  const encoded = base64url(enc.encode(claims));
  const receipt = `${encoded}.${base64url(await hmac(env.SIGNING_SECRET, encoded))}`;
  const email = await sha256(fields.email.toLowerCase());

  // The storage steps, in the Rust collector's order.
  const legacy = await env.LEADS.get(`email:${form.id}:${email}`);
  const standing = await ask(env, { op: "claim", form: form.id, email, lead: id, legacy, now });
  if (standing.holder !== "claimed") return problem(409, "in_progress", "email", "Out of the reference collector's scope: a repeat.");
  await env.LEADS.put(`lead:${id}`, JSON.stringify(lead));
  const entry = { id, form: form.id, status: lead.status, stage: lead.stage, score: lead.score.total, created: now, source: null, reached: [["subscriber", now]] };
  const { consent_history, repeats, mails_sent, history, events, assignments, ...shown } = lead;
  const data = { ...shown, consent_changes: consent_history.length, repeat_count: repeats.length, stage_changes: history.length, event_count: events.length };
  delete data.source.dropped;
  const payload = JSON.stringify({ type: "lead.created", version: 2, timestamp: recordedAt, data });
  const deliveries = form.webhooks.map((w) => ({ id: newId("msg_", now), lead: id, form: form.id, endpoint: w.id, event: "lead.created", payload, next_at: now }));
  const answer = { id, status: lead.status, receipt };
  const settled = await ask(env, { op: "settle", form: form.id, email, lead: id, key, answer: JSON.stringify({ status: 201, body: answer }), deliveries, entry });
  if (settled.erased) return problem(404, "not_found", "lead", "The lead was erased.");
  return Response.json(answer, { status: 201 });
}

export default {
  async fetch(req, env) {
    const url = new URL(req.url);
    try {
      if (url.pathname === "/v1/health") return Response.json({ ok: true });
      if (url.pathname === "/v1/leads" && req.method === "POST") return await submit(req, env);
      return problem(404, "not_found", "path", "No such route.");
    } catch (e) {
      console.error(e.stack || String(e));
      return problem(500, "internal", null, "Something went wrong.");
    }
  },
};

const SCHEMA = [
  "CREATE TABLE IF NOT EXISTS emails (form TEXT NOT NULL, email TEXT NOT NULL, lead TEXT NOT NULL, live INTEGER NOT NULL, at INTEGER NOT NULL, held INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (form, email))",
  "CREATE INDEX IF NOT EXISTS emails_by_lead ON emails (lead)",
  "CREATE INDEX IF NOT EXISTS emails_by_email ON emails (email)",
  "CREATE TABLE IF NOT EXISTS answers (form TEXT NOT NULL, key TEXT NOT NULL, answer TEXT, at INTEGER NOT NULL, PRIMARY KEY (form, key))",
  "CREATE TABLE IF NOT EXISTS leads (id TEXT PRIMARY KEY, form TEXT NOT NULL, status TEXT NOT NULL, stage TEXT NOT NULL, score INTEGER NOT NULL, created INTEGER NOT NULL, source TEXT, cooling_at INTEGER, owner TEXT, campaign TEXT)",
  "CREATE INDEX IF NOT EXISTS leads_by_form ON leads (form, id)",
  "CREATE INDEX IF NOT EXISTS leads_by_owner ON leads (owner, id)",
  "CREATE INDEX IF NOT EXISTS leads_by_created ON leads (created)",
  "CREATE TABLE IF NOT EXISTS reached (lead TEXT NOT NULL, stage TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (lead, stage))",
  "CREATE TABLE IF NOT EXISTS tombstones (lead TEXT PRIMARY KEY, at INTEGER NOT NULL)",
  "CREATE TABLE IF NOT EXISTS outbox (id TEXT PRIMARY KEY, lead TEXT NOT NULL, form TEXT NOT NULL, endpoint TEXT NOT NULL, event TEXT NOT NULL, payload TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL, next_at INTEGER NOT NULL, last_status INTEGER, last_error TEXT)",
  "CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, next_at)",
  "CREATE INDEX IF NOT EXISTS outbox_by_lead ON outbox (lead)",
  "CREATE TABLE IF NOT EXISTS disabled (form TEXT NOT NULL, endpoint TEXT NOT NULL, at INTEGER NOT NULL, status INTEGER NOT NULL, PRIMARY KEY (form, endpoint))",
];
const WAITING = "o.state = 'pending' AND NOT EXISTS (SELECT 1 FROM disabled x WHERE x.form = o.form AND x.endpoint = o.endpoint)";

/** The reference's ledger: the same tables and statements as `edge::ledger_object` for these steps. */
export class Ledger {
  constructor(state, env) {
    this.state = state;
    this.env = env;
    this.sql = state.storage.sql;
    for (const s of SCHEMA) this.sql.exec(s);
    this.armed = null;
  }

  async fetch(req) {
    const c = await req.json();
    const sql = this.sql;
    if (c.op === "claim") {
      if (c.legacy) sql.exec("INSERT OR IGNORE INTO emails VALUES (?, ?, ?, 1, ?, 0)", c.form, c.email, c.legacy, c.now);
      sql.exec("DELETE FROM emails WHERE form = ? AND email = ? AND live = 0 AND at <= ?", c.form, c.email, c.now - RESERVATION_MS);
      sql.exec("INSERT OR IGNORE INTO emails VALUES (?, ?, ?, 0, ?, 0)", c.form, c.email, c.lead, c.now);
      const row = sql.exec("SELECT lead, live, at, held FROM emails WHERE form = ? AND email = ?", c.form, c.email).toArray()[0];
      return Response.json({ holder: row && row.lead === c.lead ? "claimed" : "other", replay: "fresh" });
    }
    if (c.op === "settle") {
      const e = c.entry;
      if (sql.exec("SELECT lead FROM tombstones WHERE lead = ?", e.id).toArray().length) return Response.json({ erased: true });
      for (const d of c.deliveries) {
        sql.exec(
          "INSERT OR IGNORE INTO outbox SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, NULL, NULL WHERE ?5 = 'lead.erased' OR NOT EXISTS (SELECT 1 FROM tombstones WHERE lead = ?2)",
          d.id, d.lead, d.form, d.endpoint, d.event, d.payload, "pending", 0, d.next_at,
        );
      }
      sql.exec("UPDATE emails SET live = 1 WHERE form = ? AND email = ? AND lead = ?", c.form, c.email, c.lead);
      sql.exec(
        "INSERT OR REPLACE INTO leads (id, form, status, stage, score, created, source, cooling_at, owner, campaign) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10 WHERE NOT EXISTS (SELECT 1 FROM tombstones WHERE lead = ?1)",
        e.id, e.form, e.status, e.stage, e.score, e.created, e.source, null, null, null,
      );
      for (const [stage, at] of e.reached) sql.exec("INSERT OR IGNORE INTO reached SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM leads WHERE id = ?1)", e.id, stage, at);
      if (c.key) sql.exec("UPDATE answers SET answer = ? WHERE form = ? AND key = ?", c.answer, c.form, c.key);
      await this.arm();
      return Response.json({ erased: false });
    }
    return Response.json({ error: "unknown op" }, { status: 400 });
  }

  /** Sets the alarm for the next due delivery when that is sooner than it is set for. */
  async arm() {
    const next = this.sql.exec(`SELECT MIN(o.next_at) AS next, COUNT(*) AS pending FROM outbox o WHERE ${WAITING}`).toArray()[0]?.next;
    if (next == null) return;
    const at = Math.max(next, Date.now());
    if (this.armed === null || at < this.armed) {
      await this.state.storage.setAlarm(at);
      this.armed = at;
    }
  }

  /** Leases up to 15 due deliveries, attempts them side by side, records each outcome, sets the alarm again. */
  async alarm() {
    this.armed = null;
    const now = Date.now();
    const due = this.sql.exec(`SELECT id FROM outbox o WHERE ${WAITING} AND o.next_at <= ? ORDER BY o.next_at LIMIT ?`, now, DUE_LIMIT).toArray();
    const rows = due.map(({ id }) => {
      this.sql.exec("UPDATE outbox SET next_at = ? WHERE id = ?", now + LEASE_MS, id);
      return this.sql.exec("SELECT * FROM outbox WHERE id = ?", id).toArray()[0];
    });
    const forms = config(this.env);
    await Promise.all(
      rows.map(async (d) => {
        const endpoint = forms.get(d.form)?.webhooks.find((w) => w.id === d.endpoint);
        const ts = Math.floor(Date.now() / 1000);
        const signature = base64(await hmac(this.env[endpoint.secret], `${d.id}.${ts}.${d.payload}`));
        let status = null;
        let error = null;
        try {
          const r = await fetch(endpoint.url, {
            method: "POST",
            headers: { "content-type": "application/json", "user-agent": "Leadgate-Webhooks/1", "webhook-id": d.id, "webhook-timestamp": String(ts), "webhook-signature": `v1,${signature}` },
            body: d.payload,
          });
          status = r.status;
          await r.arrayBuffer();
        } catch (e) {
          error = String(e);
        }
        const delivered = status !== null && status >= 200 && status < 300;
        const attempts = d.attempts + 1;
        const next = delivered ? Date.now() : Date.now() + 2 ** attempts * 1000;
        this.sql.exec(
          "UPDATE outbox SET state = ?, attempts = ?, next_at = ?, last_status = ?, last_error = ? WHERE id = ?",
          delivered ? "delivered" : "pending", attempts, next, status, error, d.id,
        );
      }),
    );
    await this.arm();
  }
}
