// The app shell: header, theme, and a router over the History API (deep links work: the
// server answers every path that is not an API call with index.html).

import "./style.css";
import { h, clear } from "./dom";
import { searchPage } from "./pages/search";
import { tracePage } from "./pages/trace";
import { sessionPage, sessionsPage } from "./pages/sessions";
import { driftPage } from "./pages/drift";
import { alertsPage } from "./pages/alerts";

const root = document.getElementById("app")!;

export function navigate(path: string): void {
  history.pushState(null, "", path);
  render();
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
    },
  }, "◐");
}

function render(): void {
  const path = window.location.pathname;
  const main = h("main");
  const header = h(
    "header",
    {},
    h("a", { href: "/", class: "brand", onclick: link("/") }, "Vigil"),
    h("nav", {},
      ...[["/", "Traces"], ["/sessions", "Sessions"], ["/drift", "Drift"], ["/alerts", "Alerts"]].map(([href, label]) =>
        h("a", { href, onclick: link(href), class: current(href, path) ? "active" : "" }, label))),
    themeToggle(),
  );
  clear(root, header, main);
  const trace = path.match(/^\/traces\/([0-9a-fA-F]{32})\/?$/);
  const session = path.match(/^\/sessions\/(.+)$/);
  if (trace) void tracePage(main, trace[1].toLowerCase());
  else if (session) void sessionPage(main, decodeURIComponent(session[1]));
  else if (path.startsWith("/sessions")) void sessionsPage(main);
  else if (path.startsWith("/drift")) void driftPage(main);
  else if (path.startsWith("/alerts")) void alertsPage(main);
  else void searchPage(main);
}

function current(href: string, path: string): boolean {
  return href === "/" ? path === "/" || path.startsWith("/traces") : path.startsWith(href);
}

export function link(path: string): (event: Event) => void {
  return (event: Event) => {
    const mouse = event as MouseEvent;
    if (mouse.metaKey || mouse.ctrlKey || mouse.shiftKey || mouse.button === 1) return;
    event.preventDefault();
    navigate(path);
  };
}

window.addEventListener("popstate", render);
render();
