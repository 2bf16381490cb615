// Sign in (VIGIL_AUTH=on): a user's name and password → Login → a session kept in this
// browser (the access token is renewed with the refresh token while it lasts, 7 days).

import { h, clear } from "../dom";
import { errorText, login, saveSession } from "../api";

export function loginPage(root: HTMLElement, notice: string, signedIn: () => void): void {
  const username = h("input", { name: "username", autocomplete: "username", required: true, "aria-label": "User name", placeholder: "User name" });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true, "aria-label": "Password", placeholder: "Password" });
  const status = h("p", { class: notice ? "muted" : "", role: "status" }, notice);
  const submit = h("button", { type: "submit" }, "Sign in");
  const form = h("form", {
    class: "login",
    onsubmit: async (event: Event) => {
      event.preventDefault();
      submit.disabled = true;
      try {
        const session = await login(username.value.trim(), password.value);
        saveSession(session.accessToken, session.refreshToken, session.expiresInS);
        signedIn();
      } catch (error) {
        status.className = "error";
        status.textContent = errorText(error);
        password.select();
      } finally {
        submit.disabled = false;
      }
    },
  },
    h("h1", {}, "Sign in to Vigil"),
    username, password, submit, status,
    h("p", { class: "muted" }, "No user yet? An administrator creates one: vigil users create NAME (--admin for the first)."));
  clear(root, h("main", { class: "login-page" }, form));
  username.focus();
}
