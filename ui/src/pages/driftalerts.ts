// Drift alerts (the Alerts area's Drift tab): drift alerts the detector opened (open ones by default), with a Resolve button.

import { h, clear } from "../dom";
import { query, errorText } from "../api";
import { time } from "../format";
import { alertTabs } from "./alerts";
import { ListDriftAlertsRequest_ResolvedFilter as Resolved } from "../gen/vigil/query/v1/query_pb";
import type { DriftAlert } from "../gen/vigil/query/v1/query_pb";

export async function driftAlertsPage(main: HTMLElement): Promise<void> {
  const which = h("select", { name: "resolved", "aria-label": "Which alerts" },
    h("option", { value: String(Resolved.UNRESOLVED_ONLY) }, "Open"),
    h("option", { value: String(Resolved.RESOLVED_ONLY) }, "Resolved"),
    h("option", { value: String(Resolved.ALL) }, "All"));
  const results = h("section", { class: "results" });
  const form = h("form", { class: "filters", onsubmit: (e: Event) => { e.preventDefault(); void load(); } },
    which, h("button", { type: "submit" }, "Show"));
  clear(main, alertTabs("/alerts/drift"), h("h1", {}, "Drift alerts"), form, results);

  async function load(): Promise<void> {
    try {
      const answer = await query.listDriftAlerts({ resolved: Number(which.value) as Resolved, pageSize: 200 });
      if (!answer.alerts.length) {
        clear(results, h("p", { class: "empty" },
          "No alerts. The drift detector (VIGIL_DRIFT_INTERVAL_S) opens one when a group's PSI reaches medium or high."));
        return;
      }
      clear(results, h("table", { class: "alerts" },
        h("thead", {}, h("tr", {}, ...["Group", "Metric", "Severity"].map((c) => h("th", {}, c)),
          h("th", { class: "num" }, "PSI"), ...["Opened", "Updated", ""].map((c) => h("th", {}, c)))),
        h("tbody", {}, ...answer.alerts.map(row))));
    } catch (error) {
      clear(results, h("p", { class: "error" }, errorText(error)));
    }
  }

  function row(alert: DriftAlert): HTMLElement {
    const action = alert.resolved
      ? h("span", { class: "muted" }, `resolved by ${alert.resolvedBy} ${time(alert.resolvedTimeUnixNano)}`)
      : h("button", {
          class: "resolve",
          onclick: async (event: Event) => {
            const button = event.currentTarget as HTMLButtonElement;
            button.disabled = true;
            try {
              await query.resolveDriftAlert({ alertId: alert.alertId });
              await load();
            } catch (error) {
              button.replaceWith(h("span", { class: "error" }, errorText(error)));
            }
          },
        }, "Resolve");
    return h("tr", { "data-alert-id": alert.alertId },
      h("td", {}, Object.keys(alert.group).sort().map((k) => `${k}=${alert.group[k]}`).join(", ")),
      h("td", {}, alert.metric),
      h("td", {}, h("span", { class: `badge sev ${alert.severity}` }, alert.severity)),
      h("td", { class: "num" }, alert.psi.toFixed(3)),
      h("td", {}, time(alert.createdTimeUnixNano)),
      h("td", {}, time(alert.updatedTimeUnixNano)),
      h("td", {}, action));
  }

  await load();
}
