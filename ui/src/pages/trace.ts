// A trace: a waterfall (collapsible tree with timing bars, orphans and cycles marked,
// virtualized: only the rows in view are in the DOM) and the panel of the selected span.

import { h, clear } from "../dom";
import { query, errorText } from "../api";
import { duration, time } from "../format";
import type { LogRecord, SpanNode } from "../gen/vigil/query/v1/query_pb";
import { severityName } from "./logs";
import { spanPanel } from "./span";

const ROW_HEIGHT = 26;
// Deeper levels keep this indent (and say their depth), so labels stay in view in deep trees.
const MAX_INDENT_DEPTH = 16;

export async function tracePage(main: HTMLElement, traceId: string): Promise<void> {
  clear(main, h("p", { class: "muted" }, "Loading trace…"));
  const nodes: SpanNode[] = [];
  const traceLogs: LogRecord[] = [];
  try {
    // StreamTrace: every page of the trace, in depth-first order, from one view of it.
    for await (const page of query.streamTrace({ traceId })) {
      nodes.push(...page.spans);
      traceLogs.push(...page.logs);
    }
  } catch (error) {
    clear(main, h("h1", {}, "Trace ", h("code", {}, traceId)), h("p", { class: "error" }, errorText(error)));
    return;
  }
  const start = nodes.reduce((m, n) => (n.span!.startTimeUnixNano < m ? n.span!.startTimeUnixNano : m), nodes[0].span!.startTimeUnixNano);
  const end = nodes.reduce((m, n) => {
    const e = n.span!.startTimeUnixNano + n.span!.durationNano;
    return e > m ? e : m;
  }, 0n);
  const total = Number(end - start) || 1;
  const collapsed = new Set<string>();
  const panel = h("aside", { class: "span-panel" }, h("p", { class: "muted" }, "Select a span."));
  const viewport = h("div", { class: "waterfall", tabindex: 0, role: "tree", "aria-label": "Spans" });
  const spacer = h("div", { class: "spacer" });
  const rows = h("div", { class: "rows" });
  viewport.append(spacer, rows);
  let visible: SpanNode[] = [];
  let selected = -1;

  function recompute(): void {
    visible = [];
    let hideBelow = -1;
    for (const node of nodes) {
      if (hideBelow >= 0 && node.depth > hideBelow) continue;
      hideBelow = collapsed.has(node.span!.spanId) ? node.depth : -1;
      visible.push(node);
    }
    spacer.style.height = `${visible.length * ROW_HEIGHT}px`;
    draw();
  }

  function draw(): void {
    const first = Math.max(0, Math.floor(viewport.scrollTop / ROW_HEIGHT) - 10);
    const last = Math.min(visible.length, first + Math.ceil(viewport.clientHeight / ROW_HEIGHT) + 20);
    rows.style.transform = `translateY(${first * ROW_HEIGHT}px)`;
    clear(rows, ...visible.slice(first, last).map((node, i) => row(node, first + i)));
  }

  function row(node: SpanNode, index: number): HTMLElement {
    const span = node.span!;
    const left = (Number(span.startTimeUnixNano - start) / total) * 100;
    const width = Math.max((Number(span.durationNano) / total) * 100, 0.2);
    const hasChildren = node.childSpanIds.length > 0;
    const toggle = h("button", {
      class: "toggle",
      "aria-label": collapsed.has(span.spanId) ? "Expand" : "Collapse",
      onclick: (e: Event) => {
        e.stopPropagation();
        if (collapsed.has(span.spanId)) collapsed.delete(span.spanId);
        else collapsed.add(span.spanId);
        recompute();
      },
    }, hasChildren ? (collapsed.has(span.spanId) ? "▸" : "▾") : "");
    return h("div", {
      class: `row${index === selected ? " selected" : ""}${span.statusCode === "Error" ? " error" : ""}`,
      role: "treeitem",
      "data-span-id": span.spanId,
      style: `height:${ROW_HEIGHT}px`,
      onclick: () => select(index),
    },
      h("div", { class: "label", style: `padding-left:${Math.min(node.depth, MAX_INDENT_DEPTH) * 14 + 4}px` },
        node.depth > MAX_INDENT_DEPTH ? h("span", { class: "depth", title: "Depth in the tree" }, `${node.depth}`) : null,
        toggle,
        h("span", { class: "name" }, span.name),
        h("span", { class: "service" }, span.serviceName),
        node.orphan ? h("span", { class: "badge warn", title: "Its parent span never arrived" }, "orphan") : null,
        node.cycle ? h("span", { class: "badge warn", title: "Its stored parent link closed a cycle" }, "cycle") : null),
      h("div", { class: "timeline" },
        h("div", { class: "bar", style: `left:${left}%;width:${width}%` }),
        h("span", { class: "dur" }, duration(span.durationNano))),
    );
  }

  function select(index: number): void {
    selected = index;
    draw();
    const node = visible[index];
    if (node) clear(panel, spanPanel(node));
  }

  viewport.addEventListener("scroll", () => requestAnimationFrame(draw));
  viewport.addEventListener("keydown", (event: KeyboardEvent) => {
    if (event.key === "ArrowDown" || event.key === "j") select(Math.min(visible.length - 1, selected + 1));
    else if (event.key === "ArrowUp" || event.key === "k") select(Math.max(0, selected - 1));
    else if (event.key === "ArrowLeft" || event.key === "ArrowRight") {
      const span = visible[selected]?.span;
      if (!span || !visible[selected].childSpanIds.length) return;
      if (event.key === "ArrowLeft") collapsed.add(span.spanId);
      else collapsed.delete(span.spanId);
      recompute();
    } else return;
    event.preventDefault();
    const top = selected * ROW_HEIGHT;
    if (top < viewport.scrollTop || top > viewport.scrollTop + viewport.clientHeight - ROW_HEIGHT) viewport.scrollTop = top - viewport.clientHeight / 2;
  });

  // The trace's log records in place: each under its span's name (a click selects the span),
  // those that name no span of the trace as the trace's own.
  const names = new Map(nodes.map((n) => [n.span!.spanId, n.span!.name]));
  const logs = [...nodes.flatMap((n) => n.logs), ...traceLogs].sort((a, b) => (a.timeUnixNano < b.timeUnixNano ? -1 : 1));
  const logSection = logs.length
    ? h("section", { class: "trace-logs" }, h("h3", {}, `Logs (${logs.length})`),
      ...logs.map((l) => h("div", { class: `log sev-${severityName(l.severityNumber).toLowerCase()}` },
        h("span", { class: "muted" }, time(l.timeUnixNano), " "),
        h("span", { class: `badge severity ${severityName(l.severityNumber).toLowerCase()}` }, l.severityText || severityName(l.severityNumber)),
        " ",
        names.has(l.spanId)
          ? h("button", { class: "linkish", onclick: () => selectSpan(l.spanId) }, names.get(l.spanId)!)
          : h("span", { class: "muted" }, "(trace)"),
        " ", l.body)))
    : null;

  function selectSpan(spanId: string): void {
    let index = visible.findIndex((n) => n.span!.spanId === spanId);
    if (index < 0) {
      collapsed.clear();
      recompute();
      index = visible.findIndex((n) => n.span!.spanId === spanId);
    }
    if (index < 0) return;
    select(index);
    viewport.scrollTop = Math.max(0, index * ROW_HEIGHT - viewport.clientHeight / 2);
  }

  const root = nodes[0].span!;
  clear(main,
    h("h1", {}, root.name, " ", h("code", { class: "muted" }, traceId)),
    h("p", { class: "muted" }, `${nodes.length} spans · ${duration(end - start)} · started ${time(start)}`),
    h("div", { class: "trace-layout" }, viewport, panel),
    logSection);
  recompute();
  select(0);
  // A link to a span of the trace (from a log record) opens with it selected.
  const wanted = new URLSearchParams(window.location.search).get("span");
  if (wanted) selectSpan(wanted.toLowerCase());
}
