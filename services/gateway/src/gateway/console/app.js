// The console shell: sign-in, who am I, and a tiny path router (/ and /incidents/<id>).

import { api, ApiError, token } from "./api.js";
import { h } from "./dom.js";
import { connect, disconnect } from "./live.js";
import { showBoard } from "./board.js";
import { showIncident } from "./incident.js";

const main = () => document.getElementById("main");
let me = null;
let cleanup = () => {};

export function navigate(path) {
  if (path !== location.pathname + location.search) history.pushState({}, "", path);
  render();
}

async function whoAmI() {
  if (me) return me;
  const { data } = await api("/api/me");
  if (!data.grants.includes("viewer")) {
    throw new ApiError(403, `the token of ${data.name} cannot view incidents (roles: ${data.roles.join(", ")})`);
  }
  me = { name: data.name, roles: data.roles, can: (role) => data.grants.includes(role) };
  return me;
}

function signIn(message) {
  disconnect();
  me = null;
  document.getElementById("whoami").textContent = "";
  document.getElementById("sign-out").hidden = true;
  const input = h("input", { id: "token", type: "password", autocomplete: "off", required: true,
    "aria-describedby": "token-help" });
  const form = h("form", { class: "card sign-in", "aria-labelledby": "sign-in-title" },
    h("h1", { id: "sign-in-title" }, "Sign in"),
    h("label", { for: "token" }, "API token"),
    input,
    h("p", { id: "token-help", class: "hint" },
      "Paste a token from `interventions tokens create` or the admin token printed by `make run`. ",
      "It is kept in this tab only."),
    message ? h("p", { class: "error", role: "alert" }, message) : null,
    h("button", { type: "submit" }, "Sign in"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    token.set(input.value.trim());
    render();
  });
  main().replaceChildren(form);
  input.focus();
}

async function render() {
  cleanup();
  cleanup = () => {};
  if (!token.get()) return signIn();
  try {
    await whoAmI();
  } catch (err) {
    token.clear();
    return signIn(err instanceof ApiError && err.status === 401 ? "That token is not valid." : err.message);
  }
  document.getElementById("whoami").textContent = `${me.name} (${me.roles.join(", ")})`;
  document.getElementById("sign-out").hidden = false;
  connect();
  const match = location.pathname.match(/^\/incidents\/(\d+)$/);
  cleanup = match ? await showIncident(main(), Number(match[1]), me) : await showBoard(main(), me);
}

document.addEventListener("click", (ev) => {
  const link = ev.target.closest("a[data-nav]");
  if (!link || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.button !== 0) return;
  ev.preventDefault();
  navigate(link.getAttribute("href"));
});
window.addEventListener("popstate", render);
window.addEventListener("navigate", (ev) => navigate(ev.detail));
document.getElementById("sign-out").addEventListener("click", () => {
  token.clear();
  navigate("/");
});
render();
