// Time-series charts with uPlot: a line (or bars) per series, hover values in the legend,
// drag across the plot to zoom (the page then sets its time range to the selection), the
// theme's colors, values in their unit. Under each chart, its numbers as a table (opened on
// demand: a screen reader's view of the chart, and what the browser tests read).

import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { h, clear } from "./dom";

export interface Series {
  label: string;
  // [time in ms, value], oldest first
  points: [number, number][];
}

export interface ChartOptions {
  title: string;
  unit: string;
  series: Series[];
  // Called with the dragged range, in ms.
  onZoom?: (fromMs: number, toMs: number) => void;
  // The x axis' range in ms (the page's time range); default: the data's.
  range?: [number, number];
  bars?: boolean;
  // Bars stacked (the first series on top): the log volume by severity.
  stacked?: boolean;
  height?: number;
  // Horizontal lines at these values (an alert rule's threshold, or a band's low and high);
  // the y axis always shows them.
  thresholds?: number[];
  // Time ranges in ms shaded behind the lines (a backtest's would-be alerts).
  marked?: [number, number][];
}

export interface Chart {
  element: HTMLElement;
  // Replace the series (live updates).
  update(series: Series[]): void;
}

const PALETTE = ["#3558d4", "#e8743b", "#2f9e6a", "#c8322b", "#8a5cd0", "#b26b00", "#1f9bb4", "#d14d8f", "#6b7078", "#7aa33a"];
const SEVERITY_COLORS: Record<string, string> = {
  UNSET: "#9aa0aa", TRACE: "#9aa0aa", DEBUG: "#1f9bb4", INFO: "#2f9e6a", WARN: "#e0a020", ERROR: "#c8322b", FATAL: "#7a1712",
};

export function color(label: string, index: number): string {
  return SEVERITY_COLORS[label] ?? PALETTE[index % PALETTE.length];
}

// A value in its unit: durations (ms, s, ns), tokens, dollars, ratios (%), OTel's UCUM units.
export function formatValue(value: number | null | undefined, unit: string): string {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  switch (unit) {
    case "ms":
      return value < 1 ? `${(value * 1000).toFixed(0)} µs` : value < 1000 ? `${trim(value)} ms` : `${trim(value / 1000)} s`;
    case "s":
      return value < 1 ? formatValue(value * 1000, "ms") : `${trim(value)} s`;
    case "ns":
      return formatValue(value / 1e6, "ms");
    case "USD":
    case "usd":
      return value === 0 ? "$0" : Math.abs(value) < 0.01 ? `$${value.toFixed(4)}` : `$${value.toFixed(2)}`;
    case "ratio":
      return `${trim(value * 100)}%`;
    case "tokens":
      return `${compact(value)} tokens`;
    case "":
    case "1":
      return compact(value);
    default:
      return `${compact(value)} ${unit.replace(/[{}]/g, "")}`;
  }
}

function trim(value: number): string {
  return Math.abs(value) >= 100 ? value.toFixed(0) : Math.abs(value) >= 10 ? value.toFixed(1) : value.toFixed(2);
}

function compact(value: number): string {
  const abs = Math.abs(value);
  if (abs >= 1e9) return `${trim(value / 1e9)}G`;
  if (abs >= 1e6) return `${trim(value / 1e6)}M`;
  if (abs >= 1e4) return `${trim(value / 1e3)}k`;
  return Number.isInteger(value) ? value.toLocaleString() : trim(value);
}

// The series on one x axis (seconds, as uPlot wants): the union of their times, null where
// a series has no point.
function aligned(series: Series[], stacked = false): uPlot.AlignedData {
  const times = [...new Set(series.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b);
  const index = new Map(times.map((t, i) => [t, i]));
  const columns = series.map((s) => {
    const column: (number | null)[] = new Array(times.length).fill(null);
    for (const [t, v] of s.points) column[index.get(t)!] = v;
    return column;
  });
  if (stacked) {
    // Each series drawn as itself plus those after it: drawn in order, tallest first.
    for (let i = columns.length - 2; i >= 0; i--) {
      columns[i] = columns[i].map((v, k) => (v === null && columns[i + 1][k] === null ? null : (v ?? 0) + (columns[i + 1][k] ?? 0)));
    }
  }
  return [times.map((t) => t / 1000), ...columns] as uPlot.AlignedData;
}

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
}

// The y range over the data and the threshold lines, with a margin, so that a line far from
// the data is still drawn.
function yRange(min: number | null, max: number | null, lines: number[]): uPlot.Range.MinMax {
  const values = [...lines, ...[min, max].filter((v): v is number => v !== null && Number.isFinite(v))];
  const low = Math.min(...values, 0);
  const high = Math.max(...values);
  const pad = (high - low) * 0.1 || Math.abs(high) * 0.1 || 1;
  return [low < 0 ? low - pad : low, high + pad];
}

export function chart(options: ChartOptions): Chart {
  let series = options.series;
  const plotArea = h("div", { class: "plot" });
  const data = h("details", { class: "chart-data" }, h("summary", {}, "Data"));
  const element = h("figure", { class: "chart" }, h("figcaption", {}, options.title), plotArea, data);
  let plot: uPlot | null = null;

  function mark(): void {
    element.dataset.series = String(series.length);
    element.dataset.points = String(series.reduce((n, s) => n + s.points.length, 0));
    if (options.thresholds) element.dataset.thresholds = options.thresholds.join(",");
    if (options.marked) element.dataset.marked = String(options.marked.length);
  }

  // The threshold lines and the marked ranges, drawn on the plot's canvas over the series
  // (the ranges translucent).
  function overlay(u: uPlot): void {
    const ctx = u.ctx;
    const { left, top, width, height } = u.bbox;
    ctx.save();
    ctx.beginPath();
    ctx.rect(left, top, width, height);
    ctx.clip();
    ctx.fillStyle = "rgba(200, 50, 43, 0.12)";
    for (const [from, to] of options.marked ?? []) {
      const x0 = Math.max(left, u.valToPos(from / 1000, "x", true));
      const x1 = Math.min(left + width, u.valToPos(to / 1000, "x", true));
      if (x1 > x0) ctx.fillRect(x0, top, Math.max(x1 - x0, 2), height);
    }
    ctx.strokeStyle = "#c8322b";
    ctx.lineWidth = 1.5 * devicePixelRatio;
    ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
    for (const t of options.thresholds ?? []) {
      const y = u.valToPos(t, "y", true);
      ctx.beginPath();
      ctx.moveTo(left, y);
      ctx.lineTo(left + width, y);
      ctx.stroke();
    }
    ctx.restore();
  }

  function table(): void {
    const times = [...new Set(series.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b);
    const values = series.map((s) => new Map(s.points));
    clear(data, h("summary", {}, "Data"), h("table", { class: "chart-table" },
      h("thead", {}, h("tr", {}, h("th", {}, "Time"), ...series.map((s) => h("th", { class: "num" }, s.label || "all")))),
      h("tbody", {}, ...times.map((t) => h("tr", { "data-time": t },
        h("td", {}, new Date(t).toLocaleString(undefined, { hour12: false })),
        ...values.map((v) => h("td", { class: "num", "data-value": v.get(t) ?? "" }, formatValue(v.get(t), options.unit))))))));
  }
  data.addEventListener("toggle", () => { if (data.open) table(); });

  function ownValue(i: number, idx: number): number | null {
    const t = Math.round((plot?.data[0][idx] ?? 0) * 1000);
    return series[i].points.find((p) => p[0] === t)?.[1] ?? null;
  }

  function build(width: number): uPlot {
    const axis = { stroke: cssVar("--muted"), grid: { stroke: cssVar("--line"), width: 1 }, ticks: { stroke: cssVar("--line"), width: 1 } };
    const bars = options.bars ? uPlot.paths.bars!({ size: [0.8, 40] }) : undefined;
    const opts: uPlot.Options = {
      width,
      height: options.height ?? 200,
      cursor: { drag: { x: true, y: false, setScale: false } },
      select: { show: true, left: 0, top: 0, width: 0, height: 0 },
      scales: {
        x: options.range ? { time: true, range: [options.range[0] / 1000, options.range[1] / 1000] } : { time: true },
        ...(options.thresholds?.length ? { y: { range: (_u: uPlot, min: number, max: number) => yRange(min, max, options.thresholds!) } } : {}),
      },
      axes: [
        axis,
        // As wide as its longest label.
        { ...axis, size: (_u: uPlot, values: string[]) => (values?.length ? Math.max(...values.map((v) => v.length)) * 7 + 18 : 40), values: (_u, ticks) => ticks.map((v) => formatValue(v, options.unit === "tokens" ? "" : options.unit)) },
      ],
      series: [
        {},
        ...series.map((s, i) => ({
          label: s.label || "all",
          stroke: color(s.label, i),
          fill: options.bars ? color(s.label, i) + "cc" : undefined,
          width: 1.5,
          paths: bars,
          points: { show: !options.bars && s.points.length < 3 },
          spanGaps: false,
          // The legend shows a series' own value (not the stacked height).
          value: (_u: uPlot, v: number | null, _si: number, idx: number | null) =>
            formatValue(options.stacked && idx !== null ? ownValue(i, idx) : v, options.unit),
        })),
      ],
      hooks: {
        draw: [overlay],
        setSelect: [
          (u) => {
            if (u.select.width < 3 || !options.onZoom) return;
            const from = u.posToVal(u.select.left, "x") * 1000;
            const to = u.posToVal(u.select.left + u.select.width, "x") * 1000;
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            options.onZoom(Math.floor(from), Math.ceil(to));
          },
        ],
      },
    };
    return new uPlot(opts, aligned(series, options.stacked), plotArea);
  }

  // uPlot needs a width: the plot is built once the figure is laid out, and follows it.
  const observer = new ResizeObserver(() => {
    const width = plotArea.clientWidth;
    if (!width) return;
    if (!plot) plot = build(width);
    else if (Math.abs(plot.width - width) > 1) plot.setSize({ width, height: plot.height });
  });
  observer.observe(plotArea);
  mark();

  return {
    element,
    update(next: Series[]): void {
      const sameSeries = next.length === series.length && next.every((s, i) => s.label === series[i].label);
      series = next;
      mark();
      if (data.open) table();
      if (!plot) return;
      if (sameSeries) plot.setData(aligned(series, options.stacked));
      else {
        plot.destroy();
        plot = build(plotArea.clientWidth);
      }
    },
  };
}
