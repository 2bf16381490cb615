// Trace search: filters → a table of traces (root span, service, start, duration, spans,
// errors, tokens, cost), newest first, paged.

import { h, clear } from "../dom";
import { query, errorText } from "../api";
import { count, duration, time, usd } from "../format";
import { link } from "../main";
import { nanos, params, rangeSelect, sendHint, timeRange, update } from "../state";
import type { TraceSummary } from "../gen/vigil/query/v1/query_pb";

const DEFAULT_RANGE = 24 * 3600;

export async function searchPage(main: HTMLElement): Promise<void> {
  // The filters are the URL's (a link from the overview, the back button); Search puts them there.
  const p = params();
  const service = h("select", { name: "service", "aria-label": "Service" }, h("option", { value: "" }, "All services"));
  const range = rangeSelect(DEFAULT_RANGE);
  const status = h("select", { name: "status", "aria-label": "Status" },
    h("option", { value: "" }, "Any status"), h("option", { value: "Error", selected: p.get("status") === "Error" }, "Errors"));
  const operation = h("input", { name: "operation", placeholder: "Operation (span name)", "aria-label": "Operation", value: p.get("operation") ?? "" });
  const attribute = h("input", { name: "attribute", placeholder: "attribute=value", "aria-label": "Attribute", value: p.get("attribute") ?? "" });
  const minDuration = h("input", { name: "min_ms", type: "number", min: 0, placeholder: "Min ms", "aria-label": "Minimum duration in ms", value: p.get("min_ms") ?? "" });
  const results = h("section", { class: "results" });
  let pageToken = "";

  async function search(more = false): Promise<void> {
    if (!more) pageToken = "";
    const when = timeRange(DEFAULT_RANGE);
    const attributes: Record<string, string> = {};
    const [key, ...value] = attribute.value.split("=");
    if (key.trim() && value.length) attributes[key.trim()] = value.join("=").trim();
    try {
      const page = await query.searchTraces({
        filter: {
          serviceName: service.value,
          spanName: operation.value.trim(),
          statusCode: status.value,
          attributes,
          durationMinNano: BigInt(Math.round(Number(minDuration.value || 0) * 1e6)),
          startTimeMinUnixNano: nanos(when.fromMs),
          startTimeMaxUnixNano: nanos(when.toMs + (when.relative ? 60_000 : 0)),
        },
        pageSize: 50,
        pageToken,
      });
      pageToken = page.nextPageToken;
      show(page.traces, more);
    } catch (error) {
      clear(results, h("p", { class: "error" }, errorText(error)));
    }
  }

  function show(traces: TraceSummary[], more: boolean): void {
    let table = results.querySelector("table");
    if (!more || !table) {
      if (!traces.length) {
        clear(results, emptyState());
        return;
      }
      table = h("table", { class: "traces" },
        h("thead", {}, h("tr", {}, ...["Root span", "Service", "Start"].map((c) => h("th", {}, c)),
          ...["Duration", "Spans", "Errors", "Tokens in / out", "Cost"].map((c) => h("th", { class: "num" }, c)))),
        h("tbody"));
      clear(results, table);
    }
    const body = table.querySelector("tbody")!;
    for (const t of traces) {
      const href = `/traces/${t.traceId}`;
      body.append(h("tr", { class: t.errorCount ? "has-error" : "" },
        h("td", {}, h("a", { href, onclick: link(href) }, t.rootSpanName || t.traceId)),
        h("td", {}, t.rootServiceName),
        h("td", {}, time(t.startTimeUnixNano)),
        h("td", { class: "num" }, duration(t.durationNano)),
        h("td", { class: "num" }, count(t.spanCount)),
        h("td", { class: "num" }, t.errorCount ? count(t.errorCount) : ""),
        h("td", { class: "num" }, t.inputTokens || t.outputTokens ? `${count(t.inputTokens)} / ${count(t.outputTokens)}` : ""),
        h("td", { class: "num" }, t.llmCalls ? usd(t.costUsd, t.unpricedCalls) : ""),
      ));
    }
    results.querySelector(".more")?.remove();
    if (pageToken) results.append(h("button", { class: "more", onclick: () => void search(true) }, "More traces"));
  }

  const form = h("form", { class: "filters", onsubmit: (e: Event) => {
    e.preventDefault();
    update({ service: service.value, operation: operation.value.trim(), status: status.value, attribute: attribute.value.trim(), min_ms: minDuration.value });
  } },
    service, operation, range, status, minDuration, attribute, h("button", { type: "submit" }, "Search"));
  clear(main, h("h1", {}, "Traces"), form, results);
  try {
    const services = await query.getServices({});
    service.append(...services.services.map((s) => h("option", { value: s }, s)));
  } catch {
    // The search below says what went wrong.
  }
  const wanted = p.get("service") ?? "";
  if (wanted && ![...service.options].some((o) => o.value === wanted)) service.append(h("option", { value: wanted }, wanted));
  service.value = wanted;
  await search();
}

function emptyState(): HTMLElement {
  return h("div", { class: "empty" },
    h("p", {}, "No traces match in this range. Send one with the Vigil SDK:"),
    h("pre", {}, [
      "# in the Vigil checkout's environment (.venv/bin/python), or after: pip install -e sdk",
      "import vigil",
      "vigil.init(service_name=\"my-agent\")  # OTLP to localhost:4317",
      "@vigil.trace\ndef handle(question): ...",
    ].join("\n")),
    h("p", {}, "The README's quick start has a whole script to copy."),
    ...sendHint("traces"));
}
