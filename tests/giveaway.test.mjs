//! End-to-end: the giveaway draw. Winners are distinct, eligible and re-computable from the recorded seed
// with an independent HMAC (Node's crypto, not our code); erased entries and earlier winners never win;
// each winner is announced as a signed `giveaway.winner` webhook.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { startReceiver } from "./receiver.mjs";
import { admin, eventually, postLead, secrets, startCollector } from "./support.mjs";

let crm, collector;

before(async () => {
  crm = await startReceiver({ secret: secrets.WEBHOOK_SECRET });
  collector = await startCollector(`
[mail]
url = "${crm.mailbox}"
from = "Gewinnspiel <win@example.com>"

[[forms]]
id = "doiwin"
kind = "giveaway"
double_opt_in = true
fields = [{ name = "email", required = true }]
giveaway = { starts_at = "2020-01-01", ends_at = "2099-12-31", rules_url = "https://example.com/rules" }
consents = [{ id = "giveaway_rules", required = true, text = { en = "I accept the rules." } }]

[[forms]]
id = "win"
kind = "giveaway"
fields = [{ name = "email", required = true }]
giveaway = { starts_at = "2020-01-01", ends_at = "2099-12-31", rules_url = "https://example.com/rules" }
consents = [{ id = "giveaway_rules", required = true, text = { en = "I accept the rules." } }]

[[forms.webhooks]]
id = "crm"
url = "${crm.url}"

[[forms]]
id = "retrywin"
kind = "giveaway"
fields = [{ name = "email", required = true }]
giveaway = { starts_at = "2020-01-01", ends_at = "2099-12-31", rules_url = "https://example.com/rules" }
consents = [{ id = "giveaway_rules", required = true, text = { en = "I accept the rules." } }]

[[forms.webhooks]]
id = "crm"
url = "${crm.url}"

[[forms]]
id = "news"
kind = "newsletter"
fields = [{ name = "email", required = true }]
`);
});

after(async () => {
  await collector?.stop();
  await crm?.close();
});

const draw = (form, body, headers = {}) =>
  fetch(`${collector.base}/v1/admin/giveaways/${form}/draw`, {
    method: "POST",
    headers: { authorization: `Bearer ${secrets.ADMIN_TOKEN}`, "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });

/** The published rule, implemented independently: sort ids by hex HMAC-SHA256(seed, id); the first n win. */
function recompute(seedHex, eligible, n) {
  const key = Buffer.from(seedHex, "hex");
  return [...eligible]
    .map((id) => [createHmac("sha256", key).update(id).digest("hex"), id])
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .slice(0, n)
    .map(([, id]) => id);
}

test("a draw picks distinct eligible winners, reproducible from its seed, and announces them", async () => {
  const ids = [];
  for (let i = 0; i < 12; i++) {
    const r = await postLead(collector, { form: "win", fields: { email: `entrant${i}@example.com` }, consent: ["giveaway_rules"] });
    assert.equal(r.status, 201);
    ids.push((await r.json()).id);
  }
  const erased = ids[5];
  await admin(collector, `/v1/admin/leads/${erased}`, { method: "DELETE" });

  const r = await draw("win", { winners: 3 });
  assert.equal(r.status, 201);
  const first = await r.json();
  assert.equal(first.eligible_count, 11);
  assert.ok(!first.eligible.includes(erased), "an erased entry is not eligible");
  assert.equal(new Set(first.winners).size, 3);
  assert.ok(first.winners.every((w) => first.eligible.includes(w)));
  assert.deepEqual(first.winners, recompute(first.seed, first.eligible, 3), "the winners follow from the recorded seed");
  assert.equal(first.entries_open, true);

  await eventually(() => crm.deliveries.filter((d) => d.payload?.type === "giveaway.winner").length === 3, 10_000, "winner webhooks");
  const announced = crm.deliveries.filter((d) => d.payload?.type === "giveaway.winner");
  assert.ok(announced.every((d) => d.verified && d.payload.data.draw === first.id));
  assert.deepEqual(announced.map((d) => d.payload.data.id).sort(), [...first.winners].sort());

  // A second draw leaves out the first draw's winners.
  const tooMany = await draw("win", { winners: 9 });
  assert.equal(tooMany.status, 409);
  const refusal = await tooMany.json();
  assert.equal(refusal.error.code, "not_enough_entries");
  assert.match(refusal.error.message, /eligible: 8/);
  const second = await (await draw("win", { winners: 2 })).json();
  assert.equal(second.eligible_count, 8);
  assert.ok(second.winners.every((w) => !first.winners.includes(w)));

  const { draws } = await admin(collector, "/v1/admin/giveaways/win/draws");
  assert.equal(draws.length, 2);
  assert.ok(draws.every((d) => d.reproduces));
});

test("draws are refused clearly: no winners, bad bodies, forms that are no giveaway, no token", async () => {
  assert.equal((await draw("win", { winners: 0 })).status, 409);
  const bad = await draw("win", "{oops");
  assert.equal(bad.status, 400);
  assert.equal((await bad.json()).error.code, "malformed_body");
  assert.equal((await draw("win", { winners: "three" })).status, 400);
  assert.equal((await draw("news", { winners: 1 })).status, 404);
  const anonymous = await fetch(`${collector.base}/v1/admin/giveaways/win/draw`, { method: "POST", body: "{}" });
  assert.equal(anonymous.status, 401);
});

test("with double opt-in only confirmed entries can win", async () => {
  const ids = [];
  for (let i = 0; i < 3; i++) {
    const r = await postLead(collector, { form: "doiwin", fields: { email: `doi${i}@example.com` }, consent: ["giveaway_rules"] });
    assert.equal(r.status, 201);
    ids.push((await r.json()).id);
  }
  for (const i of [0, 2]) {
    const mail = await eventually(() => crm.mails.find((m) => m.to === `doi${i}@example.com`), 10_000, "the confirmation mail");
    const link = mail.text.match(/https?:\/\/\S+\/v1\/confirm\/\S+/)[0];
    assert.equal((await fetch(link, { method: "POST" })).status, 200);
  }
  assert.equal((await draw("doiwin", { winners: 3 })).status, 409, "the unconfirmed entry does not count");
  const d = await (await draw("doiwin", { winners: 2 })).json();
  assert.equal(d.eligible_count, 2);
  assert.deepEqual([...d.winners].sort(), [ids[0], ids[2]].sort());
});

test("a retried draw request is answered with the draw that was made, never drawn again", async () => {
  for (let i = 0; i < 4; i++) {
    assert.equal((await postLead(collector, { form: "retrywin", fields: { email: `retry${i}@example.com` }, consent: ["giveaway_rules"] })).status, 201);
  }
  const key = { "idempotency-key": "draw-retry-1" };
  const [a, b] = await Promise.all([draw("retrywin", { winners: 1 }, key), draw("retrywin", { winners: 1 }, key)]);
  const statuses = [a.status, b.status].sort();
  const bodies = [await a.json(), await b.json()];
  // Two copies of one click: one draws, the other gets that draw (or, while it is still being made, 409).
  assert.ok(statuses[0] === 201 && (statuses[1] === 201 || statuses[1] === 409), statuses.join());
  const again = await (await draw("retrywin", { winners: 1 }, key)).json();
  assert.equal(again.id, bodies.find((x) => x.id).id, "the retry names the first draw");
  const { draws } = await (await fetch(`${collector.base}/v1/admin/giveaways/retrywin/draws`, { headers: { authorization: `Bearer ${secrets.ADMIN_TOKEN}` } })).json();
  assert.equal(draws.length, 1, "one draw on record");
  await eventually(() => crm.deliveries.some((d) => d.payload?.type === "giveaway.winner" && d.payload.data.form === "retrywin"), 10_000, "the announcement");
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(crm.deliveries.filter((d) => d.payload?.type === "giveaway.winner" && d.payload.data.form === "retrywin").length, 1, "one winner announced once");
  // Another click (another key) draws again among those who have not won.
  const next = await (await draw("retrywin", { winners: 1 }, { "idempotency-key": "draw-retry-2" })).json();
  assert.notEqual(next.id, again.id);
  assert.equal(next.eligible_count, 3);
});
