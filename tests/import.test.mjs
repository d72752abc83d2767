//! End-to-end: importing leads from other channels through workerd. A 1,000-row CSV with deliberate bad
// rows (invalid emails, duplicates, a formula in a cell, a known address) into a B2C form without
// documented consent; the report per row, the stored leads and their consent, the replay of the batch, a
// JSON-lines batch with documented consent, and refusals that name the parameter; a batch id reused with
// another file; an import into a double opt-in form (pending, mailed, confirmed by the link); the funnel
// grouping imports by their batch's source.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { startReceiver } from "./receiver.mjs";
import { admin, adminLeads, eventually, postLead, secrets, startCollector } from "./support.mjs";

let receiver, collector;

before(async () => {
  receiver = await startReceiver({ secret: secrets.WEBHOOK_SECRET });
  collector = await startCollector(`
[mail]
url = "${receiver.mailbox}"
from = "Beispiel GmbH <news@beispiel.example>"

[[forms]]
id = "doi"
kind = "newsletter"
double_opt_in = true
fields = [{ name = "email", required = true }, { name = "company" }]
consents = [{ id = "marketing_email", required = true, text = { en = "Send me the newsletter." } }]

[[forms.webhooks]]
id = "crm"
url = "${receiver.url}"

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

test("a batch id reused with another file is refused with 409, and the second file's rows are not dropped silently", async () => {
  const query = { form: "news", batch: "reused-1", source: "Messe Köln", basis: "none" };
  const first = await importCall(query, "email\nfirst.file@example.com\n");
  assert.equal(first.status, 200);
  const firstReport = await first.json();
  const same = await importCall(query, "email\nfirst.file@example.com\n");
  assert.equal(same.status, 200);
  assert.deepEqual(await same.json(), firstReport, "the same file again: the first report");
  const other = await importCall(query, "email\nsecond.file@example.com\n");
  assert.equal(other.status, 409);
  const body = await other.json();
  assert.equal(body.error.code, "key_reused");
  assert.match(body.error.message, /batch/);
  const otherSource = await importCall({ ...query, source: "Messe Düsseldorf" }, "email\nfirst.file@example.com\n");
  assert.equal(otherSource.status, 409, "other parameters are another batch too");
  assert.ok(!(await adminLeads(collector)).some((l) => l.fields.email === "second.file@example.com"));
});

test("an import into a double opt-in form stores pending leads and mails them; the link confirms", async () => {
  const none = await importCall({ form: "doi", batch: "doi-none", source: "Bought list", basis: "none" }, "email\nbought@example.com\n");
  assert.equal(none.status, 422);
  assert.ok((await none.json()).error.fields.basis, "no basis: nothing to confirm");
  const r = await importCall({ form: "doi", batch: "doi-fair", source: "Messe Leipzig", basis: "consent", proof: "signed cards, box 7" }, "email,company\ncard1@example.com,Acme\ncard2@example.com,\n");
  assert.equal(r.status, 200);
  const report = await r.json();
  assert.equal(report.created, 2);
  for (const row of report.rows) assert.equal((await admin(collector, `/v1/admin/leads/${row.id}`)).status, "pending");
  const mail = await eventually(() => receiver.mails.find((m) => m.to === "card1@example.com"), 10_000, "the confirmation mail");
  const confirm = mail.text.match(/http:\/\/[^\s]+\/v1\/confirm\/[^\s]+/)[0];
  assert.equal((await fetch(confirm, { method: "POST" })).status, 200);
  assert.equal((await admin(collector, `/v1/admin/leads/${report.rows[0].id}`)).status, "confirmed");
  await eventually(() => receiver.deliveries.find((d) => d.payload?.type === "lead.confirmed" && d.payload.data.id === report.rows[0].id), 10_000, "lead.confirmed");
  assert.ok(!receiver.deliveries.some((d) => d.payload?.type === "lead.created" && d.payload.data.fields.email?.startsWith("card")), "no lead.created for a pending import");
  // With proof of a confirmed opt-in: stored confirmed, recorded as such, announced, no mail.
  const proven = await importCall(
    { form: "doi", batch: "doi-proven", source: "Old newsletter tool", basis: "consent", proof: "DOI log export 2026-11", opt_in: "confirmed" },
    "email\nproven@example.com\n",
  );
  const provenLead = await admin(collector, `/v1/admin/leads/${(await proven.json()).rows[0].id}`);
  assert.equal(provenLead.status, "confirmed");
  assert.match(provenLead.consent.entries[0].text, /confirmed by double opt-in outside this form/);
  assert.ok(!receiver.mails.some((m) => m.to === "proven@example.com"));
});

test("the funnel groups imported leads under their batch's source", async () => {
  const funnel = await admin(collector, "/v1/admin/funnel?by=source&form=news");
  const keys = funnel.groups.map((g) => g.key);
  assert.ok(keys.includes("Messe Hannover 2026"), keys.join());
  assert.equal(funnel.groups.find((g) => g.key === "Messe Hannover 2026").leads, 979);
});
