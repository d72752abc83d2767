//! End-to-end: the published contract. Schemathesis (PyPI, pinned, installed by `cargo xtask test` into
// target/venv) reads GET /v1/openapi.json from a collector running the demo config and sends what it
// generates from it to every public and admin route, with the admin token: no answer may be a server
// error, and every answer must match the description (status, content type, body schema). The webhook
// payloads are held to their schemas by the test receiver in every other suite.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { root, secrets, startCollector } from "./support.mjs";

let collector;

before(async () => {
  collector = await startCollector(readFileSync(path.join(root, "leadgate.toml"), "utf8"));
});

after(async () => {
  await collector?.stop();
});

test("schemathesis finds no server error and no answer that differs from the OpenAPI description", () => {
  const st = path.join(root, "target/venv/bin/st");
  const run = spawnSync(
    st,
    [
      "run", `${collector.base}/v1/openapi.json`, "--url", collector.base,
      "-H", `Authorization: Bearer ${secrets.ADMIN_TOKEN}`,
      "--checks", "not_a_server_error,response_schema_conformance,content_type_conformance,status_code_conformance",
      // The coverage phase trips over a hypothesis internal on this description (a tool error, not a finding).
      "--phases", "examples,fuzzing,stateful",
      "--max-examples", "20", "--seed", "1", "--workers", "2",
    ],
    { encoding: "utf8", timeout: 300_000, env: { ...process.env, NO_COLOR: "1" } },
  );
  const out = `${run.stdout}${run.stderr}`;
  const summary = out.split("\n").filter((l) => /generated|passed|failed|error/i.test(l)).slice(-3).join(" | ");
  console.log(`schemathesis: ${summary}`);
  assert.equal(run.status, 0, out.slice(-4000));
});
