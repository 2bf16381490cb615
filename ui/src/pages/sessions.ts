// Sessions (conversations): the most recently active first, with traces, LLM calls, tokens,
// cost and users; a session's traces on a timeline.

import { h, clear } from "../dom";
import { query, errorText } from "../api";
import { count, duration, time, usd } from "../format";
import { link } from "../main";
import type { SessionSummary } from "../gen/vigil/query/v1/query_pb";

export async function sessionsPage(main: HTMLElement): Promise<void> {
  const results = h("section", { class: "results" });
  let pageToken = "";
  clear(main, h("h1", {}, "Sessions"), results);

  async function load(more = false): Promise<void> {
    try {
      const page = await query.searchSessions({ pageSize: 50, pageToken: more ? pageToken : "" });
      pageToken = page.nextPageToken;
      show(page.sessions, more);
    } catch (error) {
      clear(results, h("p", { class: "error" }, errorText(error)));
    }
  }

  function show(sessions: SessionSummary[], more: boolean): void {
    let table = results.querySelector("table");
    if (!more || !table) {
      if (!sessions.length) {
        clear(results, h("div", { class: "empty" },
          h("p", {}, "No sessions in the last 24 hours. Spans join a session by the attribute session.id (or gen_ai.conversation.id); with the SDK:"),
          h("pre", {}, 'with vigil.session("conversation-42"), vigil.user("alice"):\n    answer(question)')));
        return;
      }
      table = h("table", { class: "sessions" },
        h("thead", {}, h("tr", {},
          ...["Session", "Users", "Last active"].map((c) => h("th", {}, c)),
          ...["Length", "Traces", "LLM calls", "Tokens in / out", "Errors", "Cost"].map((c) => h("th", { class: "num" }, c)))),
        h("tbody"));
      clear(results, table);
    }
    const body = table.querySelector("tbody")!;
    for (const s of sessions) {
      const href = `/sessions/${encodeURIComponent(s.sessionId)}`;
      body.append(h("tr", { class: s.errors ? "has-error" : "" },
        h("td", {}, h("a", { href, onclick: link(href) }, s.sessionId)),
        h("td", {}, s.userIds.join(", ")),
        h("td", {}, time(s.lastTimeUnixNano)),
        h("td", { class: "num" }, duration(s.lastTimeUnixNano - s.firstTimeUnixNano)),
        h("td", { class: "num" }, count(s.traces)),
        h("td", { class: "num" }, count(s.llmCalls)),
        h("td", { class: "num" }, `${count(s.inputTokens)} / ${count(s.outputTokens)}`),
        h("td", { class: "num" }, s.errors ? count(s.errors) : ""),
        h("td", { class: "num" }, s.llmCalls ? usd(s.costUsd, s.unpricedCalls) : "")));
    }
    results.querySelector(".more")?.remove();
    if (pageToken) results.append(h("button", { class: "more", onclick: () => void load(true) }, "More sessions"));
  }

  await load();
}

export async function sessionPage(main: HTMLElement, sessionId: string): Promise<void> {
  clear(main, h("p", { class: "muted" }, "Loading session…"));
  let answer;
  try {
    answer = await query.getSession({ sessionId });
  } catch (error) {
    clear(main, h("h1", {}, "Session ", h("code", {}, sessionId)), h("p", { class: "error" }, errorText(error)));
    return;
  }
  const s = answer.session!;
  const start = s.firstTimeUnixNano;
  const total = Number(s.lastTimeUnixNano - start) || 1;
  const timeline = h("div", { class: "timeline-list" },
    ...answer.traces.map((t) => {
      const href = `/traces/${t.traceId}`;
      const left = (Number(t.startTimeUnixNano - start) / total) * 100;
      const width = Math.max((Number(t.durationNano) / total) * 100, 0.3);
      return h("div", { class: `timeline-row${t.errorCount ? " error" : ""}` },
        h("a", { href, onclick: link(href) }, t.rootSpanName || t.traceId),
        h("div", { class: "track" }, h("div", { class: "bar", style: `left:${left}%;width:${width}%` })),
        h("span", { class: "num" }, `${count(t.inputTokens + t.outputTokens)} tok`),
        h("span", { class: "num" }, t.llmCalls ? usd(t.costUsd, t.unpricedCalls) : ""));
    }));
  clear(main,
    h("h1", {}, "Session ", h("code", {}, sessionId)),
    h("p", { class: "muted" },
      `${count(s.traces)} traces · ${count(s.llmCalls)} LLM calls · ${count(s.inputTokens)} / ${count(s.outputTokens)} tokens · `,
      s.llmCalls ? usd(s.costUsd, s.unpricedCalls) : "", ` · ${time(s.firstTimeUnixNano)} – ${time(s.lastTimeUnixNano)}`,
      s.userIds.length ? ` · ${s.userIds.join(", ")}` : ""),
    h("p", { class: "muted" }, answer.truncated ? "The first 1,000 traces are shown." : ""),
    timeline);
}
