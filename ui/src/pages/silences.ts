// Silences and the delivery log, shared by the Alerts pages and the incident page: a
// "Silence for 1 h" button (matchers from an alert's labels), the silences in force with
// Expire, and a delivery log table (ListDeliveries). Text goes into the DOM as text nodes only.

import { h, clear } from "../dom";
import { alerting, errorText } from "../api";
import { time } from "../format";
import type { Delivery, Silence } from "../gen/vigil/alerting/v1/alerting_pb";

const HOUR_S = 3600;

function quote(value: string): string {
  return `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`;
}

// One equality matcher per label: the silence matches exactly this alert (its fingerprint's labels).
export function matchersOf(labels: Record<string, string>): string[] {
  return Object.keys(labels).sort().map((k) => `${k}=${quote(labels[k])}`);
}

// The labels every one of `sets` has with the same value: one silence for an incident's alerts.
export function commonLabels(sets: Record<string, string>[]): Record<string, string> {
  if (!sets.length) return {};
  const out: Record<string, string> = { ...sets[0] };
  for (const labels of sets.slice(1)) {
    for (const k of Object.keys(out)) if (labels[k] !== out[k]) delete out[k];
  }
  return out;
}

// A button that silences what `matchers()` names for an hour; `done` gets the silence made,
// or the error's text.
export function silenceButton(matchers: () => string[], comment: string, done: (made: Silence | null, error: string) => void): HTMLElement {
  const button = h("button", { class: "silence", type: "button" }, "Silence for 1 h");
  button.addEventListener("click", () => {
    button.setAttribute("disabled", "");
    alerting.createSilence({ matchers: matchers(), durationSeconds: HOUR_S, comment })
      .then((answer) => done(answer.silence ?? null, ""))
      .catch((error: unknown) => done(null, errorText(error)))
      .finally(() => button.removeAttribute("disabled"));
  });
  return button;
}

// The silences in force (pending or active), each with Expire; `reload()` reads them again.
export function silencesSection(): { element: HTMLElement; reload: () => Promise<void> } {
  const element = h("section", { class: "silences" });
  const message = h("p", { class: "silences-message" });

  function row(s: Silence): HTMLElement {
    const expire = h("button", { class: "expire", type: "button" }, "Expire");
    expire.addEventListener("click", () => {
      message.textContent = "";
      alerting.expireSilence({ id: s.id })
        .then(() => reload())
        .catch((error: unknown) => {
          message.textContent = `Expire: ${errorText(error)}`;
          message.className = "silences-message error";
        });
    });
    return h("tr", { "data-silence-id": s.id, class: `silence ${s.state}` },
      h("td", { class: "labels" }, s.matchers.join(", ")),
      h("td", {}, h("span", { class: `badge silence-state ${s.state}` }, s.state)),
      h("td", {}, time(s.startTimeUnixNano)),
      h("td", {}, time(s.endTimeUnixNano)),
      h("td", {}, s.createdBy),
      h("td", {}, s.comment),
      h("td", {}, expire));
  }

  async function reload(): Promise<void> {
    try {
      const answer = await alerting.listSilences({});
      clear(element, h("h2", {}, "Silences"), message, answer.silences.length
        ? h("table", { class: "silences" },
            h("thead", {}, h("tr", {}, ...["Matchers", "State", "From", "Until", "By", "Why", ""].map((c) => h("th", {}, c)))),
            h("tbody", {}, ...answer.silences.map(row)))
        : h("p", { class: "empty" }, "No silence in force."));
    } catch (error) {
      clear(element, h("h2", {}, "Silences"), h("p", { class: "error" }, errorText(error)));
    }
  }

  return { element, reload };
}

function delivery(d: Delivery): HTMLElement {
  const kind = d.notificationId ? d.result : "suppression";
  return h("tr", { class: `delivery ${kind}`, "data-result": d.result },
    h("td", {}, time(d.timeUnixNano)),
    h("td", {}, d.receiver ? `${d.receiver} (${d.integration})` : "–"),
    h("td", {}, d.result),
    h("td", { class: "num" }, d.attempt ? String(d.attempt) : ""),
    h("td", { class: "answer" }, d.answer),
    h("td", { class: "num" }, d.notificationId ? `${d.seconds.toFixed(3)} s` : ""));
}

// The delivery log of an incident's alerts or a rule's alerts, newest first.
export async function deliveriesSection(section: HTMLElement, request: { incidentId?: string; rule?: string }): Promise<void> {
  try {
    const answer = await alerting.listDeliveries({ ...request, limit: 200 });
    clear(section, h("h2", {}, "Delivery log"), answer.deliveries.length
      ? h("table", { class: "deliveries" },
          h("thead", {}, h("tr", {}, ...["When", "Receiver", "Result", "Attempt", "Answer", "Took"].map((c) => h("th", {}, c)))),
          h("tbody", {}, ...answer.deliveries.slice().reverse().map(delivery)))
      : h("p", { class: "empty" }, "Nothing sent or suppressed yet (is VIGIL_ALERTMANAGER_CONFIG set?)."));
  } catch (error) {
    clear(section, h("h2", {}, "Delivery log"), h("p", { class: "error" }, errorText(error)));
  }
}
