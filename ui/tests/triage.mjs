// Triage on the incident page in the machine's Chromium, against a running `vigil serve`
// (driven by tests/test_triage.py):
//   node ui/tests/triage.mjs <web base URL> <screenshot dir> <incident id>
// Waits for the incident's automatic analysis on its timeline, clicks Analyse, waits for the
// button to come back (the page has its answer) and for a second analysis entry, then prints
// one JSON line with what it saw; exits non-zero with the reason on failure.
import { chromium } from "playwright-core";

const [base, shots, incidentId] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
const errors = [];
page.on("pageerror", (e) => errors.push(String(e)));

const entries = () => page.locator("ol.timeline li.event[data-kind=triage]");

try {
  await page.goto(`${base}/incidents/${incidentId}`);
  await entries().first().waitFor({ timeout: 90000 });
  const first = await entries().first().innerText();
  await page.click("button.analyze");
  // The page's answer: the button is enabled again ("Analyse") once the RPC returned and the
  // incident was reloaded; only then is the timeline looked at.
  await page.locator("button.analyze:not([disabled])", { hasText: /^Analyse$/ }).waitFor({ timeout: 90000 });
  await page.waitForFunction(
    () => document.querySelectorAll("ol.timeline li.event[data-kind=triage]").length >= 2,
    null,
    { timeout: 90000 },
  );
  const all = await entries().allInnerTexts();
  const analyses = await page.locator("ol.timeline .event-message.analysis").count();
  const message = await page.locator(".incident-message").innerText();
  await page.screenshot({ path: `${shots}/triage.png`, fullPage: true });
  if (errors.length) throw new Error(`page errors: ${errors.join("; ")}`);
  console.log(JSON.stringify({ first, all, analyses, message }));
} catch (error) {
  await page.screenshot({ path: `${shots}/failure-triage.png`, fullPage: true }).catch(() => {});
  console.error(String(error));
  process.exitCode = 1;
} finally {
  await browser.close();
}
