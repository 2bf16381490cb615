// Incidents: the list, live through WatchIncidents; an incident's page with its alerts, example
// traces (to the waterfall), the logs of those traces, its timeline, and Acknowledge / Resolve /
// a note, "Silence for 1 h" (matchers: the labels its alerts share), the silences in force and
// the delivery log of its alerts. Text goes into the DOM as text nodes only.

import { h, clear } from "../dom";
import { alerting, errorText } from "../api";
import { time } from "../format";
import { link, onLeave } from "../main";
import { incidentActions } from "./actions";
import { commonLabels, deliveriesSection, matchersOf, silenceButton, silencesSection } from "./silences";
import type { GetIncidentResponse, Incident, IncidentEvent } from "../gen/vigil/alerting/v1/alerting_pb";

function status(incident: Incident): HTMLElement {
  return h("span", { class: `badge incident-status ${incident.status}` }, incident.status);
}

function severity(value: string): HTMLElement {
  return h("span", { class: `badge sev ${value}` }, value);
}

export async function incidentsPage(main: HTMLElement): Promise<void> {
  const body = h("tbody");
  const empty = h("p", { class: "empty" }, "No incidents. A firing alert opens one (docs/incidents.md).");
  const state = h("span", { class: "tail-state muted" }, "Connecting…");
  const table = h("table", { class: "incidents" },
    h("thead", {}, h("tr", {}, ...["Incident", "Status", "Severity", "Alerts", "Opened", "Updated"].map((c) => h("th", {}, c)))),
    body);
  clear(main, h("h1", {}, "Incidents"), h("p", {}, state), empty, table);
  const rows = new Map<string, HTMLTableRowElement>();
  const stream = new AbortController();
  onLeave(() => stream.abort());

  function row(incident: Incident): HTMLTableRowElement {
    const firing = incident.alerts.filter((a) => a.state === "firing").length;
    return h("tr", { "data-incident-id": incident.id, class: `incident ${incident.status}` },
      h("td", {}, h("a", { href: `/incidents/${incident.id}`, onclick: link(`/incidents/${incident.id}`) }, incident.title)),
      h("td", {}, status(incident)),
      h("td", {}, severity(incident.severity)),
      h("td", { class: "num" }, `${firing} firing / ${incident.alerts.length}`),
      h("td", {}, time(incident.openedTimeUnixNano)),
      h("td", {}, time(incident.updatedTimeUnixNano)));
  }

  function show(incident: Incident): void {
    empty.remove();
    const fresh = row(incident);
    const old = rows.get(incident.id);
    if (old) old.replaceWith(fresh);
    else body.prepend(fresh);
    rows.set(incident.id, fresh);
  }

  try {
    // The resolved ones first (a list of the latest), then the live stream keeps it current.
    const listed = await alerting.listIncidents({ limit: 100 });
    for (const incident of listed.incidents.slice().reverse()) show(incident);
    state.textContent = "Live";
    state.className = "tail-state live";
    for await (const change of alerting.watchIncidents({}, { signal: stream.signal })) {
      if (change.incident) show(change.incident);
    }
    state.textContent = "The live updates ended; reload the page to resume";
    state.className = "tail-state muted";
  } catch (error) {
    if (stream.signal.aborted) return;
    state.textContent = errorText(error);
    state.className = "tail-state error";
  }
}

export async function incidentPage(main: HTMLElement, id: string): Promise<void> {
  const message = h("p", { class: "incident-message" });
  const content = h("section", { class: "incident" });
  // Outside the part re-rendered on every change, so a note being typed survives updates.
  const note = h("textarea", { name: "note", rows: 2, placeholder: "Add a note", "aria-label": "Note" });
  const noteForm = h("form", {
    class: "incident-note",
    onsubmit: (e: Event) => {
      e.preventDefault();
      void act("Note", async () => {
        await alerting.addIncidentNote({ id, text: note.value });
        note.value = "";
      });
    },
  }, note, h("button", { type: "submit" }, "Add note"));
  const silences = silencesSection();
  const deliveries = h("section", { class: "incident-deliveries" });
  let labelSets: Record<string, string>[] = [];
  const silence = silenceButton(() => matchersOf(commonLabels(labelSets)), `Silenced from incident ${id}`, (made, error) => {
    message.textContent = made ? `Silenced for 1 h: ${made.matchers.join(", ")}` : `Silence: ${error}`;
    message.className = made ? "incident-message silenced" : "incident-message error";
    void silences.reload();
  });
  clear(main, h("p", {}, h("a", { href: "/incidents", onclick: link("/incidents") }, "← Incidents")), message, content, noteForm,
    h("div", { class: "incident-silence" }, silence), silences.element, deliveries);
  const stream = new AbortController();
  onLeave(() => stream.abort());

  async function act(name: string, run: () => Promise<unknown>): Promise<void> {
    message.textContent = "";
    message.className = "incident-message";
    try {
      await run();
      await load();
    } catch (error) {
      message.textContent = `${name}: ${errorText(error)}`;
      message.className = "incident-message error";
    }
  }

  function event(e: IncidentEvent): HTMLElement {
    // A triage entry's receiver is the model that wrote it ("summary": none did).
    const to = e.kind === "triage" ? e.receiver && `model ${e.receiver}` : e.receiver && `to ${e.receiver}`;
    const who = [e.actor && `by ${e.actor}`, to, e.result, e.rule].filter(Boolean).join(" · ");
    return h("li", { class: `event ${e.kind}`, "data-kind": e.kind },
      h("span", { class: "muted" }, time(e.timeUnixNano)), " ",
      h("strong", {}, e.kind.replace("_", " ")), who ? ` ${who}` : "",
      e.message ? h("div", { class: e.kind === "triage" ? "event-message analysis" : "event-message" }, e.message) : null);
  }

  function render(answer: GetIncidentResponse): void {
    const incident = answer.incident!;
    labelSets = incident.alerts.map((a) => a.labels);
    const actions = h("div", { class: "incident-actions" },
      incident.status === "triggered"
        ? h("button", { class: "acknowledge", onclick: () => void act("Acknowledge", () => alerting.acknowledgeIncident({ id })) }, "Acknowledge")
        : null,
      incident.status !== "resolved"
        ? h("button", { class: "resolve", onclick: () => void act("Resolve", () => alerting.resolveIncident({ id })) }, "Resolve")
        : null,
      // Triage on request, whatever the severity (high and critical ones are analysed by themselves).
      h("button", {
        class: "analyze",
        onclick: (e: Event) => {
          const button = e.currentTarget as HTMLButtonElement;
          button.disabled = true;
          button.textContent = "Analysing…";
          void act("Analyse", () => alerting.analyzeIncident({ id })).finally(() => {
            button.disabled = false;
            button.textContent = "Analyse";
          });
        },
      }, "Analyse"));
    const traces = incident.exampleTraceIds.map((t) =>
      h("li", {}, h("a", { class: "example-trace", href: `/traces/${t}`, onclick: link(`/traces/${t}`) }, t)));
    clear(content,
      h("h1", {}, incident.title),
      h("p", { class: "incident-summary" }, status(incident), " ", severity(incident.severity),
        ` opened ${time(incident.openedTimeUnixNano)}`,
        incident.acknowledgedBy ? ` · acknowledged by ${incident.acknowledgedBy}` : "",
        incident.resolvedBy ? ` · resolved by ${incident.resolvedBy}` : "",
        incident.escalationPolicy ? ` · escalation policy ${incident.escalationPolicy}` : ""),
      actions,
      incidentActions(incident),
      h("h2", {}, "Alerts"),
      h("table", { class: "incident-alerts" },
        h("thead", {}, h("tr", {}, ...["Rule", "Labels", "State", "Severity", "Value", "Threshold"].map((c) => h("th", {}, c)))),
        h("tbody", {}, ...incident.alerts.map((a) => h("tr", {},
          h("td", {}, a.rule),
          h("td", {}, Object.keys(a.labels).sort().filter((k) => k !== "alertname").map((k) => `${k}=${a.labels[k]}`).join(", ")),
          h("td", {}, a.state),
          h("td", {}, severity(a.severity)),
          h("td", { class: "num" }, a.value === undefined ? "" : String(a.value)),
          h("td", {}, a.threshold))))),
      h("h2", {}, "Example traces"),
      traces.length ? h("ul", { class: "example-traces" }, ...traces) : h("p", { class: "muted" }, "None (metric rules keep no traces)."),
      h("div", {}, answer.logs.length ? h("h2", {}, "Their logs") : null,
        answer.logs.length ? h("ul", { class: "incident-logs" }, ...answer.logs.map((l) =>
          h("li", {}, h("span", { class: "muted" }, `${time(l.timeUnixNano)} ${l.service} ${l.severity} `), l.body))) : null),
      h("h2", {}, "Timeline"),
      h("ol", { class: "timeline" }, ...answer.timeline.map(event)));
  }

  async function load(): Promise<void> {
    try {
      render(await alerting.getIncident({ id }));
    } catch (error) {
      clear(content, h("p", { class: "error" }, errorText(error)));
    }
    await Promise.all([silences.reload(), deliveriesSection(deliveries, { incidentId: id })]);
  }

  await load();
  // Escalations and alerts change the incident while it is open: reload on each change.
  try {
    for await (const change of alerting.watchIncidents({}, { signal: stream.signal })) {
      if (change.incident?.id === id) await load();
    }
  } catch {
    // left the page, or the stream ended: the buttons still work
  }
}
