// The span panel: summary, GenAI messages as a conversation, input/output JSON, attributes,
// events, links and logs.

import { h } from "../dom";
import { duration, prettyJson, time } from "../format";
import type { SpanNode } from "../gen/vigil/query/v1/query_pb";
import { replayPanel } from "./replay";

type Part = { type?: string; content?: unknown; name?: string; arguments?: unknown; response?: unknown; id?: string };
type Message = { role?: string; parts?: Part[]; finish_reason?: string };

const SEVERITY: Record<number, string> = { 1: "TRACE", 5: "DEBUG", 9: "INFO", 13: "WARN", 17: "ERROR", 21: "FATAL" };

export function spanPanel(node: SpanNode): HTMLElement {
  const span = node.span!;
  const attrs = span.attributes;
  return h("div", {},
    h("h2", {}, span.name),
    h("dl", { class: "facts" },
      ...fact("Service", span.serviceName),
      ...fact("Kind", span.kind),
      ...fact("Status", span.statusMessage ? `${span.statusCode}: ${span.statusMessage}` : span.statusCode),
      ...fact("Start", time(span.startTimeUnixNano)),
      ...fact("Duration", duration(span.durationNano)),
      ...fact("Span id", span.spanId),
      ...(node.duplicates ? fact("Duplicates", String(node.duplicates)) : [])),
    conversation(attrs),
    replayPanel(span),
    json("Input", attrs["input.value"]),
    json("Output", attrs["output.value"]),
    table("Attributes", attrs),
    span.events.length ? h("section", {}, h("h3", {}, "Events"),
      ...span.events.map((e) => h("details", {}, h("summary", {}, `${e.name} · ${time(e.timeUnixNano)}`), table("", e.attributes)))) : null,
    span.links.length ? h("section", {}, h("h3", {}, "Links"),
      ...span.links.map((l) => h("p", {}, h("a", { href: `/traces/${l.traceId}` }, `${l.traceId} / ${l.spanId}`)))) : null,
    node.logs.length ? h("section", {}, h("h3", {}, "Logs"),
      ...node.logs.map((l) => h("div", { class: `log sev-${Math.floor((l.severityNumber - 1) / 4)}` },
        h("span", { class: "muted" }, time(l.timeUnixNano), " ", l.severityText || SEVERITY[l.severityNumber] || ""), " ", l.body))) : null,
    table("Resource", span.resourceAttributes),
  );
}

function fact(name: string, value: string): HTMLElement[] {
  return value ? [h("dt", {}, name), h("dd", {}, value)] : [];
}

function parse<T>(text: string | undefined): T | undefined {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}

function conversation(attrs: Record<string, string>): HTMLElement | null {
  const system = parse<Part[]>(attrs["gen_ai.system_instructions"]) ?? [];
  const input = parse<Message[]>(attrs["gen_ai.input.messages"]) ?? [];
  const output = parse<Message[]>(attrs["gen_ai.output.messages"]) ?? [];
  if (!system.length && !input.length && !output.length) return null;
  const messages: Message[] = [
    ...(system.length ? [{ role: "system", parts: system }] : []),
    ...input,
    ...output.map((m) => ({ ...m, role: m.role ?? "assistant" })),
  ];
  return h("section", { class: "conversation" }, h("h3", {}, "Conversation"),
    ...messages.map((m) => h("div", { class: `message role-${m.role ?? "unknown"}` },
      h("div", { class: "role" }, m.role ?? "?", m.finish_reason ? h("span", { class: "muted" }, ` · ${m.finish_reason}`) : null),
      ...(m.parts ?? []).map(part))));
}

function part(p: Part): HTMLElement {
  if (p.type === "tool_call") {
    return h("div", { class: "tool-call" }, h("strong", {}, `→ ${p.name ?? "tool"}`), h("pre", {}, pretty(p.arguments)));
  }
  if (p.type === "tool_call_response") {
    return h("div", { class: "tool-result" }, h("strong", {}, "← result"), h("pre", {}, pretty(p.response)));
  }
  return h("div", { class: "text" }, typeof p.content === "string" ? p.content : pretty(p.content));
}

function pretty(value: unknown): string {
  return typeof value === "string" ? prettyJson(value) : JSON.stringify(value, null, 2);
}

function json(title: string, text: string | undefined): HTMLElement | null {
  return text ? h("section", {}, h("h3", {}, title), h("pre", { class: "json" }, prettyJson(text))) : null;
}

function table(title: string, values: Record<string, string>): HTMLElement | null {
  const keys = Object.keys(values).sort();
  if (!keys.length) return null;
  return h("section", {}, title ? h("h3", {}, title) : null,
    h("table", { class: "attributes" }, h("tbody", {}, ...keys.map((k) => h("tr", {}, h("th", {}, k), h("td", {}, values[k]))))));
}
