// Replay from the span panel: edit the span's input (its GenAI messages or captured
// arguments) as JSON, then "What if" (the mutated input, its diff and the spans whose
// recorded outputs may no longer hold) or "Execute" (the GenAI calls sent again; a link to
// the new trace, linked to this one).

import { h, clear } from "../dom";
import { query, errorText } from "../api";
import { duration, prettyJson } from "../format";
import { link } from "../main";
import type { ReplayResponse, Span } from "../gen/vigil/query/v1/query_pb";

const TARGETS = ["gen_ai.input.messages", "input.value"];

export function replayPanel(span: Span): HTMLElement | null {
  const target = TARGETS.find((t) => span.attributes[t]);
  if (!target) return null;
  const original = span.attributes[target];
  const editor = h("textarea", { class: "json-editor", spellcheck: "false", rows: 12, "aria-label": `${target} to replay` });
  editor.value = prettyJson(original);
  const result = h("div", { class: "replay-result" });

  async function run(execute: boolean): Promise<void> {
    let edited: unknown;
    try {
      edited = JSON.parse(editor.value);
    } catch (error) {
      clear(result, h("p", { class: "error" }, `Not JSON: ${errorText(error)}`));
      return;
    }
    clear(result, h("p", { class: "muted" }, execute ? "Sending the calls again…" : "Comparing…"));
    try {
      const answer = await query.replay({
        traceId: span.traceId,
        execute,
        requestedBy: "web ui",
        // The whole value replaced: the server computes the diff between the two.
        mutations: [{ select: { spanId: span.spanId }, target, patch: JSON.stringify([{ op: "replace", path: "", value: edited }]) }],
      });
      clear(result, ...show(answer));
    } catch (error) {
      clear(result, h("p", { class: "error" }, errorText(error)));
    }
  }

  return h("details", { class: "replay" },
    h("summary", {}, "Replay with a changed input"),
    h("p", { class: "muted" }, `Edit ${target} below.`),
    editor,
    h("div", { class: "actions" },
      h("button", { type: "button", onclick: () => void run(false) }, "What if"),
      h("button", { type: "button", class: "secondary", onclick: () => void run(true) }, "Execute")),
    result);
}

function show(answer: ReplayResponse): HTMLElement[] {
  const out: HTMLElement[] = [];
  for (const change of answer.changes) {
    if (change.error) {
      out.push(h("p", { class: "error" }, `${change.spanName}: ${change.error}`));
      continue;
    }
    out.push(h("div", { class: "side-by-side" },
      h("div", {}, h("h4", {}, "Original"), h("pre", { class: "json" }, prettyJson(change.originalInput))),
      h("div", {}, h("h4", {}, "Changed"), h("pre", { class: "json" }, prettyJson(change.mutatedInput)))));
    // Each changed value (the server's RFC 6902 patch from original to changed), then the
    // line diffs the server made of long texts.
    out.push(h("div", { class: "diff" }, patchLines(change.originalInput, change.diff)));
    out.push(...change.textDiffs.map((d) => h("div", { class: "diff" }, h("code", { class: "muted" }, d.path || "/"), diffLines(d.unifiedDiff))));
  }
  if (answer.stale.length) {
    out.push(h("h4", {}, "Spans whose recorded outputs may no longer hold"),
      h("ul", {}, ...answer.stale.map((s) => h("li", {}, `${s.spanName} (${s.relation.replace("_", " ")})`))));
  }
  if (answer.newTraceId) {
    const href = `/traces/${answer.newTraceId}`;
    out.push(h("p", {}, "New trace: ", h("a", { href, onclick: link(href), class: "new-trace" }, answer.newTraceId)));
    for (const call of answer.executed) {
      out.push(call.error ? h("p", { class: "error" }, call.error)
        : h("div", { class: "diff" }, h("p", { class: "muted" },
            `${call.model}: ${duration(BigInt(Math.round(call.latencyMs * 1e6)))}, tokens ${call.inputTokensDelta >= 0 ? "+" : ""}${call.inputTokensDelta} in / ${call.outputTokensDelta >= 0 ? "+" : ""}${call.outputTokensDelta} out`),
          diffLines(call.outputDiff)));
    }
  }
  return out;
}

type Op = { op: string; path: string; value?: unknown; from?: string };

function patchLines(originalJson: string, patchJson: string): HTMLElement {
  let original: unknown, ops: Op[];
  try {
    original = JSON.parse(originalJson);
    ops = JSON.parse(patchJson) as Op[];
  } catch {
    return h("pre", {}, patchJson);
  }
  const lines: string[] = [];
  for (const op of ops) {
    lines.push(`@ ${op.path || "/"} (${op.op})`);
    const before = pointer(original, op.path);
    if (op.op !== "add" && before !== undefined) lines.push(`- ${text(before)}`);
    if (op.op !== "remove") lines.push(`+ ${text(op.value)}`);
  }
  return diffLines(lines.join("\n"));
}

function pointer(doc: unknown, path: string): unknown {
  let node: unknown = doc;
  for (const raw of path.split("/").slice(1)) {
    const key = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (node === null || typeof node !== "object") return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

function text(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

function diffLines(unified: string): HTMLElement {
  return h("pre", { class: "unified" }, ...unified.split("\n").map((line) =>
    h("span", { class: line.startsWith("+") && !line.startsWith("+++") ? "add" : line.startsWith("-") && !line.startsWith("---") ? "del" : "" }, line + "\n")));
}
