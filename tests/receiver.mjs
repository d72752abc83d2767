//! A real webhook receiver and a local mailbox on 127.0.0.1, for the tests and for `cargo xtask dev`.
//
// The mailbox stands in for an HTTP mail API: the collector POSTs `{from, to, subject, text, html}` with a
// bearer key to `/dev/mailbox`, and `GET /dev/mailbox` shows the mails with clickable links (the JSON
// list is at `/dev/mailbox.json`). Every webhook delivery is verified with the official Standard Webhooks library (npm `standardwebhooks`), not with
// Leadgate's own signing code, so a bug there cannot hide itself, and checked against its event type's JSON
// Schema in edge/openapi.json. Tests can tell the receiver to fail.
import http from "node:http";
import { readFileSync } from "node:fs";
import { Webhook } from "standardwebhooks";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

// Every payload is also checked against the JSON Schema of its event type in the collector's published
// OpenAPI description (edge/openapi.json, `webhooks`): what integrators build against must be what they get.
const openapi = JSON.parse(readFileSync(new URL("../edge/openapi.json", import.meta.url), "utf8"));
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema({ ...openapi, $id: "openapi" });
const schemas = new Map(Object.keys(openapi.webhooks).map((type) => [type, ajv.getSchema(`openapi#/components/schemas/Event.${type}`)]));

/** Whether `payload` is what the description promises for its type; the violations otherwise. */
export function conforms(payload) {
  const validate = schemas.get(payload?.type);
  if (!validate) return { ok: false, errors: `no schema for event type ${payload?.type}` };
  return validate(payload) ? { ok: true } : { ok: false, errors: ajv.errorsText(validate.errors) };
}

/**
 * Starts a receiver. `secret` is the `whsec_` signing secret. Returns
 * `{ port, url, deliveries, setMode(mode), close() }`, where each delivery is
 * `{ id, timestamp, signature, body, payload, verified, error, at, status }` (`status`: what it answered) and `mode` is
 * `{ status, headers, delayMs }` for the next answers (default 204).
 */
export async function startReceiver({ port = 0, secret, log = false } = {}) {
  const verifier = new Webhook(secret);
  const deliveries = [];
  const mails = [];
  let mode = { status: 204 };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const path = new URL(req.url, "http://x").pathname;
      if (path.startsWith("/dev/mailbox")) return mailbox(req, res, path, body, mails, log);
      const delivery = {
        id: req.headers["webhook-id"],
        timestamp: req.headers["webhook-timestamp"],
        signature: req.headers["webhook-signature"],
        body,
        payload: null,
        verified: false,
        error: null,
        at: Date.now(),
      };
      try {
        delivery.payload = verifier.verify(body, req.headers);
        // Verified means: signed as Standard Webhooks says, and shaped as the published schema says.
        const shape = conforms(delivery.payload);
        delivery.verified = shape.ok;
        if (!shape.ok) delivery.error = `payload does not match its schema: ${shape.errors}`;
      } catch (e) {
        delivery.error = String(e && e.message ? e.message : e);
      }
      deliveries.push(delivery);
      if (log) {
        const p = delivery.payload || {};
        console.log(
          `[receiver] ${p.type || "?"} webhook-id=${delivery.id} signature=${delivery.verified ? "VERIFIED" : "INVALID (" + delivery.error + ")"}` +
            (p.data ? ` lead=${p.data.id} form=${p.data.form} score=${p.data.score && p.data.score.total} stage=${p.data.score && p.data.score.stage}` : "")
        );
      }
      delivery.status = mode.status;
      const answer = () => {
        res.writeHead(mode.status, mode.headers || {});
        res.end();
      };
      if (mode.delayMs) setTimeout(answer, mode.delayMs);
      else answer();
    });
  });
  server.listen({ port, host: "127.0.0.1", backlog: 512 });
  await new Promise((resolve, reject) => {
    server.once("listening", resolve);
    server.once("error", reject);
  });
  const actual = server.address().port;
  return {
    port: actual,
    url: `http://127.0.0.1:${actual}/webhook`,
    mailbox: `http://127.0.0.1:${actual}/dev/mailbox`,
    deliveries,
    mails,
    setMode(m) {
      mode = m;
    },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

/** The local mail API: accepts mails like a provider would (a bearer key is required) and shows them. */
function mailbox(req, res, path, body, mails, log) {
  if (req.method === "POST" && path === "/dev/mailbox") {
    if (!/^Bearer \S+/.test(req.headers.authorization || "")) return res.writeHead(401).end('{"error":"missing API key"}');
    let mail;
    try {
      mail = JSON.parse(body);
    } catch {
      return res.writeHead(400).end('{"error":"not JSON"}');
    }
    if (!mail.to || !mail.subject || !mail.html) return res.writeHead(422).end('{"error":"to, subject and html are required"}');
    mail.id = `mail_${mails.length + 1}`;
    mail.received_at = new Date().toISOString();
    mails.push(mail);
    if (log) console.log(`[mailbox] "${mail.subject}" for ${mail.to}: read it at http://127.0.0.1:${req.socket.localPort}/dev/mailbox`);
    return res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ id: mail.id }));
  }
  if (req.method === "GET" && path === "/dev/mailbox.json") {
    return res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(mails));
  }
  if (req.method === "GET" && path === "/dev/mailbox") {
    // The mail's HTML is shown as sent (it is the collector's own, escaped output): that is what a mail
    // client would show, links included.
    const items = [...mails]
      .reverse()
      .map((m) => `<article><h2>${esc(m.subject)}</h2><p class="meta">From ${esc(m.from)} to ${esc(m.to)}, ${esc(m.received_at)}</p>${m.html}</article>`)
      .join("");
    const page = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Local mailbox</title><link rel="icon" href="data:,">
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem}article{border:1px solid #c4c7c5;border-radius:8px;padding:1rem;margin:1rem 0}.meta{color:#474747;font-size:.9em}</style></head>
<body><h1>Local mailbox</h1><p>Mails the collector sent through its mail API during development (${mails.length}).</p>${items || "<p>No mail yet.</p>"}</body></html>`;
    return res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(page);
  }
  res.writeHead(405).end();
}

// Run as a program (by `cargo xtask dev`): print every delivery and whether its signature verifies.
if (import.meta.url === `file://${process.argv[1]}`) {
  const i = process.argv.indexOf("--port");
  const port = i > 0 ? Number(process.argv[i + 1]) : 8789;
  const secret = process.env.WEBHOOK_SECRET;
  if (!secret) {
    console.error("receiver: set WEBHOOK_SECRET to the collector's whsec_ secret");
    process.exit(2);
  }
  const r = await startReceiver({ port, secret, log: true });
  console.log(`[receiver] listening on ${r.url}`);
}
