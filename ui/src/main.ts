// The app shell: who is signed in (WhoAmI), the header with the project switcher, theme,
// and a router over the History API (deep links work: the server answers every path that
// is not an API call with index.html).

import "./style.css";
import { h, clear } from "./dom";
import { Code } from "@connectrpc/connect";
import { endSession, errorCode, errorText, project, query, setProject, signedIn, whenSignedOut } from "./api";
import type { WhoAmIResponse } from "./gen/vigil/query/v1/query_pb";
import { loginPage } from "./pages/login";
import { searchPage } from "./pages/search";
import { tracePage } from "./pages/trace";
import { sessionPage, sessionsPage } from "./pages/sessions";
import { driftPage } from "./pages/drift";
import { alertsPage, rulePage } from "./pages/alerts";
import { driftAlertsPage } from "./pages/driftalerts";
import { incidentPage, incidentsPage } from "./pages/incidents";
import { actionPage, actionsPage } from "./pages/actions";
import { tailPage } from "./pages/tail";
import { overviewPage } from "./pages/overview";
import { logsPage } from "./pages/logs";
import { metricsPage } from "./pages/metrics";

const root = document.getElementById("app")!;
let me: WhoAmIResponse | null = null;
let leaving: (() => void)[] = [];

export function navigate(path: string): void {
  history.pushState(null, "", path);
  render();
}

// Work a page started that must stop when the user leaves it (a live tail's stream).
export function onLeave(stop: () => void): void {
  leaving.push(stop);
}

function themeToggle(): HTMLElement {
  const stored = localStorage.getItem("vigil-theme");
  if (stored) document.documentElement.dataset.theme = stored;
  return h("button", {
    class: "ghost",
    title: "Light or dark theme",
    "aria-label": "Toggle theme",
    onclick: () => {
      const dark = document.documentElement.dataset.theme !== "dark";
      document.documentElement.dataset.theme = dark ? "dark" : "light";
      localStorage.setItem("vigil-theme", dark ? "dark" : "light");
      render(); // the charts take the theme's colors when drawn
    },
  }, "◐");
}

// Projects are separate databases: a trace of one is not found in another, so switching
// goes to the trace search.
function account(): HTMLElement | null {
  if (!me?.authEnabled) return null;
  const picker = h("select", {
    name: "project",
    "aria-label": "Project",
    onchange: () => {
      setProject(picker.value);
      history.pushState(null, "", "/traces");
      void start();
    },
  }, ...me.projects.map((p) => h("option", { value: p.slug, selected: p.slug === me!.project },
    p.name && p.name !== p.slug ? `${p.name} (${p.slug})` : p.slug)));
  return h("div", { class: "account" },
    picker,
    h("span", { class: "muted user" }, me.username || `key ${me.keyId}`),
    me.username ? h("button", { class: "ghost signout", title: "Sign out", onclick: () => { void endSession().then(start); } }, "⎋") : null);
}

function render(): void {
  for (const stop of leaving) stop();
  leaving = [];
  const path = window.location.pathname;
  const main = h("main");
  const header = h(
    "header",
    {},
    h("a", { href: "/", class: "brand", onclick: link("/") }, "Vigil"),
    h("nav", {},
      ...[["/", "Overview"], ["/traces", "Traces"], ["/logs", "Logs"], ["/metrics", "Metrics"], ["/tail", "Live"],
        ["/sessions", "Sessions"], ["/drift", "Drift"], ["/alerts", "Alerts"], ["/incidents", "Incidents"], ["/actions", "Actions"]].map(([href, label]) =>
        h("a", { href, onclick: link(href), class: current(href, path) ? "active" : "" }, label))),
    account(),
    themeToggle(),
  );
  clear(root, header, main);
  const trace = path.match(/^\/traces\/([0-9a-fA-F]{32})\/?$/);
  const session = path.match(/^\/sessions\/(.+)$/);
  if (trace) void tracePage(main, trace[1].toLowerCase());
  else if (session) void sessionPage(main, decodeURIComponent(session[1]));
  else if (path.startsWith("/sessions")) void sessionsPage(main);
  else if (path.startsWith("/tail")) void tailPage(main);
  else if (path.startsWith("/drift")) void driftPage(main);
  else if (path.startsWith("/alerts/drift")) void driftAlertsPage(main);
  else if (path.startsWith("/alerts/new")) void rulePage(main, "");
  else if (path.startsWith("/alerts/rules/")) void rulePage(main, decodeURIComponent(path.slice("/alerts/rules/".length)));
  else if (path.startsWith("/alerts")) void alertsPage(main);
  else if (path.match(/^\/incidents\/[0-9a-f]+$/)) void incidentPage(main, path.split("/")[2]);
  else if (path.startsWith("/incidents")) void incidentsPage(main);
  else if (path.match(/^\/actions\/[0-9a-f]+$/)) void actionPage(main, path.split("/")[2]);
  else if (path.startsWith("/actions")) void actionsPage(main);
  else if (path.startsWith("/traces")) void searchPage(main);
  else if (path.startsWith("/logs")) void logsPage(main);
  else if (path.startsWith("/metrics")) void metricsPage(main);
  else void overviewPage(main);
}

// Who is calling decides what is shown: the login page when the server wants a user and
// none is signed in, else the app in the project chosen (or the credential's own).
async function start(): Promise<void> {
  try {
    me = await query.whoAmI({});
  } catch (error) {
    const code = errorCode(error);
    if (code === Code.PermissionDenied && project()) {
      setProject(""); // a project this user is no longer a member of
      return start();
    }
    if (code === Code.Unauthenticated) {
      for (const stop of leaving) stop();
      leaving = [];
      loginPage(root, signedIn() ? "Your session has ended; sign in again." : "", () => void start());
      return;
    }
    me = null;
    render();
    root.querySelector("main")?.prepend(h("p", { class: "error" }, errorText(error)));
    return;
  }
  if (me.authEnabled && !me.project) {
    // Signed in, but not a member of the project asked for (or of the default one).
    if (me.projects.length) {
      setProject(me.projects[0].slug);
      return start();
    }
    clear(root, h("main", {}, h("div", { class: "empty" },
      h("p", {}, `${me.username}, you are not a member of any project yet. An administrator adds you:`),
      h("pre", {}, `vigil users grant ${me.username} --project PROJECT --role viewer`),
      h("button", { onclick: () => { void endSession().then(start); } }, "Sign out"))));
    return;
  }
  render();
}

function current(href: string, path: string): boolean {
  return href === "/" ? path === "/" : path.startsWith(href);
}

export function link(path: string): (event: Event) => void {
  return (event: Event) => {
    const mouse = event as MouseEvent;
    if (mouse.metaKey || mouse.ctrlKey || mouse.shiftKey || mouse.button === 1) return;
    event.preventDefault();
    navigate(path);
  };
}

whenSignedOut(() => void start());
window.addEventListener("popstate", render);
void start();
