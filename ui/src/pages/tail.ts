// Live tail: spans of a service as they arrive (TailSpans, a server stream). The newest
// are on top; the list keeps the last MAX_ROWS. Pause stops the stream, Resume starts a
// new one (spans that ended while paused are not shown).

import { h, clear } from "../dom";
import { query, errorText } from "../api";
import { duration, time } from "../format";
import { link, onLeave } from "../main";
import type { Span } from "../gen/vigil/query/v1/query_pb";

const MAX_ROWS = 500;

export async function tailPage(main: HTMLElement): Promise<void> {
  const params = new URLSearchParams(window.location.search);
  const service = h("select", { name: "service", "aria-label": "Service" }, h("option", { value: "" }, "All services"));
  const operation = h("input", { name: "operation", placeholder: "Operation (span name)", "aria-label": "Operation", value: params.get("operation") ?? "" });
  const status = h("select", { name: "status", "aria-label": "Status" },
    h("option", { value: "" }, "Any status"), h("option", { value: "Error" }, "Errors"));
  const toggle = h("button", { type: "button", class: "pause" }, "Pause");
  const state = h("span", { class: "tail-state muted", role: "status" }, "Connecting…");
  const body = h("tbody");
  const table = h("table", { class: "tail" },
    h("thead", {}, h("tr", {}, ...["Ended", "Service", "Span"].map((c) => h("th", {}, c)),
      ...["Duration", ""].map((c) => h("th", { class: "num" }, c)))),
    body);
  const empty = h("div", { class: "empty" },
    h("p", {}, "Waiting for spans. Spans appear here as they end and are stored, about a second later."));
  let received = 0;
  let skipped = 0;
  let stream: AbortController | null = null;

  function row(s: Span): HTMLElement {
    const href = `/traces/${s.traceId}`;
    const error = s.statusCode === "Error";
    return h("tr", { class: error ? "has-error" : "" },
      h("td", {}, time(s.startTimeUnixNano + s.durationNano)),
      h("td", {}, s.serviceName),
      h("td", {}, h("a", { href, onclick: link(href) }, s.name)),
      h("td", { class: "num" }, duration(s.durationNano)),
      h("td", { class: "num" }, error ? h("span", { class: "badge sev high" }, "error") : ""));
  }

  function live(): void {
    state.textContent = `Live · ${received.toLocaleString()} spans` + (skipped ? ` (${skipped.toLocaleString()} not shown: too many at once)` : "");
    state.className = "tail-state live";
  }

  async function run(fresh = false): Promise<void> {
    if (fresh) {
      body.replaceChildren();
      received = skipped = 0;
    }
    stream?.abort();
    const mine = (stream = new AbortController());
    toggle.textContent = "Pause";
    state.textContent = "Connecting…";
    try {
      const filter = { serviceName: service.value, spanName: operation.value.trim(), statusCode: status.value };
      for await (const batch of query.tailSpans({ filter }, { signal: mine.signal })) {
        received += batch.spans.length;
        skipped += batch.skipped;
        if (batch.spans.length) {
          empty.remove();
          body.prepend(...batch.spans.slice().reverse().map(row));
          while (body.rows.length > MAX_ROWS) body.lastElementChild!.remove();
        }
        live();
      }
      if (stream === mine) {
        // The server ended the stream (it restarted, say): say so, and offer to resume.
        stream = null;
        toggle.textContent = "Resume";
        state.textContent = "The tail ended; Resume starts a new one";
        state.className = "tail-state muted";
      }
    } catch (error) {
      if (mine.signal.aborted) return;
      state.textContent = errorText(error);
      state.className = "tail-state error";
      toggle.textContent = "Resume";
      stream = null;
    }
  }

  toggle.addEventListener("click", () => {
    if (stream) {
      stream.abort();
      stream = null;
      toggle.textContent = "Resume";
      state.textContent = "Paused";
      state.className = "tail-state muted";
    } else void run();
  });
  const form = h("form", { class: "filters", onsubmit: (e: Event) => { e.preventDefault(); void run(true); } },
    service, operation, status, h("button", { type: "submit" }, "Tail"), toggle, state);
  clear(main, h("h1", {}, "Live tail"), form, empty, table);
  onLeave(() => stream?.abort());
  for (const input of [service, status]) input.addEventListener("change", () => void run(true));
  try {
    const services = await query.getServices({});
    service.append(...services.services.map((s) => h("option", { value: s }, s)));
  } catch {
    // The tail below says what went wrong.
  }
  const wanted = params.get("service");
  if (wanted) {
    if (![...service.options].some((o) => o.value === wanted)) service.append(h("option", { value: wanted }, wanted));
    service.value = wanted;
  }
  if (main.isConnected) void run();
}
