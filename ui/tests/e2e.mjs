// Browser checks of the UI against a running `vigil serve`, driven by playwright-core in the
// machine's Chromium (no browser download). Run by tests/test_ui.py:
//   node ui/tests/e2e.mjs <scenario> <web base URL> <screenshot dir> [arguments...]
// Prints one JSON line with what it measured; exits non-zero with the reason on failure.
import { chromium } from "playwright-core";

const [scenario, base, shots, ...args] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
const errors = [];
page.on("pageerror", (e) => errors.push(String(e)));
// The server's Content-Security-Policy must not block anything the UI does.
page.on("console", (m) => {
  if (m.type() === "error" && /Content Security Policy/i.test(m.text())) errors.push(m.text());
});

async function searchOpenTraceSeeChat([service, rootName, userText]) {
  await page.goto(base + "/traces");
  await page.selectOption("select[name=service]", service);
  await page.click("form.filters button[type=submit]");
  const link = page.locator("table.traces a", { hasText: rootName }).first();
  await link.waitFor({ timeout: 15000 });
  await page.screenshot({ path: `${shots}/search.png`, fullPage: true });
  await link.click();
  await page.locator(".waterfall .row").first().waitFor({ timeout: 15000 });
  // The LLM call's span: the row whose name starts with "chat".
  await page.locator(".waterfall .row", { hasText: /^.*chat / }).first().click();
  const message = page.locator(".conversation .message.role-user", { hasText: userText });
  await message.waitFor({ timeout: 15000 });
  const roles = await page.locator(".conversation .message .role").allInnerTexts();
  await page.screenshot({ path: `${shots}/trace.png`, fullPage: true });
  return { url: page.url(), roles };
}

async function openAndScroll([traceId]) {
  const started = Date.now();
  await page.goto(`${base}/traces/${traceId}`);
  await page.locator(".waterfall .row").first().waitFor({ timeout: 60000 });
  const opened = Date.now() - started;
  const scrollStarted = Date.now();
  // 50 scroll steps, two animation frames each: the time is bounded below by the display's
  // frame rate (100 frames at 60 Hz = 1.67 s); the longest frame says whether it stuttered.
  const { rows, longest, p95 } = await page.evaluate(async () => {
    const viewport = document.querySelector(".waterfall");
    const step = viewport.scrollHeight / 50;
    const gaps = [];
    let last = performance.now();
    const frame = () => new Promise((resolve) => requestAnimationFrame((t) => { gaps.push(t - last); last = t; resolve(); }));
    for (let i = 1; i <= 50; i++) {
      viewport.scrollTop = i * step;
      await frame();
      await frame();
    }
    gaps.sort((a, b) => a - b);
    return {
      rows: document.querySelectorAll(".waterfall .row").length,
      longest: gaps[gaps.length - 1],
      p95: gaps[Math.floor(gaps.length * 0.95)],
    };
  });
  const scrolled = Date.now() - scrollStarted;
  await page.screenshot({ path: `${shots}/large-trace.png` });
  return { opened_ms: opened, scrolled_ms: scrolled, rows_in_dom: rows, longest_frame_ms: Math.round(longest), p95_frame_ms: Math.round(p95) };
}

async function sessionTimeline([sessionId, traces]) {
  await page.goto(base + "/sessions");
  const link = page.locator("table.sessions a", { hasText: sessionId }).first();
  await link.waitFor({ timeout: 15000 });
  await link.click();
  await page.locator(".timeline-row").nth(Number(traces) - 1).waitFor({ timeout: 15000 });
  const rows = await page.locator(".timeline-row").count();
  await page.screenshot({ path: `${shots}/session.png`, fullPage: true });
  return { url: page.url(), rows };
}

async function driftHistograms([groupText]) {
  await page.goto(base + "/drift");
  const row = page.locator("table.drift tbody tr", { hasText: groupText }).first();
  await row.waitFor({ timeout: 20000 });
  await row.click();
  await page.locator(".drift-detail h2", { hasText: groupText }).waitFor({ timeout: 10000 });
  const bars = {
    baseline: await page.locator(".drift-detail svg.histogram.baseline rect").count(),
    current: await page.locator(".drift-detail svg.histogram.current rect").count(),
  };
  const severity = await row.locator(".badge").innerText();
  const captions = await page.locator(".drift-detail figcaption").allInnerTexts();
  await page.screenshot({ path: `${shots}/drift.png`, fullPage: true });
  return { bars, severity, captions };
}

async function resolveAlert([groupText]) {
  await page.goto(base + "/alerts/drift");
  const row = page.locator("table.alerts tbody tr", { hasText: groupText }).first();
  await row.waitFor({ timeout: 15000 });
  const severity = await row.locator(".badge").innerText();
  await page.screenshot({ path: `${shots}/alerts.png`, fullPage: true });
  await row.locator("button.resolve").click();
  await page.locator("table.alerts tbody tr", { hasText: groupText }).waitFor({ state: "detached", timeout: 15000 });
  await page.selectOption("select[name=resolved]", "2");
  await page.click("form.filters button[type=submit]");
  const resolved = page.locator("table.alerts tbody tr", { hasText: groupText }).first();
  await resolved.waitFor({ timeout: 15000 });
  return { severity, resolvedText: await resolved.innerText() };
}

async function replayWhatIf([traceId, before, after]) {
  await page.goto(`${base}/traces/${traceId}`);
  await page.locator(".waterfall .row", { hasText: /^.*chat / }).first().click();
  await page.locator("details.replay summary").click();
  const editor = page.locator("textarea.json-editor");
  await editor.fill((await editor.inputValue()).replace(before, after));
  await page.locator("details.replay button", { hasText: "What if" }).click();
  const diff = page.locator(".replay-result pre.unified").first();
  await diff.waitFor({ timeout: 15000 });
  await diff.scrollIntoViewIfNeeded();
  await page.screenshot({ path: `${shots}/replay.png`, fullPage: true });
  const seen = {
    diff: await diff.innerText(),
    changed: await page.locator(".replay-result .side-by-side").count(),
  };
  // Execute: the call sent again (to the test's fake LLM), a link to the new trace.
  await page.locator("details.replay button", { hasText: "Execute" }).click();
  const created = page.locator(".replay-result a.new-trace");
  await created.waitFor({ timeout: 30000 });
  seen.executed = await page.locator(".replay-result .diff p.muted").allInnerTexts();
  await page.screenshot({ path: `${shots}/replay-executed.png`, fullPage: true });
  await created.click();
  await page.locator(".waterfall .row").first().waitFor({ timeout: 15000 });
  seen.newTraceUrl = page.url();
  seen.newTraceRows = await page.locator(".waterfall .row .name").allInnerTexts();
  return seen;
}

async function liveTail([service, spanName]) {
  await page.goto(`${base}/tail?service=${encodeURIComponent(service)}`);
  await page.locator(".tail-state.live").waitFor({ timeout: 20000 });
  console.log("live"); // the test sends its spans now, after the page opened
  const row = page.locator("table.tail tbody tr", { hasText: spanName }).first();
  await row.waitFor({ timeout: 30000 });
  await page.screenshot({ path: `${shots}/tail.png`, fullPage: true });
  return {
    rows: await page.locator("table.tail tbody tr").count(),
    state: await page.locator(".tail-state").innerText(),
    href: await row.locator("a").getAttribute("href"),
  };
}

async function loginAndSwitchProject([user, password, projectA, rootA, projectB, rootB]) {
  await page.goto(base + "/");
  await page.locator("form.login").waitFor({ timeout: 15000 });
  await page.fill("input[name=username]", user);
  await page.fill("input[name=password]", "not the password");
  await page.click("form.login button[type=submit]");
  const refused = await page.locator("form.login .error").innerText({ timeout: 15000 });
  await page.screenshot({ path: `${shots}/login.png`, fullPage: true });
  await page.fill("input[name=password]", password);
  await page.click("form.login button[type=submit]");
  const picker = page.locator("select[name=project]");
  await picker.waitFor({ timeout: 15000 });
  const projects = await picker.locator("option").allInnerTexts();
  await page.selectOption("select[name=project]", projectA);
  await page.locator("table.traces a", { hasText: rootA }).first().waitFor({ timeout: 15000 });
  const seenA = await page.locator("table.traces a").allInnerTexts();
  await page.selectOption("select[name=project]", projectB);
  await page.locator("table.traces a", { hasText: rootB }).first().waitFor({ timeout: 15000 });
  const seenB = await page.locator("table.traces a").allInnerTexts();
  await page.screenshot({ path: `${shots}/project-switched.png`, fullPage: true });
  await page.reload();
  await page.locator("table.traces a", { hasText: rootB }).first().waitFor({ timeout: 15000 });
  const afterReload = await page.locator("select[name=project]").inputValue();
  // The session's token before signing out: the server must refuse it afterwards.
  const signedOutToken = await page.evaluate(() => JSON.parse(localStorage.getItem("vigil-session")).accessToken);
  await page.click("button.signout");
  await page.locator("form.login").waitFor({ timeout: 15000 });
  return { refused, projects, seenA, seenB, afterReload, signedOutToken };
}

async function quickStart([service, rootName, childName]) {
  await page.goto(base + "/traces");
  await page.locator(`select[name=service] option[value="${service}"]`).waitFor({ state: "attached", timeout: 15000 });
  await page.selectOption("select[name=service]", service);
  await page.click("form.filters button[type=submit]");
  const link = page.locator("table.traces a", { hasText: rootName }).first();
  await link.waitFor({ timeout: 15000 });
  await link.click();
  const child = page.locator(".waterfall .row", { hasText: childName }).first();
  await child.waitFor({ timeout: 15000 });
  await child.click();
  await page.locator(".span-panel", { hasText: "output.value" }).waitFor({ timeout: 15000 });
  await page.screenshot({ path: `${shots}/quick-start.png`, fullPage: true });
  return {
    rows: await page.locator(".waterfall .row .name").allInnerTexts(),
    panel: await page.locator(".span-panel").innerText(),
  };
}

// The overview of one service: its totals as the page shows them, "by model", then the
// top-cost session opened.
async function overview([service]) {
  await page.goto(`${base}/?service=${encodeURIComponent(service)}`);
  await page.locator(".stat[data-stat=requests] .value").waitFor({ timeout: 20000 });
  await page.locator("figure.chart .uplot").first().waitFor({ timeout: 10000 });
  const totals = {};
  for (const stat of await page.locator(".stat").all()) {
    totals[await stat.getAttribute("data-stat")] = Number(await stat.locator(".value").getAttribute("data-value"));
  }
  const texts = await page.locator(".stat .value").allInnerTexts();
  await page.screenshot({ path: `${shots}/overview.png`, fullPage: true });
  await page.selectOption("select[name=group]", "model");
  await page.waitForURL(/group=model/);
  const cost = page.locator("figure.chart", { hasText: "Cost" });
  await cost.locator(".uplot").waitFor({ timeout: 15000 });
  const costSeries = Number(await cost.getAttribute("data-series"));
  const legend = await cost.locator(".u-legend .u-series:not(:first-child) .u-label").allInnerTexts();
  await page.screenshot({ path: `${shots}/overview-by-model.png`, fullPage: true });
  // The dark theme: the page is drawn again in its colors.
  await page.click("button[aria-label='Toggle theme']");
  await page.locator("html[data-theme=dark] figure.chart .uplot").first().waitFor({ timeout: 15000 });
  await page.screenshot({ path: `${shots}/overview-dark.png`, fullPage: true });
  const session = page.locator(".top-list.sessions table.by-cost a").first();
  const topSession = await session.innerText();
  await session.click();
  await page.waitForURL(/\/sessions\//);
  await page.locator(".timeline-row").first().waitFor({ timeout: 15000 });
  return { totals, texts, costSeries, legend, topSession, sessionUrl: page.url() };
}

// A record found by body text and severity with the form, its trace opened from the list.
async function logsFind([service, bodyText]) {
  await page.goto(`${base}/logs?service=${encodeURIComponent(service)}`);
  await page.locator("table.logs tbody tr.log-row").first().waitFor({ timeout: 20000 });
  const unfiltered = await page.locator("table.logs tbody tr.log-row").count();
  await page.fill("input[name=body]", bodyText);
  await page.selectOption("select[name=severity]", "13");
  await page.click("form.filters button[type=submit]");
  await page.waitForURL(/severity=13/);
  const row = page.locator("table.logs tbody tr.log-row", { hasText: bodyText }).first();
  await row.waitFor({ timeout: 15000 });
  await page.locator(".volume figure.chart .uplot").waitFor({ timeout: 10000 });
  const rows = await page.locator("table.logs tbody tr.log-row").count();
  const severity = await row.locator(".badge").innerText();
  await row.click(); // its attributes and resource
  const details = await page.locator("tr.log-details:not([hidden])").first().innerText();
  await page.screenshot({ path: `${shots}/logs.png`, fullPage: true });
  const href = await row.locator("a.trace-link").getAttribute("href");
  await row.locator("a.trace-link").click();
  await page.waitForURL(/\/traces\/[0-9a-f]{32}/);
  const inTrace = page.locator(".trace-logs .log", { hasText: bodyText });
  await inTrace.waitFor({ timeout: 15000 });
  const selected = await page.locator(".waterfall .row.selected .name").innerText();
  const panelLogs = await page.locator(".span-panel").innerText();
  await page.screenshot({ path: `${shots}/trace-logs.png`, fullPage: true });
  return { unfiltered, rows, severity, details, href, traceUrl: page.url(), traceLog: await inTrace.innerText(), selected, panelHasLog: panelLogs.includes(bodyText) };
}

async function logsLive([service, bodyText]) {
  await page.goto(`${base}/logs?service=${encodeURIComponent(service)}&live=1`);
  await page.locator(".tail-state.live").waitFor({ timeout: 20000 });
  console.log("live"); // the test sends its record now
  const row = page.locator("table.logs tbody tr.log-row", { hasText: bodyText }).first();
  await row.waitFor({ timeout: 30000 });
  await page.screenshot({ path: `${shots}/logs-live.png`, fullPage: true });
  return { state: await page.locator(".tail-state").innerText(), rows: await page.locator("table.logs tbody tr.log-row").count() };
}

// The chart's numbers, from its data table.
async function chartData(figure) {
  const details = figure.locator("details.chart-data");
  if (!(await details.evaluate((d) => d.open))) await details.locator("summary").click();
  // The table is drawn on the details' toggle event: wait for it.
  await details.locator("table.chart-table thead th").first().waitFor({ timeout: 10000 });
  const headers = await details.locator("thead th").allInnerTexts();
  const rows = await details.locator("tbody tr").evaluateAll((trs) => trs.map((tr) => ({
    time: Number(tr.getAttribute("data-time")),
    values: [...tr.querySelectorAll("td[data-value]")].map((td) => (td.getAttribute("data-value") === "" ? null : Number(td.getAttribute("data-value")))),
  })));
  return { series: headers.slice(1), rows };
}

async function metricChart([query, shot]) {
  await page.goto(`${base}/metrics?${query}`);
  const figure = page.locator(".metric-view figure.chart");
  await figure.locator(".uplot").waitFor({ timeout: 20000 });
  const legend = await figure.locator(".u-legend .u-series:not(:first-child) .u-label").allInnerTexts();
  const data = await chartData(figure);
  await page.screenshot({ path: `${shots}/${shot}.png`, fullPage: true });
  return { ...data, legend, dataSeries: Number(await figure.getAttribute("data-series")) };
}

async function metricLive([query, value]) {
  await page.goto(`${base}/metrics?${query}&live=1`);
  await page.locator(".tail-state.live").waitFor({ timeout: 20000 });
  const figure = page.locator(".metric-view figure.chart");
  await figure.locator("details.chart-data summary").click();
  console.log("live"); // the test sends its point now
  await figure.locator(`td[data-value="${value}"]`).first().waitFor({ timeout: 30000 });
  const foundAtMs = Date.now();
  await page.screenshot({ path: `${shots}/metrics-live.png`, fullPage: true });
  return { foundAtMs, url: page.url() };
}

// Drag across the chart: the URL's range becomes the selection and the data follows; a reload
// of that URL draws the same.
async function zoom([query]) {
  await page.goto(`${base}/metrics?${query}`);
  const figure = page.locator(".metric-view figure.chart");
  const over = figure.locator(".u-over");
  await over.waitFor({ timeout: 20000 });
  const before = await chartData(figure);
  const urlBefore = page.url();
  // The page is drawn again after the zoom: wait for the new chart, not this one.
  await figure.evaluate((f) => { f.dataset.old = "1"; });
  const box = await over.boundingBox();
  const y = box.y + box.height / 2;
  await page.mouse.move(box.x + box.width * 0.15, y);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.5, y, { steps: 8 });
  await page.mouse.move(box.x + box.width * 0.85, y, { steps: 8 });
  await page.mouse.up();
  await page.waitForURL((url) => url.searchParams.has("from") && url.toString() !== urlBefore, { timeout: 10000 });
  const zoomed = page.locator(".metric-view figure.chart:not([data-old])");
  await zoomed.locator(".u-over").waitFor({ timeout: 20000 });
  const after = await chartData(zoomed);
  const urlAfter = page.url();
  await page.screenshot({ path: `${shots}/zoomed.png`, fullPage: true });
  // Scrolling the page and hovering the chart: the longest frame.
  const longest = await page.evaluate(async () => {
    const gaps = [];
    let last = performance.now();
    const frame = () => new Promise((resolve) => requestAnimationFrame((t) => { gaps.push(t - last); last = t; resolve(); }));
    for (let i = 0; i < 30; i++) { window.scrollBy(0, i % 2 ? 40 : -40); await frame(); }
    return Math.max(...gaps);
  });
  await page.reload();
  await page.locator(".metric-view figure.chart .u-over").waitFor({ timeout: 20000 });
  const reloaded = await chartData(page.locator(".metric-view figure.chart"));
  await page.goBack();
  await page.waitForURL((url) => url.toString() === urlBefore, { timeout: 10000 });
  return { urlBefore, urlAfter, before, after, reloaded, longestFrameMs: Math.round(longest), backUrl: page.url() };
}

// Benchmark (bench/explore.py): navigation until every chart is drawn; the longest animation
// frame while hovering across the first chart and scrolling; a drag-zoom until redrawn.
async function benchPage([path, charts]) {
  const started = Date.now();
  await page.goto(base + path);
  await page.waitForFunction((n) => document.querySelectorAll("figure.chart .uplot").length >= n, Number(charts), { timeout: 60000 });
  const drawnMs = Date.now() - started;
  await page.screenshot({ path: `${shots}/bench-${charts}.png`, fullPage: true });
  await page.evaluate(() => {
    window.__gaps = [];
    let last = performance.now();
    const tick = (t) => { window.__gaps.push(t - last); last = t; if (!window.__stop) requestAnimationFrame(tick); };
    requestAnimationFrame(tick);
  });
  const over = page.locator("figure.chart .u-over").first();
  const box = await over.boundingBox();
  for (let i = 0; i <= 40; i++) await page.mouse.move(box.x + (box.width * i) / 40, box.y + box.height / 2);
  for (let i = 0; i < 20; i++) {
    await page.evaluate((down) => window.scrollBy({ top: down ? 120 : -120, behavior: "instant" }), i % 2 === 1);
    await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(resolve)));
  }
  const longest = await page.evaluate(() => { window.__stop = true; return Math.max(...window.__gaps.slice(1)); });
  await page.evaluate(() => window.scrollTo({ top: 0, behavior: "instant" }));
  const at = await over.boundingBox();
  const before = page.url();
  const zoomStarted = Date.now();
  await page.mouse.move(at.x + at.width * 0.4, at.y + at.height / 2);
  await page.mouse.down();
  await page.mouse.move(at.x + at.width * 0.6, at.y + at.height / 2, { steps: 5 });
  await page.mouse.up();
  await page.waitForURL((url) => url.toString() !== before, { timeout: 10000 });
  await page.waitForFunction((n) => document.querySelectorAll("figure.chart .uplot").length >= n, Number(charts), { timeout: 60000 });
  return { drawn_ms: drawnMs, longest_frame_ms: Math.round(longest), zoom_ms: Date.now() - zoomStarted };
}

try {
  const run = {
    "bench-page": benchPage,
    overview,
    "logs-find": logsFind,
    "logs-live": logsLive,
    "metric-chart": metricChart,
    "metric-live": metricLive,
    zoom,
    "quick-start": quickStart,
    "live-tail": liveTail,
    "login-switch-project": loginAndSwitchProject,
    "replay-what-if": replayWhatIf,
    "resolve-alert": resolveAlert,
    "search-open-trace": searchOpenTraceSeeChat,
    "open-and-scroll": openAndScroll,
    "session-timeline": sessionTimeline,
    "drift-histograms": driftHistograms,
  }[scenario];
  if (!run) throw new Error(`unknown scenario ${scenario}`);
  const result = await run(args);
  if (errors.length) throw new Error(`page errors: ${errors.join("; ")}`);
  console.log(JSON.stringify(result));
} catch (error) {
  await page.screenshot({ path: `${shots}/failure-${scenario}.png`, fullPage: true }).catch(() => {});
  console.error(String(error));
  process.exitCode = 1;
} finally {
  await browser.close();
}
