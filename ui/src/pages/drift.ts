// Drift: PSI of a metric per group, the current window against the baseline; for a group,
// both windows' histograms over the returned bins, with p50 and p95.

import { h, clear } from "../dom";
import { query, errorText } from "../api";
import type { DriftGroup } from "../gen/vigil/query/v1/query_pb";

const METRICS: [string, string][] = [["duration", "Duration"], ["input_tokens", "Input tokens"], ["output_tokens", "Output tokens"]];

export async function driftPage(main: HTMLElement): Promise<void> {
  const metric = h("select", { name: "metric", "aria-label": "Metric" }, ...METRICS.map(([v, l]) => h("option", { value: v }, l)));
  const groups = h("section", { class: "drift-groups" });
  const detail = h("section", { class: "drift-detail" });
  const form = h("form", { class: "filters", onsubmit: (e: Event) => { e.preventDefault(); void load(); } },
    metric, h("button", { type: "submit" }, "Measure"));
  clear(main, h("h1", {}, "Drift"), h("p", { class: "muted" }, "The last hour against the 24 hours before it, per service and operation."),
    form, h("div", { class: "drift-layout" }, groups, detail));

  async function load(): Promise<void> {
    try {
      const answer = await query.getDrift({ metric: metric.value });
      if (!answer.groups.length) {
        clear(groups, h("p", { class: "empty" }, "No spans to compare yet: drift needs spans in the last hour and in the day before."));
        clear(detail);
        return;
      }
      clear(groups, h("table", { class: "drift" },
        h("thead", {}, h("tr", {}, h("th", {}, "Group"), h("th", { class: "num" }, "PSI"), h("th", {}, "Severity"))),
        h("tbody", {}, ...answer.groups.map((g, i) => h("tr", {
          class: `severity-${g.severity}`, tabindex: 0,
          onclick: () => show(g, answer.unit, answer.groupBy), onkeydown: (e: Event) => { if ((e as KeyboardEvent).key === "Enter") show(g, answer.unit, answer.groupBy); },
          "data-index": i,
        },
          h("td", {}, label(g, answer.groupBy)),
          h("td", { class: "num" }, g.severity === "insufficient_data" ? "" : g.psi.toFixed(3)),
          h("td", {}, h("span", { class: `badge sev ${g.severity}` }, g.severity.replace("_", " ")))))),
      ));
      show(answer.groups[0], answer.unit, answer.groupBy);
    } catch (error) {
      clear(groups, h("p", { class: "error" }, errorText(error)));
    }
  }

  function show(g: DriftGroup, unit: string, groupBy: string[]): void {
    // One scale for both windows, so that their bars compare.
    const peak = Math.max(...g.baselineProportions, ...g.currentProportions, 0.0001);
    clear(detail,
      h("h2", {}, label(g, groupBy)),
      h("p", { class: "muted" }, `PSI ${g.psi.toFixed(3)} (${g.severity.replace("_", " ")}) · baseline ${g.baselineCount} spans, current ${g.currentCount}`),
      histogram("Baseline", g.baselineProportions, g.binEdges, unit, g.baselineP50, g.baselineP95, "baseline", peak),
      histogram("Current", g.currentProportions, g.binEdges, unit, g.currentP50, g.currentP95, "current", peak),
      h("p", { class: "muted" }, `Bins: the baseline's quantiles (${g.binEdges.length + 1} bins, edges ${g.binEdges.map(fmt).join(", ")} ${unit}).`));
  }

  await load();
}

// The group's values in the order of its keys (a map's own order is not defined).
function label(g: DriftGroup, groupBy: string[]): string {
  return groupBy.map((key) => g.group[key] ?? "").join(" · ");
}

function histogram(
  title: string, proportions: number[], edges: number[], unit: string, p50: number, p95: number, kind: string, peak: number,
): HTMLElement {
  const width = 420, height = 140, gap = 2;
  const bar = (width - gap * proportions.length) / Math.max(proportions.length, 1);
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height + 18}`);
  svg.setAttribute("class", `histogram ${kind}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `${title} histogram`);
  proportions.forEach((p, i) => {
    const rect = document.createElementNS("http://www.w3.org/2000/svg", "rect");
    const tall = (p / peak) * height;
    rect.setAttribute("x", String(i * (bar + gap)));
    rect.setAttribute("y", String(height - tall));
    rect.setAttribute("width", String(bar));
    rect.setAttribute("height", String(tall));
    const label = i === 0 ? `≤ ${fmt(edges[0])}` : i === edges.length ? `> ${fmt(edges[edges.length - 1])}` : `${fmt(edges[i - 1])}–${fmt(edges[i])}`;
    const tip = document.createElementNS("http://www.w3.org/2000/svg", "title");
    tip.textContent = `${label} ${unit}: ${(p * 100).toFixed(1)}%`;
    rect.append(tip);
    svg.append(rect);
  });
  return h("figure", {}, svg, h("figcaption", {}, `${title}: p50 ${fmt(p50)} ${unit}, p95 ${fmt(p95)} ${unit}`));
}

function fmt(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return "";
  return Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3);
}
