// The Actions pages and the incident's "Run" button in the machine's Chromium, against a running
// `vigil serve` (driven by tests/test_actions_ui.py):
//   node ui/tests/actions.mjs <web base URL> <screenshot dir> <manual rule name> <manual action>
// Prints "ready" once the actions list is live (the test then makes the data fire rules and asks
// for an action its remediator keeps refusing), then one JSON line with what it saw; exits
// non-zero with the reason on failure.
import { chromium } from "playwright-core";

const [base, shots, manualRule, manualAction] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
const errors = [];
page.on("pageerror", (e) => errors.push(String(e)));
page.on("console", (m) => {
  if (m.type() === "error" && /Content Security Policy/i.test(m.text())) errors.push(m.text());
});

// Polls (an action, then a look once the page has answered it) until `found` answers, or fails
// after the deadline (the pattern of alerts.mjs: never look before the page's answer arrives).
async function until(what, act, settled, found, timeoutMs = 120000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await act();
    await settled().catch(() => {});
    const value = await found();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await page.waitForTimeout(250);
  }
}

const LONG = 120000; // the page's own live updates: generous, the CI machine is slow

try {
  await page.goto(base + "/actions");
  await page.locator(".tail-state.live").waitFor({ timeout: 30000 });
  const emptyBefore = await page.locator("p.empty").count();
  console.log("ready");

  // Live, without a reload: the auto-remediation completes, and the refused action waits.
  const restart = page.locator("table.action-list tr.action[data-status=completed]", { hasText: "restart" }).first();
  await restart.waitFor({ timeout: LONG });
  const waiting = page.locator("table.action-list tr.action[data-status=pending]", { hasText: "drain-pod" }).first();
  await waiting.locator("td.attempts", { hasText: "1" }).waitFor({ timeout: LONG });
  await page.screenshot({ path: `${shots}/actions.png`, fullPage: true });
  const listed = await page.locator("table.action-list tbody tr").allInnerTexts();

  // Cancel the pending one: its row turns cancelled through the stream.
  await waiting.locator("button.cancel-action").click();
  await page.locator("table.action-list tr.action[data-status=cancelled]", { hasText: "drain-pod" }).first().waitFor({ timeout: LONG });
  const cancelled = await page.locator("table.action-list tr.action[data-status=cancelled]").first().innerText();

  // An action's page: its facts and its audit trail.
  await restart.locator("a").first().click();
  await page.locator("table.action-history tr[data-status=completed]").waitFor({ timeout: 30000 });
  const history = await page.locator("table.action-history tbody tr").evaluateAll((rows) => rows.map((r) => r.dataset.status));
  const facts = await page.locator("dl.action-facts").innerText();
  await page.screenshot({ path: `${shots}/action.png`, fullPage: true });

  // The incident of the rule that waits for a person: "Run <action>" queues it for the incident.
  await page.goto(base + "/incidents");
  const incidentRow = page.locator("table.incidents tbody tr", { hasText: manualRule }).first();
  await incidentRow.waitFor({ timeout: LONG });
  await incidentRow.locator("a").click();
  const run = page.locator(`button.run-action[data-action="${manualAction}"]`).first();
  await run.waitFor({ timeout: 30000 });
  const button = await run.innerText();
  const autoButtons = await page.locator('button.run-action[data-action="restart"]').count();
  await run.click();
  const queued = page.locator(".run-action-message a.run-action-link");
  await queued.waitFor({ timeout: 30000 });
  const message = await page.locator(".run-action-message").innerText();
  const actionHref = await queued.getAttribute("href");
  // The worker sends it; its result joins the incident's timeline (an event of the timeline, not
  // a change of the incident's state, so the page is reloaded to see it).
  await until("the action on the incident's timeline", () => page.reload(),
    () => page.locator("ol.timeline li.event").first().waitFor({ timeout: 30000 }),
    async () => (await page.locator("ol.timeline li.event[data-kind=action_run]").count()) > 0, LONG);
  const timeline = await page.locator("ol.timeline li.event[data-kind=action_run]").first().innerText();
  await page.screenshot({ path: `${shots}/incident-run-action.png`, fullPage: true });
  await page.goto(base + actionHref);
  await page.locator("table.action-history tr[data-status=completed]").waitFor({ timeout: LONG });
  const ran = await page.locator("dl.action-facts").innerText();
  if (errors.length) throw new Error(`page errors: ${errors.join("; ")}`);
  console.log(JSON.stringify({ emptyBefore, listed, cancelled, history, facts, button, autoButtons, message, timeline, ran, url: page.url() }));
} catch (error) {
  await page.screenshot({ path: `${shots}/failure-actions.png`, fullPage: true }).catch(() => {});
  console.error(String(error));
  process.exitCode = 1;
} finally {
  await browser.close();
}
