//! End-to-end: CRM adapters. One form delivers to a fake HubSpot, Salesforce and Pipedrive on 127.0.0.1,
// each answering like the real API; the test checks the requests each one received: the right URL,
// method, content type and the lead's data under the CRM's names, and for Pipedrive the three steps with
// the token in a header. An erasure is not sent to CRMs whose intake API cannot delete.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { admin, eventually, postLead, secrets, startCollector, tick } from "./support.mjs";

let fake, collector;
const received = [];

/** A stand-in for the three CRMs: records every request and answers as their APIs do. */
async function startFakeCrm() {
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url, "http://x");
      received.push({ method: req.method, path: url.pathname, query: url.searchParams, headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
      const json = (status, body) => res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
      // Like a careful API, refuse a request that carries a secret in its URL (proxies and access logs
      // keep URLs); the test below fails on any such request.
      if ([...url.searchParams.values()].some((v) => v === process.env.PIPEDRIVE_TOKEN || Object.values(secrets).includes(v)) || url.searchParams.has("api_token")) {
        return json(401, { error: "a token in the URL" });
      }
      if (url.pathname === "/pipedrive/v1/persons/search") return json(200, { success: true, data: { items: [] } });
      if (url.pathname === "/pipedrive/v1/persons") return json(201, { success: true, data: { id: 4711 } });
      if (url.pathname === "/pipedrive/v1/leads") return json(201, { success: true, data: { id: "lead-uuid" } });
      if (url.pathname.startsWith("/hubspot/")) return json(200, { inlineMessage: "Thanks" });
      if (url.pathname === "/salesforce") return res.writeHead(200, { "content-type": "text/html" }).end("<html></html>");
      res.writeHead(404).end();
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { base: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) };
}

before(async () => {
  fake = await startFakeCrm();
  process.env.PIPEDRIVE_TOKEN = "pd-test-token";
  collector = await startCollector(`
[[forms]]
id = "b2b"
kind = "download_gate"
mode = "b2b"
asset = { key = "guide.pdf", filename = "guide.pdf" }
fields = [
  { name = "email", required = true }, { name = "first_name" }, { name = "last_name" }, { name = "company" },
  { name = "team_size", type = "select", label = { en = "Team size" }, options = [{ value = "11-50", label = { en = "11-50" } }] },
]
consents = [{ id = "marketing_email", text = { en = "Email me about new guides." } }]

[[forms.webhooks]]
id = "hubspot"
adapter = "hubspot"
url = "${fake.base}/hubspot/submissions/v3/integration/submit/123/abc-guid"
map = { team_size = "company_size" }
subscriptions = { marketing_email = 1001 }

[[forms.webhooks]]
id = "salesforce"
adapter = "salesforce"
url = "${fake.base}/salesforce"
oid = "00D000000000001"

[[forms.webhooks]]
id = "pipedrive"
adapter = "pipedrive"
url = "${fake.base}/pipedrive"
token = "PIPEDRIVE_TOKEN"
`);
});

after(async () => {
  await collector?.stop();
  await fake?.close();
});

test("a lead reaches HubSpot, Salesforce and Pipedrive in their own formats; erasure goes only where it can", async () => {
  const r = await postLead(collector, {
    form: "b2b",
    fields: { email: "grace@example.com", first_name: "Grace", last_name: "Hopper", company: "Navy", team_size: "11-50" },
    consent: ["marketing_email"],
    meta: { page: "https://shop.example/guide" },
  });
  assert.equal(r.status, 201);
  const lead = await r.json();
  await eventually(() => received.some((q) => q.path === "/pipedrive/v1/leads") && received.length >= 5, 20_000, "all CRM requests");

  const hub = received.find((q) => q.path.startsWith("/hubspot/"));
  assert.equal(hub.method, "POST");
  assert.equal(hub.path, "/hubspot/submissions/v3/integration/submit/123/abc-guid");
  assert.match(hub.headers["content-type"], /^application\/json/);
  const sub = JSON.parse(hub.body);
  const byName = Object.fromEntries(sub.fields.map((f) => [f.name, f.value]));
  assert.deepEqual(byName, { email: "grace@example.com", firstname: "Grace", lastname: "Hopper", company: "Navy", company_size: "11-50", lifecyclestage: "lead" }, "our stage goes as HubSpot's lifecycle stage");
  assert.equal(sub.context.pageUri, "https://shop.example/guide");
  assert.deepEqual(sub.legalConsentOptions.consent.communications, [{ value: true, subscriptionTypeId: 1001, text: "Email me about new guides." }]);

  const sf = received.find((q) => q.path === "/salesforce");
  assert.match(sf.headers["content-type"], /^application\/x-www-form-urlencoded/);
  const form = new URLSearchParams(sf.body);
  assert.equal(form.get("oid"), "00D000000000001");
  assert.equal(form.get("email"), "grace@example.com");
  assert.equal(form.get("last_name"), "Hopper");
  assert.equal(form.get("lead_source"), "Leadgate: b2b");
  assert.equal(form.get("emailOptOut"), null, "marketing was granted");

  const steps = received.filter((q) => q.path.startsWith("/pipedrive/")).map((q) => `${q.method} ${q.path}`);
  assert.deepEqual(steps, ["GET /pipedrive/v1/persons/search", "POST /pipedrive/v1/persons", "POST /pipedrive/v1/leads"]);
  for (const q of received.filter((q) => q.path.startsWith("/pipedrive/"))) {
    assert.equal(q.headers["x-api-token"], "pd-test-token");
    assert.equal(q.query.get("api_token"), null, "the token is never in the URL");
  }
  assert.equal(received.find((q) => q.path === "/pipedrive/v1/persons/search").query.get("term"), "grace@example.com");
  assert.equal(JSON.parse(received.find((q) => q.path === "/pipedrive/v1/leads").body).person_id, 4711);
  for (const q of received) assert.equal(q.headers["webhook-signature"], undefined, "CRM APIs get no webhook signature");

  const delivered = await admin(collector, `/v1/admin/deliveries?lead=${lead.id}`);
  assert.deepEqual(delivered.deliveries.map((d) => [d.endpoint, d.status]).sort(), [["hubspot", "delivered"], ["pipedrive", "delivered"], ["salesforce", "delivered"]]);

  const before = received.length;
  const erased = await admin(collector, `/v1/admin/leads/${lead.id}`, { method: "DELETE" });
  assert.equal(erased.erased, true);
  assert.deepEqual(erased.erase_by_hand_in, ["hubspot", "salesforce", "pipedrive"], "the owner is told where to erase by hand");
  await tick(collector);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(received.length, before, "none of these intake APIs can delete, so nothing is sent");
});

test("no CRM call carries a secret in its URL", async () => {
  assert.ok(received.length > 0, "the CRMs were called");
  for (const q of received) {
    const values = [...q.query.values()];
    assert.ok(!values.includes(process.env.PIPEDRIVE_TOKEN) && !q.query.has("api_token"), `${q.method} ${q.path}`);
    assert.ok(!values.some((v) => Object.values(secrets).includes(v)), `${q.method} ${q.path}`);
  }
});
