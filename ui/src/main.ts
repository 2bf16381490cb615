// The app shell: header, theme, and a router over the History API (deep links work: the
// server answers every path that is not an API call with index.html).

import "./style.css";
import { h, clear } from "./dom";
import { searchPage } from "./pages/search";
import { tracePage } from "./pages/trace";

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
    h("nav", {}, h("a", { href: "/", onclick: link("/") }, "Traces")),
    themeToggle(),
  );
  clear(root, header, main);
  const trace = path.match(/^\/traces\/([0-9a-fA-F]{32})\/?$/);
  if (trace) void tracePage(main, trace[1].toLowerCase());
  else void searchPage(main);
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
