// Logs: search by time range, service, severity, body text, attribute and trace id (SearchLogs,
// newest first, paged), the volume by severity over the range above the list (GetLogVolume),
// each record's body, attributes and resource; a record with a trace id links to the trace
// (its span selected). Live (live=1 in the URL) tails the records as they arrive (TailLogs).

import { h, clear } from "../dom";
import { query, errorText } from "../api";
import { chart } from "../chart";
import { time } from "../format";
import { link, onLeave } from "../main";
import { fillServices, nanos, params, rangeSelect, sendHint, timeRange, update, zoomTo } from "../state";
import type { LogFilter, LogRecord } from "../gen/vigil/query/v1/query_pb";

const DEFAULT_RANGE = 3600;
const MAX_LIVE_ROWS = 500;
const SEVERITIES: [string, number][] = [["Any severity", 0], ["DEBUG+", 5], ["INFO+", 9], ["WARN+", 13], ["ERROR+", 17], ["FATAL", 21]];
const NAMES = ["UNSET", "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];

export function severityName(n: number): string {
  return n ? NAMES[Math.min(6, Math.floor((n - 1) / 4) + 1)] : "UNSET";
}

export async function logsPage(main: HTMLElement): Promise<void> {
  const p = params();
  const live = p.get("live") === "1";
  const service = h("select", { name: "service", "aria-label": "Service" }, h("option", { value: "" }, "All services"));
  const severity = h("select", { name: "severity", "aria-label": "Minimum severity" },
    ...SEVERITIES.map(([label, n]) => h("option", { value: n || "", selected: String(n) === (p.get("severity") ?? "0") }, label)));
  const body = h("input", { name: "body", placeholder: "Body contains", "aria-label": "Body contains", value: p.get("body") ?? "" });
  const attribute = h("input", { name: "attribute", placeholder: "attribute=value", "aria-label": "Attribute", value: p.get("attribute") ?? "" });
  const trace = h("input", { name: "trace", placeholder: "Trace id", "aria-label": "Trace id", size: 34, value: p.get("trace") ?? "" });
  const toggle = h("button", { type: "button", class: `live-toggle${live ? " on" : ""}`, onclick: () => update({ live: live ? null : "1" }) },
    live ? "Stop live" : "Live");
  const state = h("span", { class: "tail-state muted", role: "status" });
  const form = h("form", { class: "filters", onsubmit: (e: Event) => {
    e.preventDefault();
    update({ service: service.value, severity: severity.value, body: body.value.trim(), attribute: attribute.value.trim(), trace: trace.value.trim() });
  } },
  live ? null : rangeSelect(DEFAULT_RANGE), service, severity, body, attribute, trace, h("button", { type: "submit" }, "Search"), toggle, state);
  const volume = h("div", { class: "volume" });
  const results = h("section", { class: "results" });
  clear(main, h("h1", {}, live ? "Logs · live" : "Logs"), form, volume, results);
  void fillServices(service, p.get("service") ?? "");

  const attributes: Record<string, string> = {};
  const [key, ...value] = (p.get("attribute") ?? "").split("=");
  if (key.trim() && value.length) attributes[key.trim()] = value.join("=").trim();
  const filter = (fromMs: number, toMs: number): Omit<Partial<LogFilter>, "$typeName"> => ({
    serviceName: p.get("service") ?? "",
    minSeverityNumber: Number(p.get("severity") ?? 0),
    bodyContains: p.get("body") ?? "",
    traceId: p.get("trace") ?? "",
    attributes,
    startTimeMinUnixNano: nanos(fromMs),
    startTimeMaxUnixNano: nanos(toMs),
  });

  const table = h("table", { class: "logs" },
    h("thead", {}, h("tr", {}, ...["Time", "Severity", "Service", "Body", "Trace"].map((c) => h("th", {}, c)))),
    h("tbody"));
  const rows = table.querySelector("tbody")!;
  if (live) {
    await tail(filter(0, 0), rows, table, results, state);
    return;
  }

  const range = timeRange(DEFAULT_RANGE);
  let pageToken = "";
  async function more(first: boolean): Promise<void> {
    try {
      const page = await query.searchLogs({ filter: filter(range.fromMs, range.toMs), pageSize: 100, pageToken });
      pageToken = page.nextPageToken;
      if (first && !page.logs.length) {
        clear(results, h("div", { class: "empty" }, h("p", {}, "No log records match in this range."), ...sendHint("logs")));
        return;
      }
      if (first) clear(results, table);
      rows.append(...page.logs.flatMap(record));
      results.querySelector(".more")?.remove();
      if (pageToken) results.append(h("button", { class: "more", onclick: () => void more(false) }, "More records"));
    } catch (error) {
      clear(results, h("p", { class: "error" }, errorText(error)));
    }
  }
  async function histogram(): Promise<void> {
    try {
      const counts = await query.getLogVolume({ filter: filter(range.fromMs, range.toMs) });
      if (!counts.total) return;
      const at = (t: bigint) => Number(t / 1_000_000n);
      clear(volume, chart({
        title: `${counts.total.toLocaleString()} records`,
        unit: "",
        bars: true,
        stacked: true,
        height: 130,
        onZoom: zoomTo,
        range: [range.fromMs, range.toMs],
        series: counts.series.map((s) => ({ label: s.severity, points: s.points.map((pt) => [at(pt.timeUnixNano), Number(pt.count)] as [number, number]) })),
      }).element);
    } catch {
      // the list says what went wrong
    }
  }
  await Promise.all([more(true), histogram()]);
}

// A record's row, and its details (attributes, resource) opened by a click.
function record(r: LogRecord): HTMLElement[] {
  const name = r.severityText || severityName(r.severityNumber);
  const href = r.traceId ? `/traces/${r.traceId}${r.spanId ? `?span=${r.spanId}` : ""}` : "";
  const details = h("tr", { class: "log-details", hidden: true },
    h("td", { colspan: 5 }, h("div", { class: "log-detail" },
      h("pre", { class: "log-body" }, r.body),
      attributesTable("Attributes", r.attributes),
      attributesTable("Resource", r.resourceAttributes),
      r.scopeName ? h("p", { class: "muted" }, `Scope ${r.scopeName} ${r.scopeVersion}`) : null)));
  const row = h("tr", { class: `log-row sev-${severityName(r.severityNumber).toLowerCase()}`, onclick: (e: Event) => {
    if ((e.target as HTMLElement).closest("a")) return;
    details.hidden = !details.hidden;
  } },
  h("td", { class: "nowrap" }, time(r.timeUnixNano)),
  h("td", {}, h("span", { class: `badge severity ${severityName(r.severityNumber).toLowerCase()}` }, name)),
  h("td", {}, r.serviceName),
  h("td", { class: "body" }, r.body),
  h("td", {}, href ? h("a", { href, onclick: link(href), class: "trace-link" }, r.traceId.slice(0, 8)) : ""));
  return [row, details];
}

function attributesTable(title: string, values: Record<string, string>): HTMLElement | null {
  const keys = Object.keys(values).sort();
  if (!keys.length) return null;
  return h("div", {}, h("h3", {}, title), h("table", { class: "attributes" },
    h("tbody", {}, ...keys.map((k) => h("tr", {}, h("th", {}, k), h("td", {}, values[k]))))));
}

async function tail(filter: Omit<Partial<LogFilter>, "$typeName">, rows: HTMLElement, table: HTMLElement, results: HTMLElement, state: HTMLElement): Promise<void> {
  const stream = new AbortController();
  onLeave(() => stream.abort());
  const waiting = h("div", { class: "empty" }, h("p", {}, "Waiting for log records. They appear here about a second after they are stored."), ...sendHint("logs"));
  clear(results, waiting, table);
  let received = 0;
  state.textContent = "Connecting…";
  try {
    for await (const batch of query.tailLogs({ filter }, { signal: stream.signal })) {
      received += batch.logs.length;
      if (batch.logs.length) {
        waiting.remove();
        rows.prepend(...batch.logs.slice().reverse().flatMap(record));
        while (rows.children.length > MAX_LIVE_ROWS * 2) rows.lastElementChild!.remove();
      }
      state.textContent = `Live · ${received.toLocaleString()} records` + (batch.skipped ? ` (${batch.skipped} not shown: too many at once)` : "");
      state.className = "tail-state live";
    }
    state.textContent = "The tail ended; reload to start a new one";
    state.className = "tail-state muted";
  } catch (error) {
    if (stream.signal.aborted) return;
    state.textContent = errorText(error);
    state.className = "tail-state error";
  }
}
