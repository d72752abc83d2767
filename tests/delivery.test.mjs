//! End-to-end: webhook delivery that never loses a lead. A real target on 127.0.0.1 fails in every way a
// CRM does (500, 429 with Retry-After, hanging past the timeout, refusing connections, redirecting, 410),
// the collector keeps accepting leads, and the scheduled handler (driven like the production cron, with a
// schedule compressed to seconds) delivers every one once the target is back. Every received delivery is
// verified with the official Standard Webhooks library.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { startReceiver } from "./receiver.mjs";
import { admin, adminLeads, eventually, freePort, pool, secrets, startCollector, tick } from "./support.mjs";

let crm, slow, gone, timed, collector, closedPort;
const fast = "schedule = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]";

before(async () => {
  crm = await startReceiver({ secret: secrets.WEBHOOK_SECRET });
  slow = await startReceiver({ secret: secrets.WEBHOOK_SECRET });
  gone = await startReceiver({ secret: secrets.WEBHOOK_SECRET });
  timed = await startReceiver({ secret: secrets.WEBHOOK_SECRET });
  closedPort = await freePort();
  collector = await startCollector(`
[[forms]]
id = "news"
kind = "newsletter"
fields = [{ name = "email", required = true }]

[[forms.webhooks]]
id = "crm"
url = "${crm.url}"
${fast}
timeout_ms = 2000

[[forms]]
id = "faults"
kind = "newsletter"
fields = [{ name = "email", required = true }]

[[forms.webhooks]]
id = "slow"
url = "${slow.url}"
${fast}
timeout_ms = 500

[[forms.webhooks]]
id = "down"
url = "http://127.0.0.1:${closedPort}/webhook"
${fast}

[[forms.webhooks]]
id = "gone"
url = "${gone.url}"
${fast}

[[forms]]
id = "timed"
kind = "newsletter"
fields = [{ name = "email", required = true }]

[[forms.webhooks]]
id = "timed"
url = "${timed.url}"
schedule = [2, 3]

[[forms]]
id = "short"
kind = "newsletter"
fields = [{ name = "email", required = true }]

[[forms.webhooks]]
id = "crm"
url = "${crm.url}"
schedule = [1, 1]
`);
});

after(async () => {
  await collector?.stop();
  await Promise.all([crm, slow, gone, timed].map((r) => r?.close()));
});

const submit = (form, email) =>
  fetch(`${collector.base}/v1/leads`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ form, fields: { email } }) });

test("while the CRM is down 200 leads are accepted; after it recovers every one is delivered once, signed, same webhook-id per retry", async () => {
  crm.setMode({ status: 500 });
  const emails = Array.from({ length: 200 }, (_, i) => `outage-${i}@example.com`);
  const answers = await pool(emails, 8, async (e) => {
    const r = await submit("news", e);
    return { status: r.status, body: await r.json() };
  });
  assert.deepEqual([...new Set(answers.map((a) => a.status))], [201], "every lead accepted while the target is down");
  const ids = new Set(answers.map((a) => a.body.id));
  assert.equal((await adminLeads(collector)).filter((l) => l.form === "news").length, 200);
  await eventually(() => crm.deliveries.length >= 200, 30_000, "first attempts");

  // The target rate-limits next: 429 with Retry-After, which the collector must honour.
  crm.setMode({ status: 429, headers: { "retry-after": "2" } });
  await new Promise((r) => setTimeout(r, 1200));
  for (let i = 0; i < 6; i++) await tick(collector);
  const failed = await admin(collector, "/v1/admin/deliveries?status=failed&limit=100");
  assert.ok(failed.deliveries.length > 0 && failed.deliveries.every((d) => d.attempts >= 1), "failed deliveries are visible with their attempts");
  assert.ok(failed.deliveries.some((d) => d.last_status === 429 || d.last_status === 500));

  crm.setMode({ status: 204 });
  const recovered = Date.now();
  const delivered = () => new Set(crm.deliveries.filter((d) => d.status === 204 && d.verified).map((d) => d.payload.data.id));
  while (Date.now() - recovered < 120_000 && delivered().size < 200) {
    await tick(collector);
    await new Promise((r) => setTimeout(r, 300));
  }
  const last = Math.max(...crm.deliveries.filter((d) => d.status === 204).map((d) => d.at));
  console.log(`recovery to last delivery: ${((last - recovered) / 1000).toFixed(1)} s; attempts received: ${crm.deliveries.length}`);
  assert.equal(delivered().size, 200, "every accepted lead is delivered");
  for (const id of ids) assert.ok(delivered().has(id), id);
  assert.ok(crm.deliveries.every((d) => d.verified), "every attempt verifies with the official library");
  // One delivery per lead: all attempts for a lead carry the same webhook-id, and exactly one got a 2xx.
  const byLead = new Map();
  for (const d of crm.deliveries) {
    const seen = byLead.get(d.payload.data.id) || new Set();
    seen.add(d.id);
    byLead.set(d.payload.data.id, seen);
  }
  assert.ok([...byLead.values()].every((s) => s.size === 1), "retries keep their webhook-id");
  const successes = crm.deliveries.filter((d) => d.status === 204).length;
  assert.equal(successes, 200, "no lead is delivered twice");
  assert.ok(crm.deliveries.length > 400, "retries really happened");
  assert.equal((await admin(collector, "/v1/admin/deliveries?status=dead&limit=100")).deliveries.length, 0, "nothing dead-lettered");
  assert.equal((await admin(collector, "/v1/admin/deliveries?status=pending&limit=100")).deliveries.length, 0);
});

test("timeouts, refused connections, redirects and 410 are retried or handled, and a disabled endpoint can be re-enabled", async () => {
  slow.setMode({ status: 204, delayMs: 3000 });
  gone.setMode({ status: 410 });
  const r = await submit("faults", "faults@example.com");
  assert.equal(r.status, 201);
  const lead = (await r.json()).id;
  const mine = async () => (await admin(collector, `/v1/admin/deliveries?lead=${lead}`)).deliveries;
  const by = async (ep) => (await mine()).find((d) => d.endpoint === ep);
  await eventually(async () => (await mine()).every((d) => d.attempts >= 1), 20_000, "first attempts of all three");
  assert.match((await by("slow")).last_error, /timeout after 500 ms/);
  assert.match((await by("down")).last_error, /network error/);
  assert.equal((await by("gone")).last_status, 410);
  const endpoints = (await admin(collector, "/v1/admin/endpoints")).endpoints;
  assert.equal(endpoints.find((e) => e.form === "faults" && e.id === "gone").disabled, true, "410 disables the endpoint");
  assert.equal(endpoints.find((e) => e.form === "faults" && e.id === "slow").disabled, false);

  // While disabled, nothing is sent to it; its delivery waits, pending.
  const goneCalls = gone.deliveries.length;
  await new Promise((r) => setTimeout(r, 1200));
  await tick(collector);
  assert.equal(gone.deliveries.length, goneCalls);
  assert.equal((await by("gone")).status, "pending");

  // A redirect is a failure to retry, not something to follow.
  slow.setMode({ status: 302, headers: { location: "http://127.0.0.1:1/elsewhere" } });
  await new Promise((r) => setTimeout(r, 1200));
  await tick(collector);
  await eventually(async () => (await by("slow")).last_status === 302, 10_000, "the 302 recorded");

  // Everything recovers; the endpoint is enabled again and its delivery goes out.
  slow.setMode({ status: 200 });
  gone.setMode({ status: 200 });
  await admin(collector, "/v1/admin/endpoints/faults/gone/enable", { method: "POST" });
  await eventually(async () => {
    await tick(collector);
    const ds = await mine();
    return ds.find((d) => d.endpoint === "slow").status === "delivered" && ds.find((d) => d.endpoint === "gone").status === "delivered";
  }, 30_000, "slow and gone delivered");
  assert.equal((await by("down")).status, "pending", "the refused endpoint keeps trying");
  assert.ok(gone.deliveries.at(-1).verified && slow.deliveries.at(-1).verified);
});

test("retries go out at their due time from the ledger's alarm, with no cron run in between", async () => {
  timed.setMode({ status: 503 });
  const r = await submit("timed", "timed@example.com");
  assert.equal(r.status, 201);
  await eventually(() => timed.deliveries.length >= 1, 5_000, "the first attempt, at once");
  await eventually(() => timed.deliveries.length >= 2, 6_000, "the retry after 2 s");
  timed.setMode({ status: 204 });
  await eventually(() => timed.deliveries.length >= 3, 7_000, "the retry after 3 s more");
  const at = timed.deliveries.map((d) => d.at);
  const gaps = [at[1] - at[0], at[2] - at[1]].map((ms) => ms / 1000);
  console.log(`alarm-driven retries: gaps ${gaps.map((g) => g.toFixed(2)).join(" s, ")} s (schedule 2 s, 3 s; up to 10% jitter)`);
  assert.ok(gaps[0] >= 1.9 && gaps[0] <= 3.2, `first gap ${gaps[0]} s`);
  assert.ok(gaps[1] >= 2.9 && gaps[1] <= 4.3, `second gap ${gaps[1]} s`);
  assert.equal(new Set(timed.deliveries.map((d) => d.id)).size, 1, "one webhook-id");
  assert.ok(timed.deliveries.every((d) => d.verified));
});

test("a delivery whose schedule runs out is dead-lettered, stays visible, and can be replayed", async () => {
  crm.setMode({ status: 503 });
  const r = await submit("short", "dead@example.com");
  const lead = (await r.json()).id;
  const find = async (status) => (await admin(collector, `/v1/admin/deliveries?status=${status}&lead=${lead}`)).deliveries[0];
  await eventually(async () => {
    await tick(collector);
    return find("dead");
  }, 30_000, "dead letter");
  const dead = await find("dead");
  assert.equal(dead.attempts, 3, "the first attempt plus the two scheduled retries");
  assert.equal(dead.last_status, 503);
  crm.setMode({ status: 204 });
  const replayed = await admin(collector, `/v1/admin/deliveries/${dead.id}/replay`, { method: "POST" });
  assert.equal(replayed.status, "pending");
  await eventually(() => find("delivered"), 10_000, "replayed delivery");
  const got = crm.deliveries.filter((d) => d.payload.data.id === lead);
  assert.equal(new Set(got.map((d) => d.id)).size, 1, "a replay keeps the webhook-id, so the CRM can deduplicate");
});

test("a delivery in flight when the runtime dies is attempted again soon after the restart, not after its lease", async () => {
  // The CRM answers after 1.8 s (the endpoint's timeout is 2 s): the runtime is killed while the attempt
  // waits, so its outcome is never recorded and the delivery stays leased. The next instance of the ledger
  // hands the lease back, where it would otherwise wait out `ledger::LEASE_MS` (15 minutes).
  crm.setMode({ status: 204, delayMs: 1800 });
  const r = await submit("news", "in-flight@example.com");
  assert.equal(r.status, 201);
  const { id } = await r.json();
  const arrived = () => crm.deliveries.filter((d) => d.payload?.data?.id === id);
  await eventually(() => arrived().length > 0, 20_000, "the first attempt reaching the CRM");
  const first = arrived()[0];
  const killed = Date.now();
  await collector.restart();
  assert.ok(killed - first.at < 1500, `the kill came ${killed - first.at} ms after the attempt arrived, not while it waited`);
  crm.setMode({ status: 204 });
  await eventually(async () => {
    await tick(collector);
    return arrived().length > 1;
  }, 30_000, "the attempt made again after the restart");
  assert.equal(arrived()[1].id, first.id, "the same webhook-id, so the CRM can deduplicate");
  await eventually(async () => {
    const { deliveries } = await admin(collector, `/v1/admin/deliveries?status=delivered&lead=${id}`);
    return deliveries.length === 1;
  }, 10_000, "the delivery recorded as delivered");
});

test("leads answered 2xx survive the collector being killed mid-run and are all delivered after the restart", async () => {
  crm.setMode({ status: 204 });
  const accepted = [];
  let stop = false;
  const writer = (async () => {
    let i = 0;
    while (!stop) {
      const email = `restart-${i++}@example.com`;
      try {
        const r = await submit("news", email);
        if (r.status === 201) accepted.push((await r.json()).id);
      } catch {
        await new Promise((r) => setTimeout(r, 100)); // the collector is down: like a visitor, try later
      }
    }
  })();
  await eventually(() => accepted.length >= 30, 30_000, "30 leads before the kill");
  await collector.restart(); // SIGKILL, then start again on the same state folder and port
  await eventually(() => accepted.length >= 60, 60_000, "30 more leads after the restart");
  stop = true;
  await writer;
  const stored = new Set((await adminLeads(collector)).map((l) => l.id));
  const missing = accepted.filter((id) => !stored.has(id));
  assert.deepEqual(missing, [], "every lead answered 201 is stored");
  await eventually(async () => {
    await tick(collector);
    const got = new Set(crm.deliveries.filter((d) => d.status === 204 && d.verified).map((d) => d.payload.data.id));
    return accepted.every((id) => got.has(id));
  }, 60_000, "every accepted lead delivered");
  console.log(`restart test: ${accepted.length} leads accepted around a SIGKILL, all stored and delivered`);
});
