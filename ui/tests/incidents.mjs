// The incidents pages in the machine's Chromium, against a running `vigil serve` (driven by
// tests/test_incidents.py, as e2e.mjs is by test_ui.py):
//   node ui/tests/incidents.mjs <web base URL> <screenshot dir> <title text> <example trace id>
// Prints "ready" once the list is live (the test then makes the incident), then one JSON line
// with what it saw; exits non-zero with the reason on failure.
import { chromium } from "playwright-core";

const [base, shots, titleText, traceId] = process.argv.slice(2);
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

async function kinds() {
  return page.locator("ol.timeline li.event").evaluateAll((items) => items.map((i) => i.dataset.kind));
}

async function waitForEvent(kind) {
  await page.locator(`ol.timeline li.event[data-kind=${kind}]`).first().waitFor({ timeout: 20000 });
}

try {
  await page.goto(base + "/incidents");
  await page.locator(".tail-state.live").waitFor({ timeout: 20000 });
  console.log("ready");
  // Live: the incident appears without a reload.
  const row = page.locator("table.incidents tbody tr", { hasText: titleText }).first();
  await row.waitFor({ timeout: 90000 });
  await page.screenshot({ path: `${shots}/incidents.png`, fullPage: true });
  await row.locator("a").click();
  await waitForEvent("alert_joined");
  const trace = page.locator(`a.example-trace[href="/traces/${traceId}"]`);
  await trace.waitFor({ timeout: 20000 });
  const opened = await kinds();
  const logs = await page.locator("ul.incident-logs li").allInnerTexts();
  await page.click("button.acknowledge");
  await page.locator(".incident-summary .badge.incident-status.acknowledged").waitFor({ timeout: 20000 });
  await waitForEvent("acknowledged");
  await page.fill("textarea[name=note]", "rolled back the deploy");
  await page.click("form.incident-note button[type=submit]");
  await waitForEvent("note");
  await page.click("button.resolve");
  await page.locator(".incident-summary .badge.incident-status.resolved").waitFor({ timeout: 20000 });
  await waitForEvent("resolved");
  const final = await kinds();
  const summary = await page.locator(".incident-summary").innerText();
  await page.screenshot({ path: `${shots}/incident.png`, fullPage: true });
  // The example trace opens the waterfall.
  await page.locator(`a.example-trace[href="/traces/${traceId}"]`).click();
  await page.locator(".waterfall .row").first().waitFor({ timeout: 20000 });
  if (errors.length) throw new Error(`page errors: ${errors.join("; ")}`);
  console.log(JSON.stringify({ opened, final, logs, summary, url: page.url() }));
} catch (error) {
  await page.screenshot({ path: `${shots}/failure-incidents.png`, fullPage: true }).catch(() => {});
  console.error(String(error));
  process.exitCode = 1;
} finally {
  await browser.close();
}
