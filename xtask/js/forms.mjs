//! `cargo xtask forms pull|push`, the HTTP half: moves form definitions between a file (as JSON, which the
// Rust half reads from and writes to the TOML config file) and a running collector's catalog through its
// admin API. Node's fetch speaks HTTPS to a deployed collector and HTTP to a local one.
//
//   node forms.mjs pull <collector> <out.json>              every form's published definition (or draft)
//   node forms.mjs push <collector> <in.json> [--publish]   saves each as a draft, and publishes it
// The admin token comes from ADMIN_TOKEN.
import { readFileSync, writeFileSync } from "node:fs";

const [what, base, file, ...flags] = process.argv.slice(2);
const token = process.env.ADMIN_TOKEN;
if (!token) throw new Error("set ADMIN_TOKEN to the collector's admin token");

async function call(path, init = {}) {
  const r = await fetch(`${base.replace(/\/$/, "")}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" } });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) {
    const fields = Object.entries(body.error?.fields || {}).map(([at, ps]) => `\n  ${at}: ${ps.map((p) => p.message).join("; ")}`).join("");
    throw Object.assign(new Error(`${init.method || "GET"} ${path}: ${r.status} ${body.error?.message || ""}${fields}`), { status: r.status });
  }
  return body;
}

if (what === "pull") {
  const { forms } = await call("/v1/admin/catalog");
  const out = [];
  for (const f of forms.filter((f) => !f.archived)) {
    const detail = await call(`/v1/admin/catalog/${encodeURIComponent(f.id)}`);
    // What pages get; a form never published is pulled as its draft.
    const def = f.published ? (await call(`/v1/admin/catalog/${encodeURIComponent(f.id)}/versions/${f.published}`)).def : detail.draft;
    delete def.version;
    out.push(def);
    console.log(`${f.id}: ${f.published ? `version ${f.published}` : "draft (never published)"}${f.managed === "file" ? ", managed by the file" : ""}`);
  }
  writeFileSync(file, JSON.stringify(out));
} else if (what === "push") {
  const publish = flags.includes("--publish");
  let failed = 0;
  for (const def of JSON.parse(readFileSync(file, "utf8"))) {
    try {
      const saved = await call(`/v1/admin/catalog/${encodeURIComponent(def.id)}`, { method: "PUT", body: JSON.stringify(def) });
      if (!publish) {
        console.log(`${def.id}: draft saved${saved.problems.length ? `, ${saved.problems.length} problem(s) to fix before publishing` : ""}`);
        continue;
      }
      const done = await call(`/v1/admin/catalog/${encodeURIComponent(def.id)}/publish`, { method: "POST" });
      console.log(`${def.id}: version ${done.form.published} published`);
    } catch (e) {
      failed++;
      console.error(e.status === 409 ? `${def.id}: managed by the config file of the collector, or archived: not changed` : e.message);
    }
  }
  if (failed) process.exit(1);
} else {
  throw new Error("usage: forms.mjs pull|push <collector> <file> [--publish]");
}
