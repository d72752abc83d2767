//! End-to-end: the double opt-in mail through each mail provider's API shape. For Resend, Postmark, SendGrid
// and Brevo a local server shaped like that provider's API checks the path, the authentication header and
// the body as the provider would (answering 401 or 400/422 like it when they are wrong) and records the
// mail; a collector configured for the provider sends a real sign-up's confirmation mail to it, and the
// link in it is the collector's. A provider that refuses a mail for good (422) leaves the delivery dead at
// once, visible in the admin API, instead of retrying it for a day. Cloudflare's Email Service is reached
// through the Worker's `send_email` binding, which wrangler's local runtime simulates: it writes each mail's
// parts to files and logs their paths, which the test reads.
import { after, test } from "node:test";
import { readFileSync } from "node:fs";
import assert from "node:assert/strict";
import http from "node:http";
import { admin, eventually, postLead, startCollector } from "./support.mjs";

const KEY = "provider-test-key-0123456789";

/** Each provider: its path, how it authenticates, how it answers, and the mail read back from its body
 * (`null` when the body is not what the provider takes). */
const PROVIDERS = {
  resend: {
    path: "/emails",
    authorized: (h) => h.authorization === `Bearer ${KEY}`,
    ok: [200, { id: "re_1" }],
    read: (b) => Array.isArray(b.to) && typeof b.html === "string" && { from: b.from, to: b.to[0], subject: b.subject, text: b.text },
  },
  postmark: {
    path: "/email",
    authorized: (h) => h["x-postmark-server-token"] === KEY && h.accept === "application/json",
    ok: [200, { To: "x", SubmittedAt: "now", MessageID: "pm-1", ErrorCode: 0, Message: "OK" }],
    read: (b) => b.MessageStream === "outbound" && typeof b.HtmlBody === "string" && { from: b.From, to: b.To, subject: b.Subject, text: b.TextBody },
  },
  sendgrid: {
    path: "/v3/mail/send",
    authorized: (h) => h.authorization === `Bearer ${KEY}`,
    ok: [202, null],
    read: (b) =>
      b.personalizations?.[0]?.to?.[0]?.email &&
      b.content?.length === 2 && {
        from: `${b.from.name} <${b.from.email}>`,
        to: b.personalizations[0].to[0].email,
        subject: b.subject,
        text: b.content.find((c) => c.type === "text/plain").value,
      },
  },
  brevo: {
    path: "/v3/smtp/email",
    authorized: (h) => h["api-key"] === KEY,
    ok: [201, { messageId: "<1@brevo>" }],
    read: (b) => b.sender?.email && typeof b.htmlContent === "string" && { from: `${b.sender.name} <${b.sender.email}>`, to: b.to[0].email, subject: b.subject, text: b.textContent },
  },
};

/** A server shaped like `name`'s API; `refuse` makes it answer every mail with 422 as a provider does for
 * an unverified sender. */
async function fakeProvider(name, { refuse = false } = {}) {
  const shape = PROVIDERS[name];
  const mails = [];
  const requests = [];
  const server = http.createServer((req, res) => {
    let raw = "";
    req.on("data", (c) => (raw += c));
    req.on("end", () => {
      requests.push({ path: req.url, headers: req.headers });
      const answer = (status, body) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(body === null ? "" : JSON.stringify(body));
      };
      if (req.method !== "POST" || req.url !== shape.path) return answer(404, { message: "no such endpoint" });
      if (!shape.authorized(req.headers)) return answer(401, { message: "bad key" });
      let body;
      try {
        body = JSON.parse(raw);
      } catch {
        return answer(400, { message: "not JSON" });
      }
      const mail = shape.read(body);
      if (!mail) return answer(400, { message: "not this provider's shape" });
      if (refuse) return answer(422, { message: "the sender's domain is not verified" });
      mails.push({ ...mail, headers: req.headers });
      answer(...shape.ok);
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${server.address().port}${shape.path}`, mails, requests, close: () => new Promise((r) => server.close(r)) };
}

const config = (provider, url) => `
[mail]
provider = "${provider}"
url = "${url}"
key = "PROVIDER_KEY"
from = "Beispiel GmbH <news@beispiel.example>"

[[forms]]
id = "news"
kind = "newsletter"
double_opt_in = true
title = { de = "Der Beispiel-Newsletter" }
fields = [{ name = "email", required = true }]
consents = [{ id = "marketing_email", required = true, text = { de = "Ja, schickt mir den Newsletter." } }]
`;

const running = [];

after(async () => {
  await Promise.all(running.map((r) => r.stop?.() ?? r.close?.()));
});

/** A collector that sends its mail through `provider` to `fake`. */
async function collectorFor(provider, fake) {
  const collector = await startCollector(config(provider, fake.url), { env: { PROVIDER_KEY: KEY } });
  running.push(collector, fake);
  return collector;
}

test("each provider's API gets the confirmation mail in its own shape, with its own authentication", async () => {
  // One after another: collectors started at the same moment compete for wrangler's sockets.
  for (const provider of Object.keys(PROVIDERS)) {
    const fake = await fakeProvider(provider);
    const collector = await collectorFor(provider, fake);
    const email = `erika.${provider}@beispiel.de`;
    const r = await postLead(collector, { form: "news", fields: { email }, consent: ["marketing_email"], meta: { lang: "de" } });
    assert.ok(r.ok, `${provider}: stored (${r.status})`);
    assert.equal((await r.json()).status, "pending", `${provider}: the lead waits for its confirmation`);
    const mail = await eventually(() => fake.mails.find((m) => m.to === email), 15_000, `${provider}'s mail`);
    assert.equal(mail.from, "Beispiel GmbH <news@beispiel.example>", provider);
    assert.equal(mail.subject, "Bitte bestätigen Sie Ihre E-Mail-Adresse", provider);
    assert.match(mail.text, new RegExp(`${collector.base.replace(/[.:/]/g, "\\$&")}/v1/confirm/`), `${provider}: the confirm link is the collector's`);
    if (provider === "resend") assert.match(mail.headers["idempotency-key"], /\S+/, "Resend gets the delivery id as its idempotency key");
    const { deliveries } = await admin(collector, "/v1/admin/deliveries?status=delivered&limit=10");
    assert.ok(deliveries.some((d) => d.endpoint === "_mail"), `${provider}: the mail's delivery is delivered`);
    await collector.stop();
  }
});

test("a mail the provider refuses for good is dead at once and visible in the admin API", async () => {
  const fake = await fakeProvider("postmark", { refuse: true });
  const collector = await collectorFor("postmark", fake);
  const r = await postLead(collector, { form: "news", fields: { email: "refused@beispiel.de" }, consent: ["marketing_email"], meta: { lang: "de" } });
  assert.ok(r.ok, `stored (${r.status})`);
  const dead = await eventually(async () => {
    const { deliveries } = await admin(collector, "/v1/admin/deliveries?status=dead&limit=10");
    return deliveries.find((d) => d.endpoint === "_mail");
  }, 15_000, "the dead mail");
  assert.equal(dead.attempts, 1, "not retried: a 422 will not change");
  assert.equal(dead.last_status, 422);
  assert.match(dead.last_error, /refused the mail for good/);
  assert.equal(fake.requests.length, 1);
});

test("Cloudflare's Email Service gets the mail through the Worker's send_email binding", async () => {
  const collector = await startCollector(`
[mail]
provider = "cloudflare"
from = "Beispiel GmbH <news@beispiel.example>"

[[forms]]
id = "news"
kind = "newsletter"
double_opt_in = true
title = { en = "The Beispiel newsletter" }
fields = [{ name = "email", required = true }]
consents = [{ id = "marketing_email", required = true, text = { en = "Yes, send me the newsletter." } }]
`);
  running.push(collector);
  const r = await postLead(collector, { form: "news", fields: { email: "ada@beispiel.de" }, consent: ["marketing_email"], meta: { lang: "en" } });
  assert.ok(r.ok, `stored (${r.status})`);
  // The local runtime's record of the binding's call: the builder (from, to, subject) and its text part's file.
  const logged = await eventually(() => {
    const out = collector.output.join("").replace(/\x1b\[[0-9;]*m/g, "");
    const at = out.indexOf("send_email binding called with MessageBuilder:");
    const text = at >= 0 && /Text: (\S+)/.exec(out.slice(at));
    return text && { call: out.slice(at, at + 2000), text: text[1] };
  }, 15_000, "the binding's call in the runtime's log");
  assert.match(logged.call, /ada@beispiel\.de/);
  assert.match(logged.call, /news@beispiel\.example/);
  assert.match(logged.call, /Please confirm your email address/);
  const body = readFileSync(logged.text, "utf8");
  assert.match(body, new RegExp(`${collector.base.replace(/[.:/]/g, "\\$&")}/v1/confirm/`), "the confirm link is the collector's");
  const { deliveries } = await admin(collector, "/v1/admin/deliveries?status=delivered&limit=10");
  assert.ok(deliveries.some((d) => d.endpoint === "_mail"), "the mail's delivery is delivered");
});
