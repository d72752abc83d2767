//! End-to-end: the data subject's rights through the admin API — access (Art. 15), portability (Art. 20),
// erasure (Art. 17) including every stored copy and a `lead.erased` webhook — and the formula-safe CSV.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { startReceiver } from "./receiver.mjs";
import { admin, adminLeads, eventually, secrets, startCollector } from "./support.mjs";

let crm, collector;

before(async () => {
  crm = await startReceiver({ secret: secrets.WEBHOOK_SECRET });
  collector = await startCollector(`
[[forms]]
id = "ebook"
kind = "download_gate"
mode = "b2b"
asset = { key = "ebook.pdf", filename = "ebook.pdf" }
fields = [{ name = "email", required = true }, { name = "company" }, { name = "first_name" }]

[[forms.consents]]
id = "marketing_email"
text.en = "Send me offers."
text.de = "Schickt mir Angebote."
version = 3

[[forms.webhooks]]
id = "crm"
url = "${crm.url}"
`);
});

after(async () => {
  await collector?.stop();
  await crm?.close();
});

const submit = (fields, consent = ["marketing_email"]) =>
  fetch(`${collector.base}/v1/leads`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ form: "ebook", fields, consent }) });

test("access, export, CSV and erasure of a lead, with the erasure passed on to the CRM", async () => {
  const r = await submit({ email: "erika@example.de", company: '=HYPERLINK("http://evil.example","click")', first_name: "Erika" });
  assert.equal(r.status, 201);
  const { id } = await r.json();
  await eventually(() => crm.deliveries.some((d) => d.payload?.data?.id === id && d.status === 204), 10_000, "lead.created delivered");

  // Art. 15: everything stored, with the consent record's exact text, version and hash.
  const lead = await admin(collector, `/v1/admin/leads/${id}`);
  assert.equal(lead.fields.first_name, "Erika");
  const entry = lead.consent.entries[0];
  assert.deepEqual([entry.purpose, entry.granted, entry.version, entry.text], ["marketing_email", true, 3, "Send me offers."]);
  assert.match(entry.text_sha256, /^[0-9a-f]{64}$/);
  assert.ok(!JSON.stringify(lead).includes("127.0.0.1"), "no IP address is stored");

  // Art. 20: the same as a downloadable file.
  const exp = await fetch(`${collector.base}/v1/admin/leads/${id}/export`, { headers: { authorization: `Bearer ${secrets.ADMIN_TOKEN}` } });
  assert.equal(exp.status, 200);
  assert.match(exp.headers.get("content-disposition"), /attachment; filename="lead-ld_/);
  assert.deepEqual(await exp.json(), lead);

  // CSV: the formula in the company cell is neutralised.
  const csv = await (await fetch(`${collector.base}/v1/admin/leads.csv?form=ebook`, { headers: { authorization: `Bearer ${secrets.ADMIN_TOKEN}` } })).text();
  assert.ok(csv.includes(`"'=HYPERLINK(""http://evil.example"",""click"")"`), csv);
  assert.ok(!/(^|,)"=/m.test(csv), "no cell starts with a formula");

  // Filters.
  assert.equal((await admin(collector, "/v1/admin/leads?form=ebook&status=new")).leads.length, 1);
  assert.equal((await admin(collector, "/v1/admin/leads?form=other")).leads.length, 0);

  // Art. 17: erase, everywhere.
  const del = await fetch(`${collector.base}/v1/admin/leads/${id}`, { method: "DELETE", headers: { authorization: `Bearer ${secrets.ADMIN_TOKEN}` } });
  assert.equal(del.status, 200);
  assert.equal((await del.json()).deliveries_deleted, 1, "the stored lead.created payload is erased too");
  assert.equal((await fetch(`${collector.base}/v1/admin/leads/${id}`, { headers: { authorization: `Bearer ${secrets.ADMIN_TOKEN}` } })).status, 404);
  assert.equal((await adminLeads(collector)).length, 0);
  const erased = await eventually(() => crm.deliveries.find((d) => d.payload?.type === "lead.erased"), 10_000, "lead.erased");
  assert.equal(erased.verified, true);
  assert.deepEqual(Object.keys(erased.payload.data).sort(), ["erased_at", "form", "id"]);
  assert.equal(erased.payload.data.id, id);
  assert.ok(!erased.body.includes("erika"), "the erasure notice carries no personal data");
  const left = (await admin(collector, `/v1/admin/deliveries?lead=${id}`)).deliveries;
  assert.deepEqual(left.map((d) => d.event), ["lead.erased"]);

  // The email index went too: the same person signing up again is a new lead, not an update.
  const again = await submit({ email: "erika@example.de" });
  assert.equal(again.status, 201);
  assert.notEqual((await again.json()).id, id);
});

test("the rights endpoints need the admin token", async () => {
  for (const [method, p] of [["GET", "/v1/admin/leads/ld_01M855PNX1DCDSGNT0QF0VHDRK"], ["GET", "/v1/admin/leads.csv"], ["DELETE", "/v1/admin/leads/ld_01M855PNX1DCDSGNT0QF0VHDRK"], ["GET", "/v1/admin/deliveries"]]) {
    const r = await fetch(`${collector.base}${p}`, { method });
    assert.equal(r.status, 401, `${method} ${p}`);
    assert.equal((await r.json()).error.code, "unauthorized");
  }
  assert.equal((await fetch(`${collector.base}/v1/admin/leads/not-an-id`, { headers: { authorization: `Bearer ${secrets.ADMIN_TOKEN}` } })).status, 404);
});

test("the 201 carries a signed consent receipt that the verify endpoint recognises, and nothing else passes", async () => {
  const r = await submit({ email: "quittung@example.de" });
  assert.equal(r.status, 201);
  const { id, receipt } = await r.json();
  assert.match(receipt, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
  const verify = (value) => fetch(`${collector.base}/v1/consent/verify?receipt=${encodeURIComponent(value)}`);

  const ok = await verify(receipt);
  assert.equal(ok.status, 200);
  const body = await ok.json();
  assert.equal(body.genuine, true);
  const lead = await admin(collector, `/v1/admin/leads/${id}`);
  const entry = lead.consent.entries[0];
  assert.deepEqual(body.receipt, {
    v: 1,
    lead: id,
    form: "ebook",
    recorded_at: lead.consent.recorded_at,
    granted: [{ purpose: "marketing_email", version: 3, text_sha256: entry.text_sha256 }],
    refused: [],
  });

  // The same content claiming a refused purpose was granted, or signed by someone else, is not genuine.
  const [payload, signature] = receipt.split(".");
  const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
  claims.recorded_at = "2020-01-01T00:00:00.000Z";
  const forged = Buffer.from(JSON.stringify(claims)).toString("base64url") + "." + signature;
  assert.deepEqual(await (await verify(forged)).json(), { genuine: false });

  // Not a receipt at all: a 400 with the error shape.
  const junk = await verify("hello");
  assert.equal(junk.status, 400);
  assert.equal((await junk.json()).error.code, "malformed_body");
  const missing = await fetch(`${collector.base}/v1/consent/verify`);
  assert.equal(missing.status, 400);
});
