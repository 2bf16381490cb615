// Silencing from the incident page in the machine's Chromium, against a running `vigil serve`
// whose notifier sends to a local fake (driven by tests/test_silences.py):
//   node ui/tests/silences.mjs <web base URL> <screenshot dir> <incident id> <rule name>
// Opens the incident, clicks "Silence for 1 h", waits for the silence in the list and for the
// delivery log to say the alert was silenced, then expires it from the list; then the same
// from the Alerts page's firing instance of <rule name>. Prints one JSON
// line with what it saw; exits non-zero with the reason on failure.
import { chromium } from "playwright-core";

const [base, shots, incidentId, rule] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
const errors = [];
page.on("pageerror", (e) => errors.push(String(e)));

// Reloads the page until `selector` shows (the delivery log is read when the page loads):
// each round waits for the page's own answer (its log section rendered) before looking.
async function untilAfterReload(selector, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await page.locator("section.incident-deliveries h2").waitFor({ timeout: 30000 });
    if (await page.locator(selector).count()) return;
    if (Date.now() > deadline) throw new Error(`never saw ${selector}`);
    await page.waitForTimeout(500);
    await page.reload();
  }
}

try {
  await page.goto(`${base}/incidents/${incidentId}`);
  await page.locator("ol.timeline li.event[data-kind=alert_joined]").first().waitFor({ timeout: 30000 });
  await untilAfterReload("table.deliveries tr[data-result=sent]", 60000);
  const before = await page.locator("table.deliveries tr.delivery").allInnerTexts();
  await page.click("button.silence");
  await page.locator(".incident-message.silenced").waitFor({ timeout: 30000 });
  const row = page.locator("table.silences tr.silence.active").first();
  await row.waitFor({ timeout: 30000 });
  const matchers = await row.locator("td.labels").innerText();
  const message = await page.locator(".incident-message").innerText();
  await untilAfterReload('table.deliveries tr[data-result^="silenced by"]', 60000);
  const silencedLog = await page.locator("table.deliveries tr.delivery").allInnerTexts();
  await page.screenshot({ path: `${shots}/incident-silenced.png`, fullPage: true });
  await page.locator("table.silences tr.silence.active button.expire").first().click();
  await page.locator("section.silences p.empty").waitFor({ timeout: 30000 });

  // The Alerts page: "Silence for 1 h" on the firing instance, then Expire under Silences.
  await page.goto(`${base}/alerts`);
  const instance = page.locator(`table.alert-instances tr[data-rule="${rule}"][data-state=firing]`).first();
  await instance.waitFor({ timeout: 30000 });
  await instance.locator("button.silence").click();
  await page.locator(".alerts-message.silenced").waitFor({ timeout: 30000 });
  const fromAlerts = await page.locator("table.silences tr.silence.active td.labels").first().innerText();
  await page.locator("table.silences tr.silence.active button.expire").first().click();
  await page.locator("section.silences p.empty").waitFor({ timeout: 30000 });
  if (errors.length) throw new Error(`page errors: ${errors.join("; ")}`);
  console.log(JSON.stringify({ before, matchers, message, silencedLog, fromAlerts }));
} catch (error) {
  await page.screenshot({ path: `${shots}/failure-silences.png`, fullPage: true }).catch(() => {});
  console.error(String(error));
  process.exitCode = 1;
} finally {
  await browser.close();
}
