//! End-to-end: the ledger (a SQLite Durable Object in workerd) keeps what KV cannot keep strictly. Parallel
// submissions of one address make one lead; parallel retries under one Idempotency-Key get one answer;
// a giveaway takes one entry per address however fast they come; a collector that holds leads (and
// deliveries) in the old KV-only layout adopts them; an erased lead's address is free again and its in-flight
// delivery is not written back.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { startReceiver } from "./receiver.mjs";
import { admin, adminLeads, eventually, newsletterConfig, postLead, root, secrets, startCollector, tick } from "./support.mjs";

let receiver, collector;

before(async () => {
  receiver = await startReceiver({ secret: secrets.WEBHOOK_SECRET });
  collector = await startCollector(`${newsletterConfig(receiver.url, "open")}
[[forms]]
id = "win"
kind = "giveaway"
fields = [{ name = "email", required = true }]
giveaway = { starts_at = "2026-01-01", ends_at = "2030-12-31", rules_url = "/rules" }
consents = [{ id = "giveaway_rules", required = true, text = { en = "I accept the rules." } }]
`);
});

after(async () => {
  await collector?.stop();
  await receiver?.close();
});

/** Runs `wrangler kv key <args>` on the KV namespace of a stopped collector's state. */
function kv(stopped, ...args) {
  const r = spawnSync(path.join(root, "node_modules/.bin/wrangler"), ["kv", "key", ...args, "--binding", "LEADS", "--local", "--persist-to", path.join(stopped.state, "data"), "-c", path.join(stopped.state, "collector.json")], {
    cwd: stopped.state,
    env: { ...process.env, PATH: `${path.join(root, "node_modules/.bin")}:${process.env.PATH}`, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" },
    encoding: "utf8",
  });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

const submit = (form, email, headers = {}, consent = []) =>
  fetch(`${collector.base}/v1/leads`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ form, fields: { email }, consent, meta: { elapsed_ms: 9000 } }),
  });

test("50 parallel submissions of one address make one lead and one lead.created", async () => {
  const email = "parallel@example.com";
  const answers = await Promise.all(Array.from({ length: 50 }, () => submit("open", email)));
  assert.deepEqual([...new Set(answers.map((r) => r.status))], [201]);
  const leads = (await adminLeads(collector)).filter((l) => l.fields.email === email);
  assert.equal(leads.length, 1);
  await eventually(() => receiver.deliveries.some((d) => d.payload?.type === "lead.created" && d.payload.data.fields.email === email), 10_000, "lead.created");
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(receiver.deliveries.filter((d) => d.payload?.type === "lead.created" && d.payload.data.fields.email === email).length, 1);
  assert.equal(leads[0].repeats.length, 49, "every repeat is on record: the ledger serialises a lead's repeats");
  assert.equal(leads[0].engagement.submissions, 50);
});

test("20 parallel retries under one Idempotency-Key get one answer and make one lead", async () => {
  const email = "retry@example.com";
  const answers = await Promise.all(Array.from({ length: 20 }, () => submit("open", email, { "idempotency-key": "same-key-1" })));
  const bodies = await Promise.all(answers.map((r) => r.text()));
  assert.deepEqual([...new Set(answers.map((r) => r.status))], [201]);
  assert.equal(new Set(bodies).size, 1, "20 identical answers");
  const leads = (await adminLeads(collector)).filter((l) => l.fields.email === email);
  assert.equal(leads.length, 1);
  assert.equal((leads[0].repeats ?? []).length, 0, "a replayed answer stores nothing");
  assert.equal(JSON.parse(bodies[0]).id, leads[0].id);
});

test("20 parallel giveaway entries of one address make one entry", async () => {
  const email = "lucky.many@example.com";
  const answers = await Promise.all(Array.from({ length: 20 }, () => submit("win", email, {}, ["giveaway_rules"])));
  const statuses = answers.map((r) => r.status).sort();
  assert.equal(statuses.filter((s) => s === 201).length, 1, statuses.join());
  assert.equal(statuses.filter((s) => s === 409).length, 19, statuses.join());
  assert.equal((await adminLeads(collector)).filter((l) => l.fields.email === email).length, 1);
});

test("an erased lead's address is free again", async () => {
  const email = "again@example.com";
  const { id } = await (await postLead(collector, { form: "open", fields: { email } })).json();
  const del = await fetch(`${collector.base}/v1/admin/leads/${id}`, { method: "DELETE", headers: { authorization: `Bearer ${secrets.ADMIN_TOKEN}` } });
  assert.equal(del.status, 200);
  const again = await postLead(collector, { form: "open", fields: { email } });
  assert.equal(again.status, 201);
  const leads = (await adminLeads(collector)).filter((l) => l.fields.email === email);
  assert.equal(leads.length, 1);
  assert.notEqual(leads[0].id, id);
  assert.equal((leads[0].repeats ?? []).length, 0, "a new lead, not a repeat of the erased one");
});

test("an erasure during a slow delivery attempt is not undone by the attempt's record", async () => {
  receiver.setMode({ status: 204, delayMs: 3000 });
  try {
    const { id } = await (await postLead(collector, { form: "open", fields: { email: "slow.erase@example.com" } })).json();
    await new Promise((r) => setTimeout(r, 500)); // the attempt is in flight
    const del = await fetch(`${collector.base}/v1/admin/leads/${id}`, { method: "DELETE", headers: { authorization: `Bearer ${secrets.ADMIN_TOKEN}` } });
    assert.equal(del.status, 200);
    await new Promise((r) => setTimeout(r, 4000)); // the attempt ends and would record itself
    const { deliveries } = await admin(collector, `/v1/admin/deliveries?lead=${id}`);
    assert.deepEqual(deliveries.map((d) => d.event), ["lead.erased"], "only the erasure's own announcement is left");
  } finally {
    receiver.setMode({ status: 204 });
  }
});

test("a collector with leads in the old KV layout adopts them on first use", async () => {
  // Made as an earlier version stored it: the lead document and the `email:<form>:<sha256>` key, no ledger row.
  const email = "legacy@example.com";
  const template = (await adminLeads(collector)).find((l) => l.form === "open");
  const legacy = { ...template, id: "ld_01JD0000000000LEGACY000000", fields: { email }, repeats: [], created_at: "2026-11-01T10:00:00.000Z" };
  // A collector of that layout had no ledger: this one has only answered its health check when the old
  // layout's keys are put in, so its ledger first hears of the form with them there (and keeps the form in
  // its first object, where the backfill indexes them: see `shard`).
  const old = await startCollector(newsletterConfig(receiver.url, "open"));
  await old.stop();
  const put = (key, value) => kv(old, "put", key, value);
  put(`lead:${legacy.id}`, JSON.stringify(legacy));
  put(`email:open:${createHash("sha256").update(email).digest("hex")}`, legacy.id);
  // A second old lead that nobody submits again: the scheduled backfill indexes it.
  const quiet = { ...legacy, id: "ld_01JD0000000000LEGACY000001", fields: { email: "quiet.legacy@example.com" } };
  put(`lead:${quiet.id}`, JSON.stringify(quiet));
  // A delivery the old layout kept in KV, still pending: the scheduled handler moves it into the ledger's
  // outbox, which sends it with its own webhook-id and payload.
  const waiting = {
    id: "msg_01JD0000000000LEGACY00002", lead_id: quiet.id, form: "open", endpoint: "crm", event: "lead.created",
    payload: JSON.stringify({ type: "lead.created", timestamp: quiet.created_at, version: 2, data: { ...quiet, consent_changes: 0, repeat_count: 0 } }),
    state: "pending", attempts: 3, next_at_ms: 0, last_status: 503, last_error: null,
  };
  put(`dlv:${waiting.id}`, JSON.stringify(waiting));
  await old.restart();
  await tick(old);
  await eventually(async () => (await adminLeads(old)).some((l) => l.id === quiet.id), 10_000, "the backfill");
  await eventually(() => receiver.deliveries.some((d) => d.id === waiting.id && d.verified), 10_000, "the old delivery sent from the outbox");
  const moved = (await admin(old, `/v1/admin/deliveries?lead=${quiet.id}`)).deliveries;
  assert.deepEqual(moved.map((d) => [d.id, d.status, d.attempts]), [[waiting.id, "delivered", 4]], "its attempts carried over");
  const r = await postLead(old, { form: "open", fields: { email, first_name: "Lea" } });
  assert.equal(r.status, 201);
  const leads = (await adminLeads(old)).filter((l) => l.fields.email === email);
  assert.equal(leads.length, 1, "the old lead is found, no second one is made");
  assert.equal(leads[0].id, legacy.id);
  assert.equal(leads[0].fields.first_name, "Lea");
  assert.equal(leads[0].repeats.length, 1);
  // Adopted once, it is the ledger's: the next repeat is found the same way.
  await postLead(old, { form: "open", fields: { email } });
  assert.equal((await adminLeads(old)).filter((l) => l.fields.email === email).length, 1);
  await old.stop();
  assert.equal(kv(old, "get", "meta:legacy-emails"), "left", "it found the old layout's email keys, so it keeps reading them");
});

test("a collector without the old layout's email keys records so, and no submission reads KV for one", async () => {
  const fresh = await startCollector(newsletterConfig(receiver.url, "open"));
  try {
    assert.equal((await postLead(fresh, { form: "open", fields: { email: "fresh.layout@example.com" } })).status, 201);
    assert.equal((await postLead(fresh, { form: "open", fields: { email: "fresh.layout@example.com", first_name: "Ada" } })).status, 201);
    assert.equal((await adminLeads(fresh)).filter((l) => l.fields.email === "fresh.layout@example.com").length, 1, "the repeat found its lead in the ledger");
  } finally {
    await fresh.stop();
  }
  assert.equal(kv(fresh, "get", "meta:legacy-emails"), "gone");
});

test("admin lists come newest first from the ledger's index, with full filtered pages", async () => {
  for (let i = 0; i < 3; i++) await postLead(collector, { form: "win", fields: { email: `page.win${i}@example.com` }, consent: ["giveaway_rules"] });
  for (let i = 0; i < 12; i++) await postLead(collector, { form: "open", fields: { email: `page.open${i}@example.com` } });
  const page = async (q) => admin(collector, `/v1/admin/leads?${q}`);
  const first = await page("form=win&limit=2");
  assert.equal(first.leads.length, 2, "full, although most recent leads are on another form");
  assert.ok(first.leads.every((l) => l.form === "win"));
  assert.ok(first.leads[0].id > first.leads[1].id, "newest first");
  assert.ok(first.cursor);
  const rest = await page(`form=win&limit=100&cursor=${encodeURIComponent(first.cursor)}`);
  assert.ok(rest.leads.every((l) => l.form === "win" && l.id < first.leads[1].id));
  assert.equal(rest.cursor, null);
  const bad = await fetch(`${collector.base}/v1/admin/leads?since=yesterday`, { headers: { authorization: `Bearer ${secrets.ADMIN_TOKEN}` } });
  assert.equal(bad.status, 400);
});

test("the CSV export comes in pages that make one file", async () => {
  const auth = { authorization: `Bearer ${secrets.ADMIN_TOKEN}` };
  const pages = [];
  let url = `${collector.base}/v1/admin/leads.csv?form=open&limit=7`;
  while (url) {
    const r = await fetch(url, { headers: auth });
    assert.equal(r.status, 200);
    pages.push(await r.text());
    const link = r.headers.get("link");
    url = link ? collector.base + link.match(/^<([^>]+)>; rel="next"$/)[1] : null;
    if (link) assert.ok(r.headers.get("x-next-cursor"));
  }
  const lines = pages.join("").split("\r\n").filter(Boolean);
  const expected = (await adminLeads(collector)).filter((l) => l.form === "open");
  assert.ok(pages.length >= 3, `${pages.length} pages`);
  assert.equal(lines.filter((l) => l.startsWith('"id"')).length, 1, "one header row");
  assert.equal(lines[0], '"id","form","status","created_at","updated_at","stage","owner","score","source","campaign","marketing_consent","form_version","variant","email","first_name"');
  assert.equal(lines.length - 1, expected.length, "every lead once");
  assert.deepEqual(new Set(lines.slice(1).map((l) => JSON.parse(l.split(",")[0]))), new Set(expected.map((l) => l.id)));
  assert.equal((await fetch(`${collector.base}/v1/admin/leads.csv?limit=501`, { headers: auth })).status, 400);
});
