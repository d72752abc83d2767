//! A real webhook receiver on 127.0.0.1 for the tests and for `cargo xtask dev`.
//
// Every delivery is verified with the official Standard Webhooks library (npm `standardwebhooks`), not with
// Leadgate's own signing code, so a bug there cannot hide itself. Tests can tell the receiver to fail.
import http from "node:http";
import { Webhook } from "standardwebhooks";

/**
 * Starts a receiver. `secret` is the `whsec_` signing secret. Returns
 * `{ port, url, deliveries, setMode(mode), close() }`, where each delivery is
 * `{ id, timestamp, signature, body, payload, verified, error, at, status }` (`status`: what it answered) and `mode` is
 * `{ status, headers, delayMs }` for the next answers (default 204).
 */
export async function startReceiver({ port = 0, secret, log = false } = {}) {
  const verifier = new Webhook(secret);
  const deliveries = [];
  let mode = { status: 204 };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
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
        delivery.verified = true;
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
    deliveries,
    setMode(m) {
      mode = m;
    },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
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
