//! End-to-end: speed to lead. A lead assigned by round-robin -> its owner's mail arrives at the local mail
// server with a signed link -> the link's page in Chromium and its "contacted" button record the first
// touch; an untouched lead under a 3-second response-time agreement escalates at its due time (measured
// against the due time the lead records) to the next owner, and the fallback owner is mailed.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { startReceiver } from "./receiver.mjs";
import { admin, artifacts, eventually, launchBrowser, postLead, secrets, startCollector } from "./support.mjs";

const VIEWER = "viewer-token-for-the-dashboard-0123456789";

let receiver, collector, browser;

before(async () => {
  receiver = await startReceiver({ secret: secrets.WEBHOOK_SECRET });
  collector = await startCollector(`
[mail]
url = "${receiver.mailbox}"
from = "Leadgate <leads@beispiel.example>"

[[owners]]
id = "anna"
name = "Anna Beispiel"
email = "anna@beispiel.example"

[[owners]]
id = "ben"
name = "Ben Muster"
email = "ben@beispiel.example"
lang = "en"

[[owners]]
id = "lea"
name = "Lea Leitung"
email = "lea@beispiel.example"

[[forms]]
id = "demo"
kind = "newsletter"
title = { de = "Demo anfragen", en = "Ask for a demo" }
fields = [{ name = "email", required = true }, { name = "company" }]

[forms.assign]
rule = "round_robin"
owners = ["anna", "ben"]
respond_within_seconds = 3
fallback = "lea"

[[forms.webhooks]]
id = "crm"
url = "${receiver.url}"
`, { env: { VIEWER_TOKENS: `carla=${VIEWER}` } });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await collector?.stop();
  await receiver?.close();
});

const lead = async (id) => admin(collector, `/v1/admin/leads/${id}`);

test("the owner's mail arrives with a link whose 'contacted' records the first touch, and nothing escalates", async () => {
  const r = await postLead(collector, { form: "demo", fields: { email: "erika@muster.example", company: "Muster AG" } });
  assert.equal(r.status, 201);
  const { id } = await r.json();
  const mail = await eventually(() => receiver.mails.find((m) => m.to === "anna@beispiel.example"), 10_000, "anna's mail");
  assert.equal(mail.subject, "Neuer Lead für Sie: erika@muster.example (Demo anfragen)");
  assert.match(mail.text, /company: Muster AG/);
  const link = /(http:\/\/127\.0\.0\.1:\d+\/v1\/work\/[^\s?]+)\?do=contacted/.exec(mail.text);
  assert.ok(link, mail.text);
  // A person opens the link and presses "Kontaktiert".
  const page = await browser.newPage();
  await page.goto(`${link[1]}?do=contacted`);
  assert.match(await page.textContent("h1"), /erika@muster\.example/);
  await page.click("#contacted");
  await page.waitForSelector("[role=status]");
  assert.match(await page.textContent("[role=status]"), /Erster Kontakt vermerkt/);
  await page.screenshot({ path: path.join(artifacts, "sales-work-page.png"), fullPage: true });
  await page.close();
  const touched = await lead(id);
  assert.equal(touched.first_touch.by, "anna");
  assert.equal(touched.first_touch.via, "mail");
  // Past its due time, the touched lead stays anna's.
  await new Promise((r) => setTimeout(r, 4_000));
  const later = await lead(id);
  assert.equal(later.owner, "anna");
  assert.equal(later.sla.breached, undefined);
  // The link is anna's: it opens nothing for anyone once the lead is someone else's, and a forged one is refused.
  const forged = await fetch(`${link[1].slice(0, -4)}AAAA`);
  assert.equal(forged.status, 403);
});

test("an untouched lead escalates at its due time to the next owner, and the fallback is told", async () => {
  const r = await postLead(collector, { form: "demo", fields: { email: "ada@example.com" } });
  const { id } = await r.json();
  const first = await lead(id);
  assert.equal(first.owner, "ben", "round-robin: ben's turn");
  await eventually(() => receiver.mails.find((m) => m.to === "ben@beispiel.example"), 10_000, "ben's mail");
  const moved = await eventually(async () => {
    const l = await lead(id);
    return l.owner === "anna" && l;
  }, 15_000, "the escalation");
  const breach = moved.assignments.at(-1);
  assert.equal(breach.by, "sla");
  assert.equal(breach.from, "ben");
  // The timing error: when the check ran against when it was due.
  const late = Date.parse(breach.at) - Date.parse(first.sla.due);
  console.log(`escalation ran ${late} ms after its due time`);
  assert.ok(late >= 0 && late < 1_000, `within a second of the due time (${late} ms)`);
  // Anna got the lead with an agreement of her own: she presses "contacted" in time (from the mail's link,
  // as a form post), so it stays hers.
  const annas = await eventually(() => receiver.mails.find((m) => m.to === "anna@beispiel.example" && m.subject.includes("ada@example.com")), 10_000, "anna's mail");
  const link = /(http:\/\/127\.0\.0\.1:\d+\/v1\/work\/[^\s?]+)/.exec(annas.text)[1];
  const pressed = await fetch(link, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "action=contacted" });
  const said = await pressed.text();
  assert.equal(pressed.status, 200, said);
  assert.match(said, /Erster Kontakt vermerkt/);
  const lea = await eventually(() => receiver.mails.find((m) => m.to === "lea@beispiel.example"), 10_000, "the fallback's mail");
  assert.match(lea.subject, /^Nicht rechtzeitig bearbeitet: ada@example\.com/);
  const announced = await eventually(() => receiver.deliveries.find((d) => d.payload?.type === "lead.sla_breached"), 10_000, "lead.sla_breached");
  assert.ok(announced.verified, announced.error);
  assert.equal(announced.payload.data.sla.owner, "ben");
  assert.ok(announced.payload.data.sla.breached);
});

test("the speed-to-lead numbers in the admin API and on the dashboard", async () => {
  // After the two tests above: anna touched erika's lead and, after the escalation, ada's, each within its
  // agreement; ben let ada's lead pass.
  const { groups, complete } = await admin(collector, "/v1/admin/speed?by=owner");
  assert.equal(complete, true);
  const anna = groups.find((g) => g.key === "anna");
  const ben = groups.find((g) => g.key === "ben");
  assert.equal(anna.leads, 2);
  assert.equal(anna.touched, 2);
  assert.ok(anna.median_minutes >= 0 && anna.median_minutes < 1, `minutes to the first touch: ${anna.median_minutes}`);
  assert.equal(anna.within_share, 0.5, "erika's lead was contacted within its agreement; ada's had broken one before");
  assert.equal(anna.running, 0);
  assert.equal(ben.breaches, 1);
  const byForm = await admin(collector, "/v1/admin/speed?by=form");
  assert.deepEqual(byForm.groups.map((g) => [g.key, g.leads, g.breaches]), [["demo", 2, 1]]);
  const wrong = await fetch(`${collector.base}/v1/admin/speed?by=mood`, { headers: { authorization: `Bearer ${secrets.ADMIN_TOKEN}` } });
  assert.equal(wrong.status, 400);
  assert.match((await wrong.json()).error.message, /`by` must be owner, form or source/);

  const page = await browser.newPage();
  await page.goto(`${collector.base}/admin.html`);
  await page.fill("#token", secrets.ADMIN_TOKEN);
  await page.click("#login button");
  const annaRow = page.locator("#speed-rows tr").filter({ hasText: "anna" });
  await annaRow.waitFor();
  assert.match(await annaRow.textContent(), /^anna22/);
  assert.match(await annaRow.textContent(), /50%/);
  assert.match(await page.locator("#speed-rows tr").filter({ hasText: "ben" }).textContent(), /^ben00.*1/);
  await page.screenshot({ path: path.join(artifacts, "sales-speed.png"), fullPage: true });
  await page.close();
});

test("an owner signs in by mail and sees only their leads; a viewer's token reads and changes nothing", async () => {
  const ask = (email) =>
    fetch(`${collector.base}/v1/owners/sign-in`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: `email=${encodeURIComponent(email)}` });
  const page = await browser.newPage();
  await page.goto(`${collector.base}/v1/owners/sign-in`);
  await page.fill("input[name=email]", "ben@beispiel.example");
  await page.click("button");
  await page.waitForSelector("[role=status]");
  // A stranger's address is answered exactly as an owner's.
  const stranger = await ask("mallory@beispiel.example");
  const owner = await ask("lea@beispiel.example");
  assert.equal(stranger.status, 200);
  assert.equal(await stranger.text(), await owner.text());
  const mail = await eventually(() => receiver.mails.find((m) => m.to === "ben@beispiel.example" && /sign-in/.test(m.subject)), 10_000, "ben's sign-in mail");
  assert.equal(mail.subject, "Your leads: sign-in link");
  assert.ok(!receiver.mails.some((m) => m.to === "mallory@beispiel.example"), "no mail to a stranger");
  const link = /(http:\/\/127\.0\.0\.1:\d+\/v1\/mine\/\S+)/.exec(mail.text)[1];
  await page.goto(link);
  assert.equal(await page.textContent("h1"), "Ben Muster's leads");
  const text = await page.textContent("main");
  assert.doesNotMatch(text, /erika@muster\.example|ada@example\.com/, "anna's leads are not shown to ben");
  await page.screenshot({ path: path.join(artifacts, "sales-mine.png"), fullPage: true });
  assert.match(text, /no leads right now/);
  // A lead given to ben by hand shows in his list with a link to its page, where he acts (within his
  // 3-second agreement).
  const r = await postLead(collector, { form: "demo", fields: { email: "grace@example.com" } });
  const { id } = await r.json();
  const given = await admin(collector, `/v1/admin/leads/${id}/owner`, { method: "POST", body: JSON.stringify({ owner: "ben", reason: "speaks English" }) });
  assert.equal(given.owner, "ben");
  await page.goto(link);
  await page.click("text=grace@example.com");
  await page.click("#contacted");
  await page.waitForSelector("[role=status]");
  assert.equal((await lead(id)).first_touch.by, "ben");
  await page.close();
  const forged = await fetch(`${link.slice(0, -4)}AAAA`);
  assert.equal(forged.status, 403);

  // The viewer reads the dashboard's numbers and changes nothing.
  const read = await fetch(`${collector.base}/v1/admin/speed?by=owner`, { headers: { authorization: `Bearer ${VIEWER}` } });
  assert.equal(read.status, 200);
  const erase = await fetch(`${collector.base}/v1/admin/leads/${id}`, { method: "DELETE", headers: { authorization: `Bearer ${VIEWER}` } });
  assert.equal(erase.status, 401);
  assert.equal((await erase.json()).error.code, "unauthorized");
  assert.equal((await lead(id)).id, id, "still there");
});

test("the admin page shows a viewer everything to read and no control that would change anything", async () => {
  const r = await postLead(collector, { form: "demo", fields: { email: "viewed@example.com" } });
  assert.equal(r.status, 201);
  const me = async (token) => (await fetch(`${collector.base}/v1/admin/me`, { headers: { authorization: `Bearer ${token}` } })).json();
  assert.deepEqual(await me(VIEWER), { name: "carla", viewer: true });
  assert.deepEqual(await me(secrets.ADMIN_TOKEN), { name: "admin", viewer: false });

  for (const [token, viewer] of [[VIEWER, true], [secrets.ADMIN_TOKEN, false]]) {
    const page = await browser.newPage();
    await page.goto(`${collector.base}/admin.html`);
    await page.fill("#token", token);
    await page.click("#login button");
    await page.locator("#who").filter({ hasText: viewer ? "carla, a viewer" : "Signed in as admin" }).waitFor();
    // The leads are there to read, and a lead's page opens.
    await page.getByRole("button", { name: "viewed@example.com" }).click();
    await page.locator("#lead-detail").waitFor();
    await page.getByRole("button", { name: "Export (JSON, Art. 20)" }).waitFor();
    const controls = ["Erase (Art. 17)", "Record a withdrawal (Art. 7(3))", "Move", "Assign", "Draw", "Import", "Create draft"];
    for (const name of controls) {
      assert.equal(await page.getByRole("button", { name, exact: true }).isVisible(), !viewer, `${name} for ${viewer ? "a viewer" : "the admin"}`);
    }
    assert.equal(await page.getByRole("button", { name: "Show draws" }).isVisible(), true, "reading draws stays");
    // A form opens to read: a viewer's button says so, and the editor shows every control disabled, without save.
    await page.getByRole("button", { name: `${viewer ? "View" : "Edit"} demo`, exact: true }).click();
    const state = await page.locator("#editor-state").filter({ hasText: /\S/ }).textContent();
    assert.equal(await page.getByRole("button", { name: `${viewer ? "Edit" : "View"} demo`, exact: true }).count(), 0);
    if (viewer) {
      assert.equal(state, "You are signed in as a viewer: shown read-only.");
      assert.equal(await page.locator("#editor-controls select").first().isDisabled(), true);
      assert.equal(await page.locator("#save").isVisible(), false);
    } else {
      assert.doesNotMatch(state, /viewer/);
    }
    if (viewer) await page.screenshot({ path: path.join(artifacts, "admin-viewer.png"), fullPage: true });
    await page.close();
  }
});
