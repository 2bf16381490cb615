// The home page: requests (root spans), errors, latency, tokens and cost over the chosen
// range, by model, service or user (GetOverview: the server's rollups, not the browser
// summing rows), and the top sessions, users, models and operations by cost and by errors,
// each a link to its filtered search. Everything the page shows is in its URL.

import { h, clear } from "../dom";
import { query, errorText } from "../api";
import { chart, formatValue, type Series } from "../chart";
import { link } from "../main";
import { fillServices, nanos, params, rangeSelect, sendHint, timeRange, update, zoomTo } from "../state";
import { OverviewGroupBy, type GetOverviewResponse, type RequestGroup, type RequestStats, type TopEntry, type TopList } from "../gen/vigil/query/v1/query_pb";

const DEFAULT_RANGE = 24 * 3600;
const GROUPS: [string, string, OverviewGroupBy][] = [
  ["", "All", OverviewGroupBy.UNSPECIFIED],
  ["model", "By model", OverviewGroupBy.MODEL],
  ["service", "By service", OverviewGroupBy.SERVICE],
  ["user", "By user", OverviewGroupBy.USER],
];

export async function overviewPage(main: HTMLElement): Promise<void> {
  const p = params();
  const range = timeRange(DEFAULT_RANGE);
  const groupName = p.get("group") ?? "";
  const group = GROUPS.find((g) => g[0] === groupName) ?? GROUPS[0];
  const service = h("select", { name: "service", "aria-label": "Service" }, h("option", { value: "" }, "All services"));
  const grouping = h("select", { name: "group", "aria-label": "Split by" },
    ...GROUPS.map(([value, label]) => h("option", { value, selected: value === group[0] }, label)));
  grouping.addEventListener("change", () => update({ group: grouping.value }));
  service.addEventListener("change", () => update({ service: service.value }));
  const body = h("section", { class: "overview" }, h("p", { class: "muted" }, "Loading…"));
  clear(main, h("h1", {}, "Overview"), h("form", { class: "filters" }, rangeSelect(DEFAULT_RANGE), grouping, service), body);
  void fillServices(service, p.get("service") ?? "");

  let overview: GetOverviewResponse;
  try {
    overview = await query.getOverview({
      startTimeMinUnixNano: nanos(range.fromMs),
      startTimeMaxUnixNano: nanos(range.toMs),
      groupBy: group[2],
      serviceName: p.get("service") ?? "",
    });
  } catch (error) {
    clear(body, h("p", { class: "error" }, errorText(error)));
    return;
  }
  const usage = overview.usage!;
  if (!overview.requests?.requests && !usage.total?.calls) {
    clear(body, h("div", { class: "empty" }, h("p", {}, "No requests or LLM calls in this range."), ...sendHint("traces")));
    return;
  }
  const req = overview.requests!;
  const total = usage.total!;
  const stat = (name: string, label: string, value: number, unit: string, note = "") =>
    h("div", { class: "stat", "data-stat": name },
      h("div", { class: "label" }, label),
      h("div", { class: "value", "data-value": value }, formatValue(value, unit)),
      note ? h("div", { class: "note muted" }, note) : null);
  const stats = h("div", { class: "stats" },
    stat("requests", "Requests", Number(req.requests), ""),
    stat("errors", "Errors", Number(req.errors), "", `${formatValue(req.errorRate, "ratio")} of requests`),
    stat("p50", "Latency p50", Number(req.latencyP50Nano), "ns"),
    stat("p95", "Latency p95", Number(req.latencyP95Nano), "ns"),
    stat("p99", "Latency p99", Number(req.latencyP99Nano), "ns"),
    stat("llm-calls", "LLM calls", Number(total.calls), "", total.errors ? `${total.errors} failed` : ""),
    stat("input-tokens", "Input tokens", Number(total.inputTokens), ""),
    stat("output-tokens", "Output tokens", Number(total.outputTokens), ""),
    stat("cost", "Cost", total.costUsd, "usd", total.unpricedCalls ? `+ ${total.unpricedCalls} unpriced calls` : ""));

  const at = (t: bigint) => Number(t / 1_000_000n);
  const requestSeries = (pick: (s: RequestStats) => number, groups: RequestGroup[] = overview.requestGroups): Series[] =>
    groups.map((g) => ({ label: g.key, points: g.buckets.map((b) => [at(b.timeUnixNano), pick(b.stats!)] as [number, number]) }));
  const usageSeries = (pick: (s: NonNullable<typeof total>) => number): Series[] =>
    usage.groups.map((g) => ({ label: g.key || (group[0] ? "(none)" : ""), points: g.buckets.map((b) => [at(b.timeUnixNano), pick(b.stats!)] as [number, number]) }));
  const grouped = overview.requestGroups.length > 1 || group[2] === OverviewGroupBy.SERVICE || group[2] === OverviewGroupBy.USER;
  const latency: Series[] = grouped
    ? requestSeries((s) => Number(s.latencyP95Nano))
    : ["p50", "p95", "p99"].map((q) => ({
      label: q,
      points: (overview.requestGroups[0]?.buckets ?? []).map((b) => [at(b.timeUnixNano),
        Number(q === "p50" ? b.stats!.latencyP50Nano : q === "p95" ? b.stats!.latencyP95Nano : b.stats!.latencyP99Nano)] as [number, number]),
    }));
  const zoom = (from: number, to: number) => zoomTo(from, to);
  const span: [number, number] = [at(overview.startTimeMinUnixNano), range.toMs];
  const charts = h("div", { class: "charts" },
    chart({ title: "Requests", unit: "", series: requestSeries((s) => Number(s.requests)), onZoom: zoom, range: span, bars: true }).element,
    chart({ title: "Error rate", unit: "ratio", series: requestSeries((s) => s.errorRate), onZoom: zoom, range: span }).element,
    chart({ title: grouped ? "Latency p95" : "Latency", unit: "ns", series: latency, onZoom: zoom, range: span }).element,
    chart({ title: "Input tokens", unit: "tokens", series: usageSeries((s) => Number(s.inputTokens)), onZoom: zoom, range: span }).element,
    chart({ title: "Output tokens", unit: "tokens", series: usageSeries((s) => Number(s.outputTokens)), onZoom: zoom, range: span }).element,
    chart({ title: "Cost", unit: "usd", series: usageSeries((s) => s.costUsd), onZoom: zoom, range: span, bars: !group[0] }).element);
  const tops = h("div", { class: "tops" }, ...overview.top.map((t) => topList(t)));
  clear(body, stats, charts, h("h2", {}, "Top"), tops);
}


// Where an entry's link goes: its filtered search, over the page's range.
function target(list: string, entry: TopEntry, errors: boolean): string {
  const p = params();
  const keep = new URLSearchParams();
  for (const key of ["range", "from", "to", "service"]) if (p.get(key)) keep.set(key, p.get(key)!);
  if (errors) keep.set("status", "Error");
  switch (list) {
    case "sessions":
      return `/sessions/${encodeURIComponent(entry.key)}`;
    case "users":
      keep.set("attribute", `user.id=${entry.key}`);
      break;
    case "models":
      keep.set("attribute", `gen_ai.request.model=${entry.key}`);
      break;
    default:
      keep.set("operation", entry.key);
  }
  return `/traces?${keep}`;
}

function topList(list: TopList): HTMLElement {
  const noun = list.name === "operations" ? "requests" : "calls";
  const rows = (entries: TopEntry[], errors: boolean) => entries.length
    ? h("table", { class: `top ${errors ? "by-errors" : "by-cost"}` }, h("tbody", {}, ...entries.map((e) => {
      const href = target(list.name, e, errors);
      return h("tr", {},
        h("td", {}, h("a", { href, onclick: link(href) }, e.key)),
        h("td", { class: "num" }, errors ? `${e.errors} errors` : formatValue(e.costUsd, "usd") + (e.unpricedCalls ? ` + ${e.unpricedCalls} unpriced` : "")),
        h("td", { class: "num muted" }, `${e.count} ${noun}`));
    })))
    : h("p", { class: "muted" }, errors ? "No errors." : "No cost recorded.");
  return h("section", { class: `top-list ${list.name}` },
    h("h3", {}, list.name),
    list.name === "operations" ? null : h("h4", {}, "By cost"),
    list.name === "operations" ? null : rows(list.byCost, false),
    h("h4", {}, "By errors"),
    rows(list.byErrors, true));
}
