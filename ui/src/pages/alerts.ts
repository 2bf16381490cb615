// The Alerts area (AlertingService): the rules with their instances' states and Enable /
// Disable; the firing, pending and resolved instances with labels, values and example traces;
// a rule's page with its history timeline; the rule editor (the policy as JSON) with a preview
// of the draft against stored data now (EvaluateRules), a backtest over the last hours
// (BacktestRule: a chart of the rule's value with the threshold line and the would-be alerts
// shaded, and their list) and Create / Update; "Silence for 1 h" on an active instance, the
// silences in force with Expire, and a rule's delivery log. The drift detector's alerts are the
// Drift tab.
// Text goes into the DOM as text nodes only.

import { h, clear } from "../dom";
import { chart } from "../chart";
import { alerting, errorText } from "../api";
import { time } from "../format";
import { link, navigate } from "../main";
import { deliveriesSection, matchersOf, silenceButton, silencesSection } from "./silences";
import type { JsonObject } from "@bufbuild/protobuf";
import type { Alert, AlertInterval, AlertTransition, BacktestRuleResponse, GroupValue, Rule } from "../gen/vigil/alerting/v1/alerting_pb";

const STATES = ["firing", "pending", "nodata", "resolved"];

export function alertTabs(active: string): HTMLElement {
  return h("nav", { class: "tabs alert-tabs" },
    ...[["/alerts", "Rules and alerts"], ["/alerts/new", "New rule"], ["/alerts/drift", "Drift"]].map(([href, label]) =>
      h("a", { href, onclick: link(href), class: href === active ? "active" : "" }, label)));
}

function severity(value: string): HTMLElement {
  return h("span", { class: `badge sev ${value}` }, value);
}

function labelText(labels: Record<string, string>): string {
  return Object.keys(labels).sort().filter((k) => k !== "alertname").map((k) => `${k}=${labels[k]}`).join(", ");
}

function value(v: number | undefined): string {
  return v === undefined ? "–" : Number.isInteger(v) ? String(v) : v.toPrecision(4);
}

function traceLinks(ids: string[]): HTMLElement {
  return h("span", { class: "example-traces" }, ...ids.slice(0, 3).flatMap((t, i) => [
    i ? " " : "",
    h("a", { class: "example-trace", href: `/traces/${t}`, onclick: link(`/traces/${t}`) }, t.slice(0, 8)),
  ]));
}

function ruleLink(name: string): HTMLElement {
  const href = `/alerts/rules/${encodeURIComponent(name)}`;
  return h("a", { href, onclick: link(href) }, name);
}

// `silenced(message)` is told what a "Silence for 1 h" button did.
function instancesTable(alerts: Alert[], silenced: (message: string, ok: boolean) => void): HTMLElement {
  if (!alerts.length) return h("p", { class: "empty" }, "No alert instances in this state.");
  const silence = (a: Alert): HTMLElement | null => a.state === "firing" || a.state === "pending"
    ? silenceButton(() => matchersOf(a.labels), `Silenced from the Alerts page (rule ${a.rule})`, (made, error) =>
      silenced(made ? `Silenced for 1 h: ${made.matchers.join(", ")}` : `Silence: ${error}`, made !== null))
    : null;
  return h("table", { class: "alert-instances" },
    h("thead", {}, h("tr", {}, ...["Rule", "Labels", "State", "Severity"].map((c) => h("th", {}, c)),
      h("th", { class: "num" }, "Value"), ...["Threshold", "Since", "Example traces", ""].map((c) => h("th", {}, c)))),
    h("tbody", {}, ...alerts.map((a) => h("tr", { "data-rule": a.rule, "data-state": a.state, class: `alert ${a.state}` },
      h("td", {}, ruleLink(a.rule)),
      h("td", { class: "labels" }, labelText(a.labels)),
      h("td", {}, h("span", { class: `badge alert-state ${a.state}` }, a.state)),
      h("td", {}, severity(a.severity)),
      h("td", { class: "num" }, value(a.value)),
      h("td", {}, a.threshold),
      h("td", {}, time(a.state === "resolved" ? a.resolvedTimeUnixNano : a.activeSinceTimeUnixNano)),
      h("td", {}, traceLinks(a.exampleTraceIds)),
      h("td", {}, silence(a))))));
}

export async function alertsPage(main: HTMLElement): Promise<void> {
  const message = h("p", { class: "alerts-message" });
  const rules = h("section", { class: "rules" });
  const which = h("select", { name: "state", "aria-label": "Which instances", onchange: () => void loadAlerts() },
    h("option", { value: "" }, "Active and resolved"),
    ...STATES.map((s) => h("option", { value: s }, s)));
  const instances = h("section", { class: "instances" });
  const silences = silencesSection();
  clear(main, alertTabs("/alerts"), h("h1", {}, "Alert rules"), message, rules,
    h("h2", {}, "Alerts ", which), instances, silences.element);

  function silenced(text: string, ok: boolean): void {
    message.textContent = text;
    message.className = ok ? "alerts-message silenced" : "alerts-message error";
    void silences.reload();
  }

  async function act(run: () => Promise<unknown>): Promise<void> {
    message.textContent = "";
    message.className = "alerts-message";
    try {
      await run();
      await loadRules();
    } catch (error) {
      message.textContent = errorText(error);
      message.className = "alerts-message error";
    }
  }

  function ruleRow(rule: Rule): HTMLElement {
    const states = STATES.filter((s) => rule.states[s]).map((s) =>
      h("span", { class: `badge alert-state ${s}`, "data-state": s }, `${rule.states[s]} ${s}`));
    // Rules from VIGIL_RULES_FILE are read-only here: the file is their truth.
    const toggle = rule.source === "file"
      ? h("span", { class: "muted", title: "Defined in VIGIL_RULES_FILE" }, "from file")
      : h("button", {
          class: rule.enabled ? "disable" : "enable",
          onclick: () => void act(() => (rule.enabled ? alerting.disableRule({ name: rule.name }) : alerting.enableRule({ name: rule.name }))),
        }, rule.enabled ? "Disable" : "Enable");
    return h("tr", { "data-rule": rule.name, class: rule.enabled ? "" : "disabled" },
      h("td", {}, ruleLink(rule.name)),
      h("td", {}, severity(rule.severity)),
      h("td", {}, rule.target),
      h("td", {}, rule.enabled ? "enabled" : "disabled"),
      h("td", { class: "states" }, ...states.flatMap((s, i) => [i ? " " : "", s])),
      h("td", {}, toggle));
  }

  async function loadRules(): Promise<void> {
    try {
      const answer = await alerting.listRules({});
      if (!answer.rules.length) {
        clear(rules, h("p", { class: "empty" }, "No rules yet: write one under New rule, or load VIGIL_RULES_FILE (docs/alerting.md)."));
        return;
      }
      clear(rules, h("table", { class: "rules" },
        h("thead", {}, h("tr", {}, ...["Rule", "Severity", "Target", "Enabled", "Instances", ""].map((c) => h("th", {}, c)))),
        h("tbody", {}, ...answer.rules.map(ruleRow))));
    } catch (error) {
      clear(rules, h("p", { class: "error" }, errorText(error)));
    }
  }

  async function loadAlerts(): Promise<void> {
    try {
      const answer = await alerting.listAlerts({ state: which.value, pageSize: 500 });
      clear(instances, instancesTable(answer.alerts, silenced));
    } catch (error) {
      clear(instances, h("p", { class: "error" }, errorText(error)));
    }
  }

  await Promise.all([loadRules(), loadAlerts(), silences.reload()]);
}

const EXAMPLE = {
  name: "checkout-errors",
  description: "More than 5% of checkout's spans fail",
  severity: "warning",
  target: "checkout",
  window: "5m",
  condition: { type: "spans", measure: "error_rate", threshold: 0.05 },
};

// A rule's page: its history and its editor; `name` empty: the editor for a new rule.
export async function rulePage(main: HTMLElement, name: string): Promise<void> {
  const message = h("p", { class: "alerts-message" });
  const policy = h("textarea", { name: "policy", class: "json-editor", rows: 14, spellcheck: "false", "aria-label": "Policy (JSON)" });
  const hours = h("select", { name: "hours", "aria-label": "Backtest over" },
    ...[["0.25", "last 15 min"], ["1", "last hour"], ["6", "last 6 hours"], ["24", "last 24 hours"]].map(([v, l]) =>
      h("option", { value: v, selected: v === "1" }, l)));
  const preview = h("section", { class: "rule-preview" });
  const backtest = h("section", { class: "rule-backtest" });
  const history = h("section", { class: "rule-history" });
  const current = h("section", { class: "rule-instances" });
  const deliveries = h("section", { class: "rule-deliveries" });
  let rule: Rule | undefined;
  let readOnly = false;

  const save = h("button", { class: "save", onclick: () => void saveRule() }, name ? "Update" : "Create");
  const editor = h("div", { class: "rule-editor" },
    policy,
    h("div", { class: "rule-actions" },
      h("button", { class: "preview", onclick: () => void runPreview() }, "Preview"),
      hours, h("button", { class: "backtest", onclick: () => void runBacktest() }, "Backtest"),
      save));

  function draft(): JsonObject | null {
    message.textContent = "";
    message.className = "alerts-message";
    try {
      const parsed: unknown = JSON.parse(policy.value);
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("the policy must be a JSON object");
      return parsed as JsonObject;
    } catch (error) {
      message.textContent = `Policy: ${errorText(error)}`;
      message.className = "alerts-message error";
      return null;
    }
  }

  async function runPreview(): Promise<void> {
    const rule = draft();
    if (!rule) return;
    clear(preview, h("p", { class: "muted" }, "Evaluating…"));
    try {
      const answer = await alerting.evaluateRules({ rule });
      clear(preview, h("h2", {}, "Preview: the values now"),
        h("p", { class: "muted" }, `Threshold ${answer.threshold}`),
        answer.groups.length
          ? h("table", { class: "preview-groups" },
              h("thead", {}, h("tr", {}, h("th", {}, "Group"), h("th", { class: "num" }, "Value"), h("th", {}, "Breaching"), h("th", {}, "Example traces"))),
              h("tbody", {}, ...answer.groups.map((g: GroupValue) => h("tr", { class: g.breaching ? "breaching" : "" },
                h("td", { class: "labels" }, labelText(g.labels) || "all"),
                h("td", { class: "num" }, value(g.value)),
                h("td", {}, g.breaching ? "yes" : "no"),
                h("td", {}, traceLinks(g.exampleTraceIds))))))
          : h("p", { class: "empty" }, "No group has data in the rule's window."));
    } catch (error) {
      clear(preview, h("p", { class: "error" }, errorText(error)));
    }
  }

  function intervalRow(i: AlertInterval): HTMLElement {
    return h("tr", {},
      h("td", { class: "labels" }, labelText(i.labels) || "all"),
      h("td", {}, i.pendingTimeUnixNano ? time(i.pendingTimeUnixNano) : "–"),
      h("td", {}, i.firingTimeUnixNano ? time(i.firingTimeUnixNano) : "never"),
      h("td", {}, i.resolvedTimeUnixNano ? time(i.resolvedTimeUnixNano) : "still firing"),
      h("td", { class: "num" }, value(i.peakValue)));
  }

  // The rule's value per group at each backtest step, the threshold as a line, and the would-be
  // alerts (pending or firing until resolved, or the period's end) shaded.
  function valueChart(answer: BacktestRuleResponse, startNs: bigint, endNs: bigint): HTMLElement {
    const ms = (ns: bigint) => Number(ns / 1_000_000n);
    const plot = chart({
      title: `The rule's value at each evaluation (threshold ${answer.threshold})`,
      unit: "",
      range: [ms(startNs), ms(endNs)],
      height: 220,
      series: answer.series.map((g) => ({
        label: labelText(g.labels) || "all",
        points: g.timesUnixNano.map((t, i) => [ms(t), g.values[i]] as [number, number]),
      })),
      thresholds: answer.thresholdValues,
      marked: answer.intervals
        .filter((i) => i.firingTimeUnixNano || i.pendingTimeUnixNano)
        .map((i) => [ms(i.pendingTimeUnixNano || i.firingTimeUnixNano), ms(i.resolvedTimeUnixNano || endNs)] as [number, number]),
    });
    plot.element.classList.add("rule-chart");
    return plot.element;
  }

  async function runBacktest(): Promise<void> {
    const rule = draft();
    if (!rule) return;
    clear(backtest, h("p", { class: "muted" }, "Replaying…"));
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    const start = nowNs - BigInt(Math.round(Number(hours.value) * 3600)) * 1_000_000_000n;
    try {
      const answer = await alerting.backtestRule({ rule, startTimeUnixNano: start, endTimeUnixNano: nowNs });
      clear(backtest, h("h2", {}, "Backtest: the alerts it would have raised"),
        h("p", { class: "muted backtest-summary" },
          `${answer.evaluations} evaluations every ${answer.intervalSeconds} s: ${answer.intervals.length} alert intervals`),
        answer.series.length
          ? valueChart(answer, start, nowNs)
          : h("p", { class: "empty" }, "No group had a value in the period."),
        answer.intervals.length
          ? h("table", { class: "backtest-intervals" },
              h("thead", {}, h("tr", {}, ...["Group", "Pending", "Firing", "Resolved"].map((c) => h("th", {}, c)), h("th", { class: "num" }, "Peak"))),
              h("tbody", {}, ...answer.intervals.map(intervalRow)))
          : h("p", { class: "empty" }, "It would not have fired."));
    } catch (error) {
      clear(backtest, h("p", { class: "error" }, errorText(error)));
    }
  }

  async function saveRule(): Promise<void> {
    const body = draft();
    if (!body) return;
    try {
      if (name) {
        const answer = await alerting.updateRule({ name, patch: body });
        rule = answer.rule;
        message.textContent = "Updated.";
      } else {
        const answer = await alerting.createRule({ policy: body });
        const created = answer.rule?.name ?? String(body.name ?? "");
        const href = `/alerts/rules/${encodeURIComponent(created)}`;
        navigate(href);
        return;
      }
    } catch (error) {
      message.textContent = `${name ? "Update" : "Create"}: ${errorText(error)}`;
      message.className = "alerts-message error";
    }
  }

  function transition(t: AlertTransition): HTMLElement {
    return h("li", { class: `event ${t.toState}`, "data-to": t.toState },
      h("span", { class: "muted" }, time(t.timeUnixNano)), " ",
      h("strong", {}, `${t.fromState} → ${t.toState}`), ` ${labelText(t.labels)}`,
      t.value === undefined ? "" : ` value ${value(t.value)} (threshold ${t.threshold})`,
      t.exampleTraceIds.length ? " " : "", t.exampleTraceIds.length ? traceLinks(t.exampleTraceIds) : null);
  }

  async function loadHistory(): Promise<void> {
    try {
      const [alerts, past] = await Promise.all([
        alerting.listAlerts({ rule: name, pageSize: 500 }),
        alerting.getAlertHistory({ rule: name, limit: 500 }),
      ]);
      clear(current, h("h2", {}, "Instances"), instancesTable(alerts.alerts, (text, ok) => {
        message.textContent = text;
        message.className = ok ? "alerts-message silenced" : "alerts-message error";
      }));
      clear(history, h("h2", {}, "History"), past.transitions.length
        ? h("ol", { class: "timeline rule-timeline" }, ...past.transitions.slice().reverse().map(transition))
        : h("p", { class: "empty" }, "No transitions yet."));
    } catch (error) {
      clear(history, h("p", { class: "error" }, errorText(error)));
    }
  }

  if (name) {
    try {
      rule = (await alerting.getRule({ name })).rule;
    } catch (error) {
      clear(main, alertTabs(""), h("p", { class: "error" }, errorText(error)));
      return;
    }
    readOnly = rule?.source === "file";
    policy.value = JSON.stringify(rule?.policy ?? {}, null, 2);
    if (readOnly) {
      policy.readOnly = true;
      save.remove();
    }
  } else {
    policy.value = JSON.stringify(EXAMPLE, null, 2);
  }
  clear(main, alertTabs(name ? "" : "/alerts/new"),
    h("h1", {}, name ? `Rule ${name}` : "New rule"),
    rule ? h("p", { class: "rule-summary" }, severity(rule.severity), ` target ${rule.target}`,
      ` · every ${rule.intervalSeconds} s · ${rule.enabled ? "enabled" : "disabled"}`,
      readOnly ? " · from VIGIL_RULES_FILE (read-only here)" : "") : null,
    rule?.description ? h("p", {}, rule.description) : null,
    message, editor, preview, backtest, current, history, name ? deliveries : null);
  if (name) await Promise.all([loadHistory(), deliveriesSection(deliveries, { rule: name })]);
}
