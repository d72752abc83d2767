//! End-to-end: importing leads from other channels through workerd. A 1,000-row CSV with deliberate bad
// rows (invalid emails, duplicates, a formula in a cell, a known address) into a B2C form without
// documented consent; the report per row, the stored leads and their consent, the replay of the batch, a
// JSON-lines batch with documented consent, and refusals that name the parameter.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { startReceiver } from "./receiver.mjs";
import { admin, adminLeads, eventually, postLead, secrets, startCollector } from "./support.mjs";

let receiver, collector;

before(async () => {
  receiver = await startReceiver({ secret: secrets.WEBHOOK_SECRET });
  collector = await startCollector(`
[[forms]]
id = "news"
kind = "newsletter"
fields = [{ name = "email", required = true }, { name = "first_name" }, { name = "company" }]
consents = [{ id = "marketing_email", required = true, text = { en = "Send me the newsletter." } }]

[[forms.webhooks]]
id = "crm"
url = "${receiver.url}"
`);
});

after(async () => {
  await collector?.stop();
  await receiver?.close();
});

const importCall = (query, body, type = "text/csv") =>
  fetch(`${collector.base}/v1/admin/import?${new URLSearchParams(query)}`, {
    method: "POST",
    headers: { authorization: `Bearer ${secrets.ADMIN_TOKEN}`, "content-type": type },
    body,
  });

test("a 1,000-row CSV from a trade fair: a report per row, nothing overwritten, no consent invented", async () => {
  const known = await postLead(collector, { form: "news", fields: { email: "known@example.com", first_name: "Kim" }, consent: ["marketing_email"] });
  const knownId = (await known.json()).id;
  const lines = ["email,first_name,company,badge"];
  for (let i = 0; i < 1000; i++) {
    if (i % 100 === 7) lines.push(`broken-${i}-at-example.com,Broken,,B${i}`); // 10 invalid emails
    else if (i % 100 === 9) lines.push(`visitor${i - 1}@example.com,Again,Later GmbH,B${i}`); // 10 duplicates of the row before the bad one
    else if (i === 500) lines.push(`formula@example.com,Eve,"=HYPERLINK(""http://evil.example"")",B${i}`);
    else if (i === 501) lines.push(`known@example.com,Mallory,Kim's Kitchen,B${i}`);
    else lines.push(`visitor${i}@example.com,Visitor ${i},,B${i}`);
  }
  const body = lines.join("\r\n") + "\r\n";
  const started = performance.now();
  const r = await importCall({ form: "news", batch: "fair-2026", source: "Messe Hannover 2026", basis: "none" }, body);
  const seconds = (performance.now() - started) / 1000;
  assert.equal(r.status, 200);
  const report = await r.json();
  console.log(`import: 1,000 rows in ${seconds.toFixed(2)} s, ${(1000 / seconds).toFixed(0)} rows/s on local workerd`);
  assert.equal(report.rows.length, 1000);
  assert.deepEqual([report.created, report.merged, report.rejected], [979, 11, 10]);
  assert.deepEqual(report.ignored_columns, ["badge"]);
  const bad = report.rows.filter((row) => row.status === "rejected");
  assert.ok(bad.every((row) => row.errors.email === "invalid_email"), "each rejected row names its field and problem");
  assert.equal(report.rows[501].id, knownId, "a known address merges into its lead");

  const leads = await adminLeads(collector);
  assert.equal(leads.length, 1 + 979);
  const kim = leads.find((l) => l.id === knownId);
  assert.deepEqual([kim.fields.first_name, kim.fields.company], ["Kim", "Kim's Kitchen"], "empty fields filled, nothing overwritten");
  assert.equal(kim.consent.entries[0].granted, true, "the consent Kim gave on the form stays");
  const eve = leads.find((l) => l.fields.email === "formula@example.com");
  assert.equal(eve.fields.company, '=HYPERLINK("http://evil.example")');
  assert.equal(eve.consent.entries[0].granted, false, "no consent is invented for a B2C contact");
  assert.equal(eve.source.import.source, "Messe Hannover 2026");
  assert.equal(eve.stage, "subscriber");
  let csv = "";
  for (let cursor = null, first = true; first || cursor; first = false) {
    const page = await fetch(`${collector.base}/v1/admin/leads.csv?limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`, { headers: { authorization: `Bearer ${secrets.ADMIN_TOKEN}` } });
    csv += await page.text();
    cursor = page.headers.get("x-next-cursor");
  }
  assert.match(csv, /"'=HYPERLINK\(""http:\/\/evil\.example""\)"/, "the export neutralises the formula");

  // The same batch again: the same report, nothing new.
  const again = await (await importCall({ form: "news", batch: "fair-2026", source: "Messe Hannover 2026", basis: "none" }, body)).json();
  assert.deepEqual([again.created, again.merged, again.rejected], [979, 11, 10]);
  assert.equal((await adminLeads(collector)).length, 980);
  await eventually(() => receiver.deliveries.filter((d) => d.payload?.type === "lead.created").length >= 980, 60_000, "every new lead announced");
});

test("JSON lines with documented consent; refusals name the parameter", async () => {
  const body = '{"email":"signed@example.com","first_name":"Sig"}\n{"email":5}\n';
  const r = await importCall({ form: "news", batch: "paper-1", source: "Paper forms, Hamburg office", basis: "consent", proof: "folder 2026-11, Hamburg office" }, body, "application/x-ndjson");
  const report = await r.json();
  assert.deepEqual([report.created, report.rejected], [1, 1]);
  const lead = await admin(collector, `/v1/admin/leads/${report.rows[0].id}`);
  assert.equal(lead.consent.entries[0].granted, true);
  assert.match(lead.consent.entries[0].text, /proof kept at: folder 2026-11, Hamburg office/);

  const refused = async (query, name, type) => {
    const res = await importCall({ form: "news", batch: "x", source: "s", basis: "none", ...query }, "email\na@b.de\n", type);
    assert.equal(res.status, name === "type" ? 415 : 422, JSON.stringify(query));
    if (name !== "type") assert.ok((await res.json()).error.fields[name], name);
  };
  await refused({ basis: "legitimate_interest" }, "basis");
  await refused({ basis: "consent" }, "proof");
  await refused({ source: "" }, "source");
  await refused({}, "type", "application/pdf");
});
