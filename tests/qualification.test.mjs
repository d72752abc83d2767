//! End-to-end: qualification through workerd. A lead goes from the form to `customer`: the form's lead
// definition makes it a lead, a behaviour event from an integration makes it an MQL, a person moves it to
// SQL, the CRM's signed feedback (Standard Webhooks, signed here with the official library) to opportunity,
// HubSpot's lifecycle webhook (v3 signature computed with Node's crypto) to customer; another lead's
// Pipedrive deal is lost. Every `lead.stage_changed` is verified with the official Standard Webhooks
// library, and the CRM APIs the collector asks for contact addresses are real HTTP servers on 127.0.0.1.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createHmac, randomBytes } from "node:crypto";
import http from "node:http";
import { Webhook } from "standardwebhooks";
import { startReceiver } from "./receiver.mjs";
import { admin, eventually, postLead, secrets, startCollector } from "./support.mjs";

const keys = {
  EVENTS_KEY: randomBytes(24).toString("hex"),
  MAILER_KEY: randomBytes(24).toString("hex"),
  FEEDBACK_SECRET: "whsec_" + randomBytes(24).toString("base64"),
  HUBSPOT_CLIENT_SECRET: randomBytes(16).toString("hex"),
  HUBSPOT_TOKEN: "pat-" + randomBytes(8).toString("hex"),
  PIPEDRIVE_AUTH: "leadgate:" + randomBytes(8).toString("hex"),
  PIPEDRIVE_TOKEN: randomBytes(8).toString("hex"),
};
let receiver, collector, crmApi;
const contacts = new Map(); // HubSpot contact id or Pipedrive person id -> address
const apiCalls = [];

before(async () => {
  receiver = await startReceiver({ secret: secrets.WEBHOOK_SECRET });
  // HubSpot's contacts API and Pipedrive's persons API, as the collector asks them for an address.
  crmApi = http.createServer((req, res) => {
    const url = new URL(req.url, "http://x");
    apiCalls.push({ path: url.pathname, auth: req.headers.authorization, token: req.headers["x-api-token"] });
    // A token in the URL is kept by every proxy and access log on the way: the fake refuses it, and the
    // test below fails on any call that carried one.
    if ([...url.searchParams.values()].some((v) => Object.values(keys).includes(v)) || url.searchParams.has("api_token")) {
      apiCalls.push({ path: url.pathname, leaked: true });
      res.writeHead(400);
      return res.end();
    }
    const hub = url.pathname.match(/^\/hubspot\/crm\/v3\/objects\/contacts\/(\d+)$/);
    const pd = url.pathname.match(/^\/pipedrive\/v1\/persons\/(\d+)$/);
    if (hub && req.headers.authorization === `Bearer ${keys.HUBSPOT_TOKEN}` && contacts.has(hub[1])) {
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(JSON.stringify({ id: hub[1], properties: { email: contacts.get(hub[1]) } }));
    }
    if (pd && req.headers["x-api-token"] === keys.PIPEDRIVE_TOKEN && contacts.has(pd[1])) {
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(JSON.stringify({ success: true, data: { id: Number(pd[1]), email: [{ value: contacts.get(pd[1]), primary: true }] } }));
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise((r) => crmApi.listen(0, "127.0.0.1", r));
  const api = `http://127.0.0.1:${crmApi.address().port}`;
  collector = await startCollector(
    `
[[forms]]
id = "guide"
kind = "download_gate"
mode = "b2b"
asset = { key = "guide.pdf", filename = "guide.pdf" }
fields = [{ name = "email", required = true }, { name = "company" }]
lead_definition = { because = "Das ist ein Lead, weil er den Leitfaden für seine Firma lädt.", requires = ["company"] }
assign = { rule = "round_robin" }

[[forms.webhooks]]
id = "crm"
url = "${receiver.url}"

[[owners]]
id = "anna"
name = "Anna Schmidt"
email = "anna@example.com"

[[owners]]
id = "ben"
name = "Ben Vogel"

[[owners]]
id = "cem"
name = "Cem Aydın"

[[integrations]]
id = "webinar"
key = "EVENTS_KEY"

[[integrations]]
id = "mailer"
key = "MAILER_KEY"
forms = ["guide"]
events = ["email_click"]

[[feedback]]
id = "crm"
source = "standard"
secret = "FEEDBACK_SECRET"

[[feedback]]
id = "hubspot"
source = "hubspot"
secret = "HUBSPOT_CLIENT_SECRET"
token = "HUBSPOT_TOKEN"
api = "${api}/hubspot"

[[feedback]]
id = "pipedrive"
source = "pipedrive"
secret = "PIPEDRIVE_AUTH"
token = "PIPEDRIVE_TOKEN"
api = "${api}/pipedrive"
`,
    { env: keys },
  );
});

after(async () => {
  await collector?.stop();
  await receiver?.close();
  await new Promise((r) => crmApi?.close(r));
});

const call = (path, body, headers) => fetch(`${collector.base}${path}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: typeof body === "string" ? body : JSON.stringify(body) });

/** Sends generic feedback signed with the official Standard Webhooks library. */
function signedFeedback(body, id = "msg_" + randomBytes(8).toString("hex")) {
  const payload = JSON.stringify(body);
  const at = new Date();
  const signature = new Webhook(keys.FEEDBACK_SECRET).sign(id, at, payload);
  return call("/v1/feedback/crm", payload, { "webhook-id": id, "webhook-timestamp": String(Math.floor(at.getTime() / 1000)), "webhook-signature": signature });
}

/** Sends a HubSpot webhook batch with its v3 signature, computed as HubSpot documents it. */
function hubspot(events) {
  const body = JSON.stringify(events);
  const url = `${collector.base}/v1/feedback/hubspot`;
  const ts = String(Date.now());
  const sig = createHmac("sha256", keys.HUBSPOT_CLIENT_SECRET).update("POST" + url + body + ts).digest("base64");
  return call("/v1/feedback/hubspot", body, { "x-hubspot-signature-v3": sig, "x-hubspot-request-timestamp": ts });
}

const stageChanges = (lead) => receiver.deliveries.filter((d) => d.payload?.type === "lead.stage_changed" && d.payload.data.id === lead);

test("a lead goes from the form to customer through an event, a person, the CRM's signed feedback and HubSpot", async () => {
  const r = await postLead(collector, { form: "guide", fields: { email: "grace@example.com", company: "Navy" } });
  assert.equal(r.status, 201);
  const id = (await r.json()).id;
  const stored = await admin(collector, `/v1/admin/leads/${id}`);
  assert.equal(stored.stage, "lead");
  assert.equal(stored.history[0].reason, "Das ist ein Lead, weil er den Leitfaden für seine Firma lädt.");

  // The webinar platform records attendance and a booked meeting with its own key: 10 + 15 + 25 = 50.
  const bearer = (k) => ({ authorization: `Bearer ${k}` });
  assert.equal((await call(`/v1/leads/${id}/events`, { type: "webinar_attended" }, bearer("wrong".repeat(8)))).status, 401);
  const unknown = await call(`/v1/leads/${id}/events`, { type: "lottery_win" }, bearer(keys.EVENTS_KEY));
  assert.equal(unknown.status, 422);
  assert.ok((await unknown.json()).error.fields.type, "the error names the field");
  assert.equal((await call(`/v1/leads/${id}/events`, { type: "webinar_attended" }, bearer(keys.EVENTS_KEY))).status, 201);
  // The mail tool's key is scoped to mail clicks: it cannot claim a meeting.
  const claimed = await call(`/v1/leads/${id}/events`, { type: "meeting_booked" }, bearer(keys.MAILER_KEY));
  assert.equal(claimed.status, 403);
  assert.equal((await claimed.json()).error.code, "out_of_scope");
  const booked = await (await call(`/v1/leads/${id}/events`, { type: "meeting_booked" }, bearer(keys.EVENTS_KEY))).json();
  assert.equal(booked.stage, "mql");
  assert.equal(booked.change.by, "rule");
  assert.equal(booked.score.total, 50);

  // Sales spoke to her.
  const noReason = await fetch(`${collector.base}/v1/admin/leads/${id}/stage`, { method: "POST", headers: { authorization: `Bearer ${secrets.ADMIN_TOKEN}` }, body: JSON.stringify({ stage: "sql" }) });
  assert.equal(noReason.status, 422);
  assert.ok((await noReason.json()).error.fields.reason);
  const sql = await admin(collector, `/v1/admin/leads/${id}/stage`, { method: "POST", body: JSON.stringify({ stage: "sql", reason: "call on 30 Nov: budget 20k, decides in Q1" }) });
  assert.equal(sql.stage, "sql");

  // The CRM reports the offer, signed per Standard Webhooks; a replay changes nothing; a forgery is refused.
  const offer = { lead: id, stage: "opportunity", reason: "offer 2026-117 sent" };
  const first = await signedFeedback(offer, "msg_offer_1");
  assert.equal(first.status, 200);
  assert.deepEqual(await first.json(), { applied: 1, unchanged: 0, unknown: 0 });
  const replay = await signedFeedback(offer, "msg_offer_1");
  assert.deepEqual(await replay.json(), { applied: 1, unchanged: 0, unknown: 0 }, "the same answer again");
  const forged = await call("/v1/feedback/crm", JSON.stringify(offer), { "webhook-id": "msg_x", "webhook-timestamp": String(Math.floor(Date.now() / 1000)), "webhook-signature": "v1,AAAA" });
  assert.equal(forged.status, 401);
  const stranger = await signedFeedback({ lead: "nobody@example.com", stage: "customer" });
  assert.equal(stranger.status, 202, "unknown leads are answered 202");

  // HubSpot's contact 77 is her: its lifecycle stage became customer.
  contacts.set("77", "grace@example.com");
  const won = await hubspot([{ eventId: 1, subscriptionType: "contact.propertyChange", objectId: 77, propertyName: "lifecyclestage", propertyValue: "customer", occurredAt: Date.now() }]);
  assert.equal(won.status, 200);
  assert.deepEqual(await won.json(), { applied: 1, unchanged: 0, unknown: 0 });
  assert.ok(apiCalls.some((c) => c.path === "/hubspot/crm/v3/objects/contacts/77" && c.auth === `Bearer ${keys.HUBSPOT_TOKEN}`));
  const stale = JSON.stringify([]);
  const oldTs = String(Date.now() - 10 * 60_000);
  const staleSig = createHmac("sha256", keys.HUBSPOT_CLIENT_SECRET).update("POST" + `${collector.base}/v1/feedback/hubspot` + stale + oldTs).digest("base64");
  assert.equal((await call("/v1/feedback/hubspot", stale, { "x-hubspot-signature-v3": staleSig, "x-hubspot-request-timestamp": oldTs })).status, 401, "outside the 5-minute window");

  const lead = await admin(collector, `/v1/admin/leads/${id}`);
  assert.deepEqual(lead.history.map((c) => [c.to, c.by]), [["lead", "rule"], ["mql", "rule"], ["sql", "admin"], ["opportunity", "crm"], ["customer", "hubspot"]]);
  const changes = await eventually(() => (stageChanges(id).length >= 4 ? stageChanges(id) : null), 10_000, "four lead.stage_changed");
  assert.ok(changes.every((d) => d.verified), "each verified with the official library");
  assert.deepEqual(changes.map((d) => d.payload.data.change.to).sort(), ["customer", "mql", "opportunity", "sql"]);
  assert.equal(changes.find((d) => d.payload.data.change.to === "sql").payload.data.change.reason, "call on 30 Nov: budget 20k, decides in Q1");
  const customers = await admin(collector, "/v1/admin/leads?stage=customer");
  assert.deepEqual(customers.leads.map((l) => l.id), [id]);
});

test("a lost Pipedrive deal disqualifies its person's lead, with Pipedrive's reason; wrong credentials are refused", async () => {
  const r = await postLead(collector, { form: "guide", fields: { email: "linus@example.com", company: "Kernel AG" } });
  const id = (await r.json()).id;
  contacts.set("7", "linus@example.com");
  const hook = (action, status, before) => JSON.stringify({ meta: { action, object: "deal", id: 991 }, current: { id: 991, status, person_id: { value: 7 }, lost_reason: "went with a competitor" }, previous: { status: before } });
  const auth = (pair) => ({ authorization: "Basic " + Buffer.from(pair).toString("base64") });
  assert.equal((await call("/v1/feedback/pipedrive", hook("updated", "lost", "open"), auth("leadgate:guess"))).status, 401);
  const added = await call("/v1/feedback/pipedrive", hook("added", "open", null), auth(keys.PIPEDRIVE_AUTH));
  assert.deepEqual(await added.json(), { applied: 1, unchanged: 0, unknown: 0 });
  const lost = await call("/v1/feedback/pipedrive", hook("updated", "lost", "open"), auth(keys.PIPEDRIVE_AUTH));
  assert.equal(lost.status, 200);
  const lead = await admin(collector, `/v1/admin/leads/${id}`);
  assert.equal(lead.stage, "disqualified");
  assert.equal(lead.history.at(-1).reason, "Pipedrive deal lost: went with a competitor");
  assert.equal(lead.history.at(-1).by, "pipedrive");
  assert.ok(apiCalls.some((c) => c.path === "/pipedrive/v1/persons/7" && c.token === keys.PIPEDRIVE_TOKEN), "the token goes in the x-api-token header");
  assert.deepEqual(apiCalls.filter((c) => c.leaked), [], "no CRM call carried a token in its URL");
  const changes = await eventually(() => (stageChanges(id).length >= 2 ? stageChanges(id) : null), 10_000, "two lead.stage_changed");
  assert.ok(changes.every((d) => d.verified));
});

test("unauthenticated calls learn nothing: unknown and known feedback endpoints answer alike, and each 401 names what its route takes", async () => {
  const body = JSON.stringify({ type: "lead.won", lead: { email: "nobody@example.com" } });
  const known = await call("/v1/feedback/crm", body, { "webhook-id": "msg_x", "webhook-timestamp": "1", "webhook-signature": "v1,AAAA" });
  const unknown = await call("/v1/feedback/no-such-endpoint", body, { "webhook-id": "msg_x", "webhook-timestamp": "1", "webhook-signature": "v1,AAAA" });
  assert.equal(known.status, 401);
  assert.equal(unknown.status, 401);
  const [k, u] = [await known.json(), await unknown.json()];
  assert.deepEqual(u, k, "the same body for an endpoint that exists and one that does not");
  assert.match(k.error.message, /signature/);
  assert.doesNotMatch(k.error.message, /admin/);
  const unsigned = await call("/v1/feedback/no-such-endpoint", body, {});
  assert.equal(unsigned.status, 401);
  const events = await call("/v1/leads/ld_0000000000aaaaaaaaaaaaaaaa/events", { type: "webinar_attended" }, {});
  assert.equal(events.status, 401);
  assert.match((await events.json()).error.message, /integration/);
  const adminRoute = await fetch(`${collector.base}/v1/admin/leads`);
  assert.equal(adminRoute.status, 401);
  assert.match((await adminRoute.json()).error.message, /admin token/);
});

test("leads submitted at once get owners in turns across three owners; a person reassigns one", async () => {
  const answers = await Promise.all(
    Array.from({ length: 9 }, (_, i) => postLead(collector, { form: "guide", fields: { email: `turn${i}@example.com`, company: "Turn GmbH" } }).then((r) => r.json())),
  );
  const ids = new Set(answers.map((a) => a.id));
  const leads = (await admin(collector, "/v1/admin/leads?form=guide&limit=100")).leads.filter((l) => ids.has(l.id));
  assert.equal(leads.length, 9);
  const counts = {};
  for (const l of leads) counts[l.owner] = (counts[l.owner] || 0) + 1;
  assert.deepEqual(counts, { anna: 3, ben: 3, cem: 3 }, "three turns each");
  const lead = leads[0];
  const other = lead.owner === "ben" ? "cem" : "ben";
  const bad = await fetch(`${collector.base}/v1/admin/leads/${lead.id}/owner`, { method: "POST", headers: { authorization: `Bearer ${secrets.ADMIN_TOKEN}` }, body: JSON.stringify({ owner: "zoe" }) });
  assert.equal(bad.status, 422);
  assert.ok((await bad.json()).error.fields.owner);
  const moved = await admin(collector, `/v1/admin/leads/${lead.id}/owner`, { method: "POST", body: JSON.stringify({ owner: other, reason: "covers this region" }) });
  assert.deepEqual([moved.owner, moved.changed, moved.assignment.from], [other, true, lead.owner]);
  const note = await eventually(() => receiver.deliveries.find((d) => d.payload?.type === "lead.assigned" && d.payload.data.id === lead.id), 10_000, "lead.assigned");
  assert.ok(note.verified);
  assert.equal(note.payload.data.owner, other);
  assert.equal(note.payload.data.owner_card.id, other);
  const mine = (await admin(collector, `/v1/admin/leads?owner=${other}&form=guide&limit=100`)).leads;
  assert.ok(mine.some((l) => l.id === lead.id) && mine.every((l) => l.owner === other));
});

test("the funnel counts what reached each stage, per form and per owner, through workerd", async () => {
  const bad = await fetch(`${collector.base}/v1/admin/funnel?by=weather`, { headers: { authorization: `Bearer ${secrets.ADMIN_TOKEN}` } });
  assert.equal(bad.status, 400);
  const { groups } = await admin(collector, "/v1/admin/funnel?by=form");
  assert.equal(groups.length, 1);
  const guide = groups[0];
  const stage = (name) => guide.stages.find((s) => s.stage === name);
  // Grace went to customer, Linus to opportunity and then out, nine more are leads.
  assert.equal(guide.leads, 11);
  assert.deepEqual(["lead", "mql", "sql", "opportunity", "customer"].map((s) => stage(s).reached), [11, 2, 2, 2, 1]);
  assert.deepEqual([stage("lead").now, stage("customer").now, guide.disqualified], [9, 1, 1]);
  assert.ok(Math.abs(stage("mql").conversion - 2 / 11) < 1e-9, "2 of 11 (JSON numbers, to within rounding)");
  assert.ok(stage("customer").median_days >= 0, "days between opportunity and customer");
  const byOwner = (await admin(collector, "/v1/admin/funnel?by=owner&form=guide")).groups;
  assert.equal(byOwner.reduce((n, g) => n + g.leads, 0), 11);
  const future = (await admin(collector, "/v1/admin/funnel?from=2099-01-01")).groups;
  assert.deepEqual(future, [], "a period without leads has no groups");
});
