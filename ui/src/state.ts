// A page's state lives in its URL's query string (time range, filters, split), so a link
// reproduces the view and the back button goes to the view before. A change pushes a new
// URL and the page is drawn again from it.

import { h } from "./dom";
import { query } from "./api";
import { navigate } from "./main";

export const RANGES: [string, number][] = [
  ["Last 15 minutes", 15 * 60],
  ["Last hour", 3600],
  ["Last 6 hours", 6 * 3600],
  ["Last 24 hours", 24 * 3600],
  ["Last 7 days", 7 * 24 * 3600],
];

export function params(): URLSearchParams {
  return new URLSearchParams(window.location.search);
}

// Go to this page with these parameters (empty values left out).
export function update(changes: Record<string, string | number | null | undefined>, base?: URLSearchParams): void {
  const next = new URLSearchParams(base ?? params());
  for (const [key, value] of Object.entries(changes)) {
    if (value === null || value === undefined || value === "") next.delete(key);
    else next.set(key, String(value));
  }
  const query = next.toString();
  navigate(window.location.pathname + (query ? `?${query}` : ""));
}

export interface TimeRange {
  fromMs: number;
  toMs: number;
  // Relative ("the last N seconds"), or absolute (a zoom: from/to in the URL).
  relative: boolean;
}

// The URL's range: from/to (ms) when set, else range (seconds before now).
export function timeRange(defaultSeconds: number): TimeRange {
  const p = params();
  const from = Number(p.get("from"));
  const to = Number(p.get("to"));
  if (from > 0 && to > from) return { fromMs: from, toMs: to, relative: false };
  const seconds = Number(p.get("range")) || defaultSeconds;
  const now = Date.now();
  return { fromMs: now - seconds * 1000, toMs: now, relative: true };
}

export function nanos(ms: number): bigint {
  return BigInt(Math.round(ms)) * 1_000_000n;
}

// The zoom: an absolute range replaces the relative one.
export function zoomTo(fromMs: number, toMs: number): void {
  update({ from: Math.floor(fromMs), to: Math.ceil(toMs), range: null });
}

// A select of the preset ranges; with a zoomed range, an option that says so.
export function rangeSelect(defaultSeconds: number): HTMLSelectElement {
  const p = params();
  const range = timeRange(defaultSeconds);
  const chosen = Number(p.get("range")) || defaultSeconds;
  const select = h("select", { name: "range", "aria-label": "Time range" },
    range.relative ? null : h("option", { value: "zoom", selected: true },
      `${new Date(range.fromMs).toLocaleString(undefined, { hour12: false })} – ${new Date(range.toMs).toLocaleString(undefined, { hour12: false })}`),
    ...RANGES.map(([label, seconds]) => h("option", { value: seconds, selected: range.relative && seconds === chosen }, label)));
  select.addEventListener("change", () => {
    if (select.value !== "zoom") update({ range: select.value, from: null, to: null });
  });
  return select;
}

// How to send a signal: shown where a page has nothing to show.
export function sendHint(signal: "traces" | "logs" | "metrics"): HTMLElement[] {
  return [
    h("p", {}, `Point any OpenTelemetry SDK or Collector at Vigil to send ${signal}:`),
    h("pre", {}, [
      "export OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4317   # gRPC (or :4318 for HTTP)",
      "export OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
      "export OTEL_SERVICE_NAME=my-agent",
      signal === "logs" ? "export OTEL_LOGS_EXPORTER=otlp\nexport OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED=true" : "",
      signal === "metrics" ? "export OTEL_METRICS_EXPORTER=otlp\nexport OTEL_METRIC_EXPORT_INTERVAL=10000" : "",
      "opentelemetry-instrument python my_agent.py",
    ].filter(Boolean).join("\n")),
  ];
}

// The services seen (GetServices) into a select, the URL's one chosen (kept even if unseen).
export async function fillServices(select: HTMLSelectElement, wanted: string): Promise<void> {
  try {
    const services = await query.getServices({});
    select.append(...services.services.map((s) => h("option", { value: s, selected: s === wanted }, s)));
  } catch {
    // the page's own call says what went wrong
  }
  if (wanted && select.value !== wanted) select.append(h("option", { value: wanted, selected: true }, wanted));
}
