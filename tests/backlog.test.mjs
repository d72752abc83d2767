//! End-to-end: a backlog does not keep a person waiting. Right after 10,000 leads are imported into a form
// with a webhook (10,000 `lead.created` deliveries due at once), a visitor signs up on a double opt-in form
// and is told to look in their inbox: the confirmation mail goes out in the outbox's urgent lane, before the
// backlog, which meanwhile drains at its pace. Before the lanes, the mail waited 23-58 s behind the import.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { startReceiver } from "./receiver.mjs";
import { admin, eventually, postLead, secrets, startCollector } from "./support.mjs";

let receiver, collector;

before(async () => {
  receiver = await startReceiver({ secret: secrets.WEBHOOK_SECRET });
  collector = await startCollector(`
[mail]
url = "${receiver.mailbox}"
from = "Beispiel GmbH <news@beispiel.example>"

[[forms]]
id = "news"
kind = "newsletter"
double_opt_in = true
fields = [{ name = "email", required = true }]
consents = [{ id = "marketing_email", required = true, text = { de = "Ja, schickt mir den Newsletter.", en = "Yes, send me the newsletter." } }]

[[forms]]
id = "fair"
kind = "newsletter"
fields = [{ name = "email", required = true }, { name = "company" }]

[[forms.webhooks]]
id = "crm"
url = "${receiver.url}"
`);
});

after(async () => {
  await collector?.stop();
  await receiver?.close();
});

test("a sign-up's confirmation mail goes out within seconds while 10,000 deliveries of an import wait", async (t) => {
  for (let batch = 0; batch < 10; batch++) {
    const rows = ["email,company"].concat(Array.from({ length: 1000 }, (_, i) => `fair${batch}-${i}@messe.example,Firma ${i}`)).join("\n");
    const q = new URLSearchParams({ form: "fair", batch: `fair-${batch}`, source: "Messe", basis: "none" });
    const r = await fetch(`${collector.base}/v1/admin/import?${q}`, {
      method: "POST",
      headers: { authorization: `Bearer ${secrets.ADMIN_TOKEN}`, "content-type": "text/csv" },
      body: rows,
    });
    const body = await r.text();
    assert.equal(r.status, 200, body);
    assert.equal(JSON.parse(body).created, 1000);
  }
  const delivered = () => receiver.deliveries.filter((d) => d.status === 204).length;
  const waiting = await admin(collector, "/v1/admin/deliveries?status=pending&limit=100");
  assert.equal(waiting.deliveries.length, 100, "the import left a backlog");
  assert.ok(delivered() < 9_000, `the backlog is still there (${delivered()} delivered)`);

  const signedUp = Date.now();
  const r = await postLead(collector, { form: "news", fields: { email: "erika.eilig@beispiel.de" }, consent: ["marketing_email"] });
  assert.equal(r.status, 201, await r.text());
  const mail = await eventually(() => receiver.mails.find((m) => m.to === "erika.eilig@beispiel.de"), 30_000, "the confirmation mail");
  const seconds = (Date.parse(mail.received_at) - signedUp) / 1000;
  t.diagnostic(`mail after ${seconds.toFixed(2)} s, with ${10_000 - delivered()} of the import's deliveries still waiting`);
  // The bar is 5 s (`cargo xtask bench` measures it); the test leaves room for a loaded 2-core machine
  // running the other suites side by side, and still fails for the 23-58 s of a mail behind the backlog.
  assert.ok(seconds < 12, `the mail arrived after ${seconds.toFixed(1)} s`);
  assert.ok(delivered() < 10_000, "the backlog was still draining when the mail went out");

  // The backlog drains at its pace, and keeps going: more has been delivered a few seconds later.
  const before = delivered();
  await eventually(() => delivered() > before + 50, 20_000, "the backlog to keep draining");
});
