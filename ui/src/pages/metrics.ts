// Metrics: the names seen in the range (ListMetrics: type, unit, description, services), and
// the chosen one over time with the aggregation its type takes (gauge: last/avg/max; sum:
// rate/increase; histogram: p50/p95/p99/mean from the buckets), filtered by an attribute and
// split by one (a line per value, the top N). Live (live=1) appends the points as they
// arrive through a server stream (StreamMetrics), without polling from the page.

import { h, clear } from "../dom";
import { query, errorText } from "../api";
import { chart, type Chart, type Series } from "../chart";
import { onLeave } from "../main";
import { nanos, params, rangeSelect, sendHint, timeRange, update, zoomTo } from "../state";
import { Aggregation, MetricType, type MetricDescriptor, type MetricSeries, type QueryMetricsRequest } from "../gen/vigil/query/v1/query_pb";

const DEFAULT_RANGE = 3600;
const LIVE_RANGE = 15 * 60;
const DEFAULT_TOP = 10;
const TYPE_NAMES: Record<number, string> = {
  [MetricType.GAUGE]: "gauge", [MetricType.SUM]: "sum", [MetricType.HISTOGRAM]: "histogram",
  [MetricType.EXPONENTIAL_HISTOGRAM]: "exp. histogram", [MetricType.SUMMARY]: "summary",
};
const AGGREGATIONS: Record<string, Aggregation> = {
  last: Aggregation.LAST, avg: Aggregation.AVG, max: Aggregation.MAX, min: Aggregation.MIN, sum: Aggregation.SUM,
  rate: Aggregation.RATE, increase: Aggregation.INCREASE,
  p50: Aggregation.P50, p90: Aggregation.P90, p95: Aggregation.P95, p99: Aggregation.P99, mean: Aggregation.MEAN,
};

// The aggregations a metric takes, the first its default.
function aggregationsOf(m: MetricDescriptor): string[] {
  switch (m.type) {
    case MetricType.GAUGE:
      return ["last", "avg", "max", "min"];
    case MetricType.SUM:
      return m.isMonotonic ? ["rate", "increase", "last"] : ["last", "avg", "max", "min"];
    case MetricType.HISTOGRAM:
    case MetricType.EXPONENTIAL_HISTOGRAM:
      return ["p95", "p50", "p99", "p90", "mean"];
    default:
      return [];
  }
}

export async function metricsPage(main: HTMLElement): Promise<void> {
  const p = params();
  const live = p.get("live") === "1";
  const range = timeRange(live ? LIVE_RANGE : DEFAULT_RANGE);
  const list = h("nav", { class: "metric-list", "aria-label": "Metrics" }, h("p", { class: "muted" }, "Loading…"));
  const view = h("section", { class: "metric-view" });
  clear(main, h("h1", {}, "Metrics"), h("div", { class: "metrics-layout" }, list, view));

  let metrics: MetricDescriptor[];
  try {
    metrics = (await query.listMetrics({ startTimeMinUnixNano: nanos(range.fromMs), startTimeMaxUnixNano: nanos(range.toMs) })).metrics;
  } catch (error) {
    clear(list, h("p", { class: "error" }, errorText(error)));
    return;
  }
  if (!metrics.length) {
    clear(main, h("h1", {}, "Metrics"), h("form", { class: "filters" }, rangeSelect(DEFAULT_RANGE)),
      h("div", { class: "empty" }, h("p", {}, "No metrics in this range."), ...sendHint("metrics")));
    return;
  }
  // One entry per name and type, with every service that sends it.
  const byName = new Map<string, { m: MetricDescriptor; services: string[]; keys: Set<string> }>();
  for (const m of metrics) {
    const key = `${m.name}\u0000${m.type}`;
    const entry = byName.get(key) ?? { m, services: [], keys: new Set<string>() };
    entry.services.push(m.serviceName);
    m.attributeKeys.forEach((k) => entry.keys.add(k));
    byName.set(key, entry);
  }
  const wanted = p.get("metric") ?? "";
  const filterBox = h("input", { type: "search", placeholder: "Filter names", "aria-label": "Filter metric names" });
  const items = [...byName.values()].map(({ m, services }) => {
    const item = h("a", {
      href: "#",
      class: `metric-item${m.name === wanted ? " active" : ""}`,
      "data-metric": m.name,
      onclick: (e: Event) => { e.preventDefault(); update({ metric: m.name, mtype: m.type, agg: null, split: null, filter: null }); },
    },
    h("span", { class: "name" }, m.name),
    h("span", { class: "meta muted" }, `${TYPE_NAMES[m.type] ?? "?"}${m.unit ? ` · ${m.unit}` : ""} · ${services.join(", ")}`),
    m.description ? h("span", { class: "desc muted" }, m.description) : null);
    return item;
  });
  filterBox.addEventListener("input", () => {
    const needle = filterBox.value.toLowerCase();
    for (const item of items) item.hidden = !item.dataset.metric!.toLowerCase().includes(needle);
  });
  clear(list, filterBox, ...items);

  const chosen = [...byName.values()].find((e) => e.m.name === wanted && (!p.get("mtype") || String(e.m.type) === p.get("mtype")));
  if (!chosen) {
    clear(view, h("p", { class: "muted" }, wanted ? `No points of ${wanted} in this range.` : "Choose a metric."));
    return;
  }
  const m = chosen.m;
  const choices = aggregationsOf(m);
  if (!choices.length) {
    clear(view, h("h2", {}, m.name), h("p", { class: "muted" }, `A ${TYPE_NAMES[m.type]} has no chart here yet.`));
    return;
  }
  const agg = choices.includes(p.get("agg") ?? "") ? p.get("agg")! : choices[0];
  const keys = [...chosen.keys].sort();
  const split = p.get("split") ?? "";
  const top = Number(p.get("top")) || DEFAULT_TOP;
  const aggregation = h("select", { name: "agg", "aria-label": "Aggregation" }, ...choices.map((a) => h("option", { value: a, selected: a === agg }, a)));
  const splitBy = h("select", { name: "split", "aria-label": "Split by" }, h("option", { value: "" }, "No split"),
    ...keys.map((k) => h("option", { value: k, selected: k === split }, `by ${k}`)));
  const filter = h("input", { name: "filter", placeholder: "attribute=value", "aria-label": "Attribute filter", value: p.get("filter") ?? "" });
  const topN = h("input", { name: "top", type: "number", min: 1, max: 100, value: top, "aria-label": "Top N series", class: "narrow" });
  const toggle = h("button", { type: "button", class: `live-toggle${live ? " on" : ""}`, onclick: () => update({ live: live ? null : "1", from: null, to: null }) },
    live ? "Stop live" : "Live");
  const state = h("span", { class: "tail-state muted", role: "status" });
  const form = h("form", { class: "filters", onsubmit: (e: Event) => {
    e.preventDefault();
    update({ agg: aggregation.value, split: splitBy.value, filter: filter.value.trim(), top: topN.value === String(DEFAULT_TOP) ? null : topN.value });
  } },
  live ? null : rangeSelect(DEFAULT_RANGE), aggregation, splitBy, filter, topN, h("button", { type: "submit" }, "Apply"), toggle, state);
  for (const input of [aggregation, splitBy]) input.addEventListener("change", () => form.requestSubmit());
  const area = h("div", { class: "metric-chart" }, h("p", { class: "muted" }, "Loading…"));
  clear(view,
    h("h2", {}, m.name, " ", h("span", { class: "muted" }, `${TYPE_NAMES[m.type]}${m.unit ? ` · ${m.unit}` : ""}`)),
    m.description ? h("p", { class: "muted" }, m.description) : null,
    h("p", { class: "muted" }, `Sent by ${chosen.services.join(", ")}`),
    form, area);

  const attributes: Record<string, string> = {};
  const [key, ...value] = (p.get("filter") ?? "").split("=");
  if (key.trim() && value.length) attributes[key.trim()] = value.join("=").trim();
  const request: Omit<Partial<QueryMetricsRequest>, "$typeName"> = {
    metricName: m.name,
    type: m.type,
    aggregation: AGGREGATIONS[agg],
    attributes,
    groupBy: split ? [split] : [],
    maxSeries: top,
    startTimeMinUnixNano: nanos(range.fromMs),
    startTimeMaxUnixNano: live ? 0n : nanos(range.toMs),
  };
  const unit = agg === "rate" ? `${m.unit || ""}/s` : m.unit;
  const title = `${agg}${split ? ` by ${split}` : ""}`;
  const label = (s: MetricSeries) => (split ? s.group[split] || "(none)" : "");
  const toSeries = (all: MetricSeries[]): Series[] =>
    all.map((s) => ({ label: label(s), points: s.points.map((pt) => [Number(pt.timeUnixNano / 1_000_000n), pt.value] as [number, number]) }));

  if (!live) {
    try {
      const answer = await query.queryMetrics(request);
      const drawn = chart({ title, unit, series: toSeries(answer.series), onZoom: zoomTo, height: 280, range: [range.fromMs, range.toMs] });
      clear(area, drawn.element, answer.truncated ? h("p", { class: "muted" }, `The ${top} largest series are shown.`) : null);
    } catch (error) {
      clear(area, h("p", { class: "error" }, errorText(error)));
    }
    return;
  }

  // Live: the first answer is the range so far; each later one the latest buckets again
  // (a bucket's new value replaces its old one) and the new ones.
  const stream = new AbortController();
  onLeave(() => stream.abort());
  const points = new Map<string, Map<number, number>>();
  let drawn: Chart | null = null;
  state.textContent = "Connecting…";
  try {
    for await (const { metrics: answer } of query.streamMetrics({ query: request }, { signal: stream.signal })) {
      for (const s of toSeries(answer?.series ?? [])) {
        const known = points.get(s.label) ?? new Map<number, number>();
        for (const [t, v] of s.points) known.set(t, v);
        points.set(s.label, known);
      }
      const series = [...points].map(([l, known]) => ({ label: l, points: [...known].sort((a, b) => a[0] - b[0]) }));
      if (!drawn) {
        drawn = chart({ title, unit, series, height: 280 });
        clear(area, drawn.element);
      } else drawn.update(series);
      const last = Math.max(0, ...series.flatMap((s) => s.points.map((pt) => pt[0])));
      state.textContent = `Live · latest bucket ${last ? new Date(last).toLocaleTimeString(undefined, { hour12: false }) : "–"}`;
      state.className = "tail-state live";
    }
    state.textContent = "The stream ended; reload to start a new one";
    state.className = "tail-state muted";
  } catch (error) {
    if (stream.signal.aborted) return;
    state.textContent = errorText(error);
    state.className = "tail-state error";
  }
}
