// The Alerts area in the machine's Chromium, against a running `vigil serve` (driven by
// tests/test_alerts_ui.py):
//   node ui/tests/alerts.mjs <web base URL> <screenshot dir> <policy JSON> <example trace id>
// Prints "ready" once the rules list shows (the test then sends an error trace), then one JSON
// line with what it saw; exits non-zero with the reason on failure.
import { chromium } from "playwright-core";

const [base, shots, policyText, traceId] = process.argv.slice(2);
const policy = JSON.parse(policyText);
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
// after the deadline. `settled` waits for the action's answer: looking before it arrives would see
// the placeholder, and acting again at once would cancel the answer, so on a slow machine the loop
// would never see one.
async function until(what, act, settled, found, timeoutMs = 90000) {
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

try {
  await page.goto(base + "/alerts");
  const fileRow = page.locator("table.rules tbody tr", { hasText: "from file" }).first();
  await fileRow.waitFor({ timeout: 20000 });
  const fileRule = await fileRow.innerText();
  console.log("ready");

  await page.click("nav.alert-tabs a[href='/alerts/new']");
  await page.fill("textarea[name=policy]", JSON.stringify(policy, null, 2));
  const breaching = page.locator("table.preview-groups tr.breaching");
  await until("the preview to show the breaching group", () => page.click("button.preview"),
    () => page.locator(".rule-preview h2, .rule-preview p.error").first().waitFor({ timeout: 30000 }),
    async () => (await breaching.count()) > 0);
  const preview = await page.locator(".rule-preview").innerText();
  await page.selectOption("select[name=hours]", "0.25");
  await page.click("button.backtest");
  await page.locator(".backtest-summary").waitFor({ timeout: 60000 });
  const backtest = await page.locator(".rule-backtest").innerText();
  // The chart of the rule's value: uPlot draws once the figure is laid out; the threshold line
  // is drawn in its own color (#c8322b, which the one series here does not use).
  const figure = page.locator(".rule-backtest figure.rule-chart");
  await figure.locator("canvas").first().waitFor({ timeout: 30000 });
  const chartSeen = await figure.evaluate((f) => {
    const canvas = f.querySelector("canvas");
    const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    let thresholdPixels = 0;
    for (let i = 0; i < pixels.length; i += 4) {
      if (Math.abs(pixels[i] - 200) < 12 && Math.abs(pixels[i + 1] - 50) < 12 && Math.abs(pixels[i + 2] - 43) < 12) thresholdPixels++;
    }
    return {
      thresholds: f.dataset.thresholds, series: Number(f.dataset.series), points: Number(f.dataset.points),
      marked: Number(f.dataset.marked ?? 0), width: canvas.width, thresholdPixels, caption: f.querySelector("figcaption").textContent,
    };
  });
  await page.screenshot({ path: `${shots}/alert-rule-editor.png`, fullPage: true });
  await page.click("button.save");
  await page.locator("h1", { hasText: `Rule ${policy.name}` }).waitFor({ timeout: 20000 });

  // Fires live: the rules list counts it, the instances list shows it with its labels.
  await page.click("nav.alert-tabs a[href='/alerts']");
  const firing = page.locator(`table.alert-instances tr[data-rule="${policy.name}"][data-state=firing]`);
  await until("the alert to fire", () => page.reload(),
    () => page.locator("section.instances > *").first().waitFor({ timeout: 30000 }),
    async () => (await firing.count()) > 0);
  const instance = await firing.first().innerText();
  const counts = await page.locator(`table.rules tr[data-rule="${policy.name}"] td.states`).innerText();
  await page.screenshot({ path: `${shots}/alert-rules.png`, fullPage: true });

  // Disable, then enable again.
  const row = page.locator(`table.rules tr[data-rule="${policy.name}"]`);
  await row.locator("button.disable").click();
  await row.locator("button.enable").waitFor({ timeout: 20000 });
  await row.locator("button.enable").click();
  await row.locator("button.disable").waitFor({ timeout: 20000 });
  const enabled = await row.innerText();

  // The rule's page: its history, then the example trace opens the waterfall.
  await row.locator(`a[href="/alerts/rules/${policy.name}"]`).click();
  await page.locator("ol.rule-timeline li[data-to=firing]").first().waitFor({ timeout: 20000 });
  const timeline = await page.locator("ol.rule-timeline li").allInnerTexts();
  await page.screenshot({ path: `${shots}/alert-rule.png`, fullPage: true });
  await page.locator(`.rule-instances a.example-trace[href="/traces/${traceId}"]`).first().click();
  await page.locator(".waterfall .row").first().waitFor({ timeout: 20000 });

  await page.goto(base + "/alerts/drift");
  await page.locator("h1", { hasText: "Drift alerts" }).waitFor({ timeout: 20000 });
  if (errors.length) throw new Error(`page errors: ${errors.join("; ")}`);
  console.log(JSON.stringify({ fileRule, preview, backtest, chart: chartSeen, instance, counts, enabled, timeline, url: page.url() }));
} catch (error) {
  await page.screenshot({ path: `${shots}/failure-alerts.png`, fullPage: true }).catch(() => {});
  console.error(String(error));
  process.exitCode = 1;
} finally {
  await browser.close();
}
