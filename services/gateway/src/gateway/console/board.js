// The incident board: filters, severity-then-age order, live upserts from the event stream.

import { api } from "./api.js";
import { age, announce, h } from "./dom.js";
import { onLive } from "./live.js";

const SEVERITIES = ["sev1", "sev2", "sev3", "sev4"];
const ACTIVE = ["open", "acknowledged", "mitigated"];
const STATUSES = ["open", "acknowledged", "mitigated", "resolved", "closed"];
const MAX_PAGES = 10;

export function sortIncidents(list) {
  // most severe first; within a severity the longest-waiting first
  return [...list].sort((a, b) =>
    SEVERITIES.indexOf(a.severity) - SEVERITIES.indexOf(b.severity) ||
    Date.parse(a.created_at) - Date.parse(b.created_at) || a.id - b.id);
}

function itemsOf(data) {
  if (Array.isArray(data)) return { items: data, next: null };
  const items = data.items || data.incidents || data.data || [];
  return { items, next: data.next_cursor || data.cursor || data.next || null };
}

async function loadAll() {
  const all = [];
  let cursor = null;
  for (let page = 0; page < MAX_PAGES; page++) {
    const query = new URLSearchParams({ limit: "200" });
    if (cursor) query.set("cursor", cursor);
    const { items, next } = itemsOf((await api(`/api/incidents?${query}`)).data);
    all.push(...items);
    if (!next) break;
    cursor = next;
  }
  return all;
}

function select(id, label, options, value) {
  return h("div", { class: "field" },
    h("label", { for: id }, label),
    h("select", { id, name: id },
      options.map(([v, text]) => h("option", { value: v, selected: v === value }, text))));
}

export async function showBoard(root, me) {
  const incidents = new Map();
  const filters = { status: "active", severity: "", team: "" };
  const tbody = h("tbody");
  const count = h("p", { class: "hint", id: "board-count", "aria-live": "polite" });
  const teamSelect = select("filter-team", "Team", [["", "All teams"]], "");
  const notifyButton = "Notification" in window && Notification.permission === "default"
    ? h("button", { type: "button", class: "secondary", onclick: async (ev) => {
      await Notification.requestPermission();
      ev.target.hidden = true;
    } }, "Enable browser notifications for sev1/sev2")
    : null;
  const form = h("form", { class: "filters", "aria-label": "Filter incidents" },
    select("filter-status", "Status", [["active", "Active (open, acknowledged, mitigated)"],
      ["", "All"], ...STATUSES.map((s) => [s, s])], filters.status),
    select("filter-severity", "Severity", [["", "All"], ...SEVERITIES.map((s) => [s, s])], ""),
    teamSelect);
  form.addEventListener("change", (ev) => {
    const key = ev.target.name.replace("filter-", "");
    filters[key] = ev.target.value;
    draw();
  });
  form.addEventListener("submit", (ev) => ev.preventDefault());

  function visible(i) {
    if (filters.status === "active" && !ACTIVE.includes(i.status)) return false;
    if (filters.status && filters.status !== "active" && i.status !== filters.status) return false;
    if (filters.severity && i.severity !== filters.severity) return false;
    return !filters.team || i.owner_team === filters.team;
  }

  function row(i, fresh) {
    return h("tr", { dataset: { incidentId: i.id, severity: i.severity, status: i.status },
      class: fresh ? "fresh" : undefined },
    h("td", {}, h("span", { class: `badge ${i.severity}` }, i.severity)),
    h("td", {}, h("a", { href: `/incidents/${i.id}`, "data-nav": true }, `#${i.id} ${i.summary}`)),
    h("td", {}, h("span", { class: `status ${i.status}` }, i.status)),
    h("td", {}, i.owner_team || "—"),
    h("td", {}, h("time", { datetime: i.created_at, title: i.created_at }, age(i.created_at))),
    h("td", { class: "num" }, i.occurrences ?? 1));
  }

  function refreshTeams() {
    const teams = [...new Set([...incidents.values()].map((i) => i.owner_team).filter(Boolean))].sort();
    const sel = teamSelect.querySelector("select");
    sel.replaceChildren(h("option", { value: "" }, "All teams"),
      ...teams.map((t) => h("option", { value: t, selected: t === filters.team }, t)));
  }

  function draw(freshId) {
    const shown = sortIncidents([...incidents.values()].filter(visible));
    tbody.replaceChildren(...shown.map((i) => row(i, i.id === freshId)));
    if (!shown.length) {
      tbody.append(h("tr", {}, h("td", { colspan: 6, class: "empty" }, "No incidents match.")));
    }
    count.textContent = `${shown.length} of ${incidents.size} incidents`;
  }

  function upsert(incident) {
    const known = incidents.get(incident.id);
    if (known && (known.version ?? 0) > (incident.version ?? 0)) return false;
    incidents.set(incident.id, incident);
    return true;
  }

  const off = onLive((name, data) => {
    if (name === "action_executed" || !data.incident) return;
    if (!upsert(data.incident)) return;
    refreshTeams();
    draw(name === "incident_created" ? data.incident.id : undefined);
    if (name === "incident_created") {
      announce(`New ${data.incident.severity} incident: ${data.incident.summary}`);
    }
  });

  root.replaceChildren(h("section", { class: "board", "aria-labelledby": "board-title" },
    h("div", { class: "board-head" }, h("h1", { id: "board-title" }, "Incidents"), notifyButton),
    form, count,
    h("div", { class: "table-wrap" }, h("table", { class: "incidents" },
      h("caption", { class: "visually-hidden" }, "Incidents, most severe and oldest first"),
      h("thead", {}, h("tr", {}, ["Severity", "Incident", "Status", "Team", "Age", "Seen"].map(
        (c) => h("th", { scope: "col" }, c)))),
      tbody))));
  try {
    for (const i of await loadAll()) upsert(i);
  } catch (err) {
    root.prepend(h("p", { class: "error", role: "alert" }, `Could not load incidents: ${err.message}`));
  }
  refreshTeams();
  draw();
  document.title = "Incidents · Interventions";
  const tick = setInterval(() => draw(), 30000);  // keep the ages current
  return () => { off(); clearInterval(tick); };
}
