// Actions (docs/actions.md): the list, live through WatchActions; an action's page with its
// audit trail (every stored version); Cancel on a pending one; and, for the incident page, the
// "Run <action>" buttons of its rules that wait for a person (`auto_remediate: false`).
// Text goes into the DOM as text nodes only.

import { h, clear } from "../dom";
import { alerting, errorText } from "../api";
import { time } from "../format";
import { link, onLeave } from "../main";
import type { Action, Incident } from "../gen/vigil/alerting/v1/alerting_pb";

function status(action: Action): HTMLElement {
  return h("span", { class: `badge action-status ${action.status}` }, action.status);
}

function trigger(action: Action): (Node | string)[] {
  const parts: (Node | string)[] = [];
  if (action.rule) parts.push(`rule ${action.rule}`);
  if (action.requestedBy) parts.push(`by ${action.requestedBy}`);
  if (action.incidentId) {
    if (parts.length) parts.push(" · ");
    parts.push(h("a", { class: "action-incident", href: `/incidents/${action.incidentId}`, onclick: link(`/incidents/${action.incidentId}`) }, "incident"));
  }
  return parts;
}

function cancelButton(action: Action, done: (error?: unknown) => void): HTMLElement | null {
  if (action.status !== "pending") return null;
  return h("button", {
    class: "cancel-action",
    onclick: (e: Event) => {
      (e.currentTarget as HTMLButtonElement).disabled = true;
      alerting.cancelAction({ id: action.id }).then(() => done(), (error: unknown) => done(error));
    },
  }, "Cancel");
}

export async function actionsPage(main: HTMLElement): Promise<void> {
  const body = h("tbody");
  const empty = h("p", { class: "empty" },
    "No actions yet. A rule with auto_remediate, a person on an incident, or CreateAction makes one (docs/actions.md).");
  const state = h("span", { class: "tail-state muted" }, "Connecting…");
  const message = h("p", { class: "actions-message" });
  const table = h("table", { class: "action-list" },
    h("thead", {}, h("tr", {}, ...["Action", "Target", "Status", "Attempts", "Trigger", "Created", "Updated", "Answer", ""].map((c) => h("th", {}, c)))),
    body);
  clear(main, h("h1", {}, "Actions"), h("p", {}, state), message, empty, table);
  const rows = new Map<string, { version: bigint; row: HTMLTableRowElement }>();
  const stream = new AbortController();
  onLeave(() => stream.abort());

  function row(action: Action): HTMLTableRowElement {
    return h("tr", { "data-action-id": action.id, "data-status": action.status, class: `action ${action.status}` },
      h("td", {}, h("a", { href: `/actions/${action.id}`, onclick: link(`/actions/${action.id}`) }, action.action)),
      h("td", {}, action.target),
      h("td", {}, status(action)),
      h("td", { class: "num attempts" }, String(action.attempts)),
      h("td", {}, ...trigger(action)),
      h("td", {}, time(action.createdTimeUnixNano)),
      h("td", {}, time(action.updatedTimeUnixNano)),
      h("td", { class: "answer" }, action.answer),
      h("td", {}, cancelButton(action, (error) => {
        message.textContent = error ? `Cancel: ${errorText(error)}` : "";
        message.className = error ? "actions-message error" : "actions-message";
      })));
  }

  // Versions can arrive out of order (the list and the stream overlap): keep the newest.
  function show(action: Action): void {
    const old = rows.get(action.id);
    if (old && old.version >= action.version) return;
    empty.remove();
    const fresh = row(action);
    if (old) old.row.replaceWith(fresh);
    else body.prepend(fresh);
    rows.set(action.id, { version: action.version, row: fresh });
  }

  try {
    const listed = await alerting.listActions({ limit: 100 });
    for (const action of listed.actions.slice().reverse()) show(action);
    state.textContent = "Live";
    state.className = "tail-state live";
    for await (const change of alerting.watchActions({}, { signal: stream.signal })) {
      if (change.action) show(change.action);
    }
    state.textContent = "The live updates ended; reload the page to resume";
    state.className = "tail-state muted";
  } catch (error) {
    if (stream.signal.aborted) return;
    state.textContent = errorText(error);
    state.className = "tail-state error";
  }
}

export async function actionPage(main: HTMLElement, id: string): Promise<void> {
  const message = h("p", { class: "actions-message" });
  const content = h("section", { class: "action-detail" });
  clear(main, h("p", {}, h("a", { href: "/actions", onclick: link("/actions") }, "← Actions")), message, content);
  const stream = new AbortController();
  onLeave(() => stream.abort());

  async function load(): Promise<void> {
    try {
      const answer = await alerting.getAction({ id });
      const action = answer.action!;
      const facts: [string, Node | string][] = [
        ["Status", status(action)],
        ["Target", action.target],
        ["Attempts", String(action.attempts)],
        ["Severity", action.severity || "—"],
        ["Trigger", h("span", {}, ...trigger(action))],
        ["Created", time(action.createdTimeUnixNano)],
        ["Updated", time(action.updatedTimeUnixNano)],
        ["Answer", h("span", { class: "answer" }, action.answer || "—")],
      ];
      clear(content,
        h("h1", {}, `${action.action} ${action.target}`),
        h("dl", { class: "action-facts" }, ...facts.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
        action.details ? h("p", { class: "action-details" }, action.details) : null,
        h("h2", {}, "Params"),
        h("pre", { class: "json" }, JSON.stringify(JSON.parse(action.paramsJson || "{}"), null, 2)),
        cancelButton(action, (error) => {
          message.textContent = error ? `Cancel: ${errorText(error)}` : "";
          message.className = error ? "actions-message error" : "actions-message";
          void load();
        }),
        h("h2", {}, "History"),
        h("table", { class: "action-history" },
          h("thead", {}, h("tr", {}, ...["Version", "Status", "Attempts", "At", "Answer"].map((c) => h("th", {}, c)))),
          h("tbody", {}, ...answer.history.map((v) => h("tr", { "data-status": v.status },
            h("td", { class: "num" }, String(v.version)),
            h("td", {}, status(v)),
            h("td", { class: "num" }, String(v.attempts)),
            h("td", {}, time(v.updatedTimeUnixNano)),
            h("td", { class: "answer" }, v.answer))))));
    } catch (error) {
      clear(content, h("p", { class: "error" }, errorText(error)));
    }
  }

  await load();
  try {
    for await (const change of alerting.watchActions({}, { signal: stream.signal })) {
      if (change.action?.id === id) await load();
    }
  } catch {
    // left the page, or the stream ended: the page still shows the last state
  }
}

// The rules with an action that waits for a person, by name (read once per incident page).
let manualRules: Promise<Map<string, { action: string; params: unknown }>> | null = null;

function loadManualRules(): Promise<Map<string, { action: string; params: unknown }>> {
  manualRules ??= alerting.listRules({}).then((answer) => {
    const found = new Map<string, { action: string; params: unknown }>();
    for (const rule of answer.rules) {
      const policy = rule.policy ?? {};
      if (typeof policy.action === "string" && policy.action && policy.auto_remediate !== true) {
        found.set(rule.name, { action: policy.action, params: policy.params ?? {} });
      }
    }
    return found;
  }).finally(() => setTimeout(() => (manualRules = null), 30_000));
  return manualRules;
}

// "Run <action> <target>" for each alert of the incident whose rule does not remediate by itself:
// a person approves it, and the action names the incident (its result joins the timeline).
// The incident page is drawn again on every change: the last answer is kept per incident.
const runMessages = new Map<string, HTMLElement>();

export function incidentActions(incident: Incident): HTMLElement {
  const box = h("div", { class: "incident-run-actions" });
  let message = runMessages.get(incident.id);
  if (!message) {
    message = h("p", { class: "run-action-message" });
    runMessages.set(incident.id, message);
  }
  const shown = message;
  if (incident.status === "resolved") return box;
  void loadManualRules().then((rules) => {
    const seen = new Set<string>();
    const buttons: HTMLElement[] = [];
    for (const alert of incident.alerts) {
      const rule = rules.get(alert.rule);
      const target = alert.labels.target || alert.fingerprint;
      if (!rule || seen.has(`${rule.action} ${target}`)) continue;
      seen.add(`${rule.action} ${target}`);
      buttons.push(h("button", {
        class: "run-action",
        "data-action": rule.action,
        "data-target": target,
        onclick: (e: Event) => {
          const button = e.currentTarget as HTMLButtonElement;
          button.disabled = true;
          const params = rule.params && typeof rule.params === "object" ? rule.params : {};
          alerting.createAction({
            action: rule.action, target, incidentId: incident.id, severity: alert.severity,
            paramsJson: JSON.stringify(params), details: `approved on incident ${incident.title}`,
          }).then((answer) => {
            const made = answer.action!;
            clear(shown, document.createTextNode(`${made.action} ${made.target} queued: `),
              h("a", { class: "run-action-link", href: `/actions/${made.id}`, onclick: link(`/actions/${made.id}`) }, made.status));
            shown.className = "run-action-message";
          }, (error: unknown) => {
            button.disabled = false;
            shown.textContent = `Run ${rule.action}: ${errorText(error)}`;
            shown.className = "run-action-message error";
          });
        },
      }, `Run ${rule.action} ${target}`));
    }
    if (buttons.length) clear(box, ...buttons, shown);
  }, () => {
    // without the rules (no access, or the service is down) there is nothing to offer
  });
  return box;
}
