//! End-to-end: the ledger split into objects in workerd (see `shard`). A form with `shards = 2` spreads its
// addresses over two objects and still keeps one lead per address under racing submissions, one entry per
// giveaway address and one answer per key; lists join the shards newest first; both objects' alarms
// deliver; a draw covers both shards and an erased winner leaves nothing behind. And the upgrade: a
// collector that ran the single-object layout keeps every lead, delivery, tombstone, answer and draw, its
// forms stay in the old object, a new form gets its own objects, and the old object refuses a new form's
// addresses from a Worker still running the old code.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { startReceiver } from "./receiver.mjs";
import { admin, adminLeads, eventually, postLead, secrets, startCollector, tick } from "./support.mjs";

let receiver;
const running = [];
const receivers = [];

before(async () => {
  receiver = await startReceiver({ secret: secrets.WEBHOOK_SECRET });
});

after(async () => {
  for (const c of running) await c.stop();
  for (const r of receivers) await r.close();
  await receiver?.close();
});

const forms = (url, shards) => `
[[forms]]
id = "camp"
kind = "newsletter"
${shards ? `shards = ${shards}` : ""}
fields = [{ name = "email", required = true }]

[[forms.webhooks]]
id = "crm"
url = "${url}"

[[forms]]
id = "win"
kind = "giveaway"
${shards ? `shards = ${shards}` : ""}
fields = [{ name = "email", required = true }]
giveaway = { starts_at = "2026-01-01", ends_at = "2030-12-31", rules_url = "/rules" }
consents = [{ id = "giveaway_rules", required = true, text = { en = "I accept the rules." } }]

[[forms.webhooks]]
id = "crm"
url = "${url}"
`;

const auth = { authorization: `Bearer ${secrets.ADMIN_TOKEN}` };

/** Every lead id of the admin list, `limit` a page, in the order listed. */
async function listed(collector, limit) {
  const ids = [];
  let cursor = null;
  do {
    const page = await admin(collector, `/v1/admin/leads?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    ids.push(...page.leads.map((l) => l.id));
    cursor = page.cursor;
  } while (cursor);
  return ids;
}

test("a form with two shards keeps one lead per address, joins its lists and delivers from both objects", async () => {
  const collector = await startCollector(forms(receiver.url, 2));
  running.push(collector);
  // 60 addresses, each submitted twice at once, one pair under one Idempotency-Key.
  const posts = [];
  for (let i = 0; i < 60; i++) {
    for (let j = 0; j < 2; j++) posts.push(postLead(collector, { form: "camp", fields: { email: `split${i}@example.com` } }));
  }
  const keyed = [0, 1].map(() =>
    fetch(`${collector.base}/v1/leads`, {
      method: "POST",
      headers: { "content-type": "application/json", "idempotency-key": "one-answer" },
      body: JSON.stringify({ form: "camp", fields: { email: "keyed@example.com" }, meta: { elapsed_ms: 9000 } }),
    }),
  );
  const answers = await Promise.all([...posts, ...keyed]);
  assert.ok(answers.every((r) => r.status === 201), answers.map((r) => r.status).join(","));
  const [k1, k2] = await Promise.all(answers.slice(-2).map((r) => r.json()));
  assert.equal(k1.id, k2.id, "one answer per key");

  const leads = (await adminLeads(collector)).filter((l) => l.form === "camp");
  assert.equal(leads.length, 61, "one lead per address");
  const homes = new Set(leads.map((l) => l.id.match(/_([0-9A-Z]{6})$/)?.[1]));
  assert.equal(homes.size, 2, `two objects hold the leads: ${[...homes]}`);
  assert.ok([...homes].every((h) => h && h.slice(0, 5) === [...homes][0].slice(0, 5)), "one form tag");

  const ids = await listed(collector, 7);
  assert.equal(ids.length, 61);
  assert.deepEqual(ids, [...ids].sort().reverse(), "newest first across both shards");
  await eventually(() => new Set(receiver.deliveries.filter((d) => d.verified && d.payload?.type === "lead.created").map((d) => d.payload.data.id)).size >= 61, 30_000, "every lead.created, from both objects' alarms");

  // A giveaway over two shards: one entry per address, a draw over all of them, an erased winner gone.
  const entries = [];
  for (let i = 0; i < 30; i++) {
    const r = await postLead(collector, { form: "win", fields: { email: `entrant${i}@example.com` }, consent: ["giveaway_rules"] });
    assert.equal(r.status, 201);
    entries.push((await r.json()).id);
  }
  const again = await postLead(collector, { form: "win", fields: { email: "entrant7@example.com" }, consent: ["giveaway_rules"] });
  assert.equal(again.status, 409);
  const r = await fetch(`${collector.base}/v1/admin/giveaways/win/draw`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify({ winners: 3 }) });
  assert.equal(r.status, 201);
  const draw = await r.json();
  assert.equal(draw.eligible_count, 30, "every shard's entries");
  await eventually(() => receiver.deliveries.filter((d) => d.payload?.type === "giveaway.winner" && d.payload.data.draw === draw.id).length === 3, 15_000, "the winners' webhooks");
  const winner = draw.winners[0];
  const del = await fetch(`${collector.base}/v1/admin/leads/${winner}`, { method: "DELETE", headers: auth });
  assert.equal(del.status, 200);
  assert.equal((await fetch(`${collector.base}/v1/admin/leads/${winner}`, { headers: auth })).status, 404);
  const left = await admin(collector, `/v1/admin/deliveries?lead=${winner}`);
  assert.ok(left.deliveries.every((d) => d.event === "lead.erased"), "only the erasure's announcement is left of the winner");

  const funnel = await admin(collector, "/v1/admin/funnel?by=form");
  assert.deepEqual(Object.fromEntries(funnel.groups.map((g) => [g.key, g.leads])), { camp: 61, win: 29 });
});

test("a collector of the single-object layout keeps everything, and a new form gets its own objects", async () => {
  // Before the upgrade: the Worker of the single-object layout, a CRM that is down, and everything a
  // collector keeps: leads, waiting deliveries, an erasure's tombstone, a keyed answer, a draw.
  const down = await startReceiver({ secret: secrets.WEBHOOK_SECRET });
  receivers.push(down);
  down.setMode({ status: 503 });
  const old = await startCollector(forms(down.url), { env: { LEADGATE_SINGLE_OBJECT: "1" } });
  running.push(old);
  const ids = [];
  for (let i = 0; i < 20; i++) {
    const r = await postLead(old, { form: "camp", fields: { email: `before${i}@example.com` } });
    assert.equal(r.status, 201);
    ids.push((await r.json()).id);
  }
  assert.ok(ids.every((id) => /^ld_[0-9A-Z]{26}$/.test(id)), "ids of the single-object layout");
  const keyed = () =>
    fetch(`${old.base}/v1/leads`, {
      method: "POST",
      headers: { "content-type": "application/json", "idempotency-key": "kept" },
      body: JSON.stringify({ form: "camp", fields: { email: "keyed@example.com" }, meta: { elapsed_ms: 9000 } }),
    });
  const first = await (await keyed()).json();
  for (let i = 0; i < 5; i++) {
    assert.equal((await postLead(old, { form: "win", fields: { email: `e${i}@example.com` }, consent: ["giveaway_rules"] })).status, 201);
  }
  const drawn = await fetch(`${old.base}/v1/admin/giveaways/win/draw`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify({ winners: 1 }) });
  assert.equal(drawn.status, 201);
  const draw = await drawn.json();
  await admin(old, `/v1/admin/leads/${ids[0]}`, { method: "DELETE" });
  await eventually(() => down.deliveries.length >= 20, 15_000, "the first attempts, answered 503");
  // Its cron had run, as it does every minute (the KV-only layout's backfill is long done).
  await tick(old);
  await old.stop();

  // The upgrade: the same state, the new Worker, and a new form that asks for two shards.
  down.setMode({ status: 204 });
  const config = forms(down.url) + `
[[forms]]
id = "fresh"
kind = "newsletter"
shards = 2
fields = [{ name = "email", required = true }]
`;
  const upgraded = await startCollector(config, { state: old.state });
  running.push(upgraded);
  const leads = await adminLeads(upgraded);
  const camp = leads.filter((l) => l.form === "camp");
  assert.equal(camp.length, 20, "every lead is kept, the erased one stays erased");
  assert.ok(!camp.some((l) => l.id === ids[0]));
  // A known address is a repeat, not a second lead; the keyed request gets its first answer.
  assert.equal((await postLead(upgraded, { form: "camp", fields: { email: "before3@example.com" } })).status, 201);
  assert.equal((await adminLeads(upgraded)).filter((l) => l.form === "camp").length, 20);
  const replay = await (await fetch(`${upgraded.base}/v1/leads`, {
    method: "POST",
    headers: { "content-type": "application/json", "idempotency-key": "kept" },
    body: JSON.stringify({ form: "camp", fields: { email: "keyed@example.com" }, meta: { elapsed_ms: 9000 } }),
  })).json();
  assert.equal(replay.id, first.id, "the key's answer is kept");
  // The old form stays in the old object; the new one has its own two.
  const r = await postLead(upgraded, { form: "fresh", fields: { email: "new@example.com" } });
  assert.equal(r.status, 201);
  assert.match((await r.json()).id, /^ld_[0-9A-Z]{26}_[0-9A-Z]{6}$/);
  const late = await postLead(upgraded, { form: "camp", fields: { email: "after@example.com" } });
  assert.match((await late.json()).id, /^ld_[0-9A-Z]{26}$/, "a form of the old object stays there");
  // The draw is listed, and the waiting deliveries go out (their retry is due within the first steps).
  const draws = await admin(upgraded, "/v1/admin/giveaways/win/draws");
  assert.deepEqual(draws.draws.map((d) => [d.draw.id, d.reproduces]), [[draw.id, true]]);
  await tick(upgraded);
  await eventually(
    () => new Set(down.deliveries.filter((d) => d.status === 204 && d.payload?.type === "lead.created").map((d) => d.payload.data.id)).size >= 19,
    30_000,
    "the deliveries that waited in the old object",
  );
  await upgraded.stop();

  // A Worker still running the old code sends the new form's addresses to the old object: refused.
  const stale = await startCollector(config, { state: old.state, env: { LEADGATE_SINGLE_OBJECT: "1" } });
  running.push(stale);
  const refused = await postLead(stale, { form: "fresh", fields: { email: "stale@example.com" } });
  assert.equal(refused.status, 500, "nothing is stored behind the shards' backs");
});
