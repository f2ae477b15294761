// The incident page: summary, evidence, occurrences, timeline, ticket, lifecycle, playbooks.

import { api } from "./api.js";
import { announce, h, when } from "./dom.js";
import { onLive } from "./live.js";
import { playbooksSection } from "./playbooks.js";

// which lifecycle commands each status allows (DESIGN.md, "Lifecycle")
export const TRANSITIONS = {
  acknowledge: ["open"],
  mitigate: ["open", "acknowledged"],
  resolve: ["open", "acknowledged", "mitigated"],
  close: ["resolved"],
  reopen: ["resolved"],
};
const NOTES_REQUIRED = new Set(["mitigate", "resolve", "reopen"]);
const RESOLUTIONS = ["fixed", "false_positive", "duplicate", "wont_fix"];

function eventsOf(data) {
  return Array.isArray(data) ? data : data.events || data.items || data.timeline || [];
}

function flatten(value, prefix = "", out = []) {
  if (value && typeof value === "object" && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else {
    out.push([prefix, Array.isArray(value) ? JSON.stringify(value) : String(value)]);
  }
  return out;
}

function summary(i) {
  const facts = [
    ["Severity", h("span", { class: `badge ${i.severity}` }, i.severity)],
    ["Status", h("span", { class: `status ${i.status}`, id: "incident-status" }, i.status)],
    ["Kind", i.kind], ["Key", h("code", {}, i.key)], ["Team", i.owner_team || "—"],
    ["Occurrences", String(i.occurrences ?? 1)], ["Opened", when(i.created_at)],
    ["Last seen", when(i.last_seen_at)],
    ["Acknowledged", i.acknowledged_at ? `${when(i.acknowledged_at)} by ${i.acknowledged_by}` : "—"],
    ["Resolved", i.resolved_at ? `${when(i.resolved_at)} (${i.resolution || "fixed"})` : "—"],
    ["Ticket", i.issue_url ? h("a", { href: i.issue_url, target: "_blank", rel: "noopener" },
      i.issue_url) : "not linked yet"],
  ];
  return h("dl", { class: "facts" }, facts.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

function evidence(i) {
  const rows = flatten(i.details || {});
  return h("section", { "aria-labelledby": "evidence-title", class: "card" },
    h("h2", { id: "evidence-title" }, "Evidence"),
    rows.length ? h("dl", { class: "facts evidence" }, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]))
      : h("p", { class: "hint" }, "No details recorded."));
}

function timeline(events) {
  return h("section", { "aria-labelledby": "timeline-title", class: "card" },
    h("h2", { id: "timeline-title" }, "Timeline"),
    h("ol", { class: "timeline", id: "timeline" }, events.map((e) => h("li", {},
      h("time", { datetime: e.at || e.recorded_at }, when(e.at || e.recorded_at)), " ",
      h("strong", {}, e.what || e.type), e.by ? ` by ${e.by}` : "",
      e.why ? h("span", { class: "why" }, ` — ${e.why}`) : ""))));
}

function lifecycle(i, me, run) {
  if (!me.can("responder")) {
    return h("p", { class: "hint" }, "Your token can read but not change incidents.");
  }
  const allowed = Object.keys(TRANSITIONS).filter((c) => TRANSITIONS[c].includes(i.status));
  if (!allowed.length) return h("p", { class: "hint" }, `No lifecycle action applies to a ${i.status} incident.`);
  const notes = h("textarea", { id: "notes", rows: 2, "aria-describedby": "notes-help" });
  const resolution = h("select", { id: "resolution" }, RESOLUTIONS.map((r) => h("option", { value: r }, r)));
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const buttons = allowed.map((command) => h("button", { type: "button", dataset: { command },
    onclick: async () => {
      error.hidden = true;
      const text = notes.value.trim();
      if (NOTES_REQUIRED.has(command) && !text) {
        error.textContent = `Write a note: ${command} needs one.`;
        error.hidden = false;
        return notes.focus();
      }
      const body = text ? { notes: text } : {};
      if (command === "resolve") body.resolution = resolution.value;
      try {
        await run(command, body);
      } catch (err) {
        error.textContent = err.message;
        error.hidden = false;
      }
    } }, command[0].toUpperCase() + command.slice(1)));
  return h("div", { class: "lifecycle" },
    h("label", { for: "notes" }, "Notes"), notes,
    h("p", { id: "notes-help", class: "hint" }, "Required to mitigate, resolve or reopen."),
    allowed.includes("resolve") ? h("div", { class: "field" },
      h("label", { for: "resolution" }, "Resolution"), resolution) : null,
    h("div", { class: "buttons" }, buttons), error);
}

export async function showIncident(root, id, me) {
  let incident = null;
  const head = h("div");
  const body = h("div", { class: "incident-body" });
  const actions = h("section", { "aria-labelledby": "actions-title", class: "card" });
  const playbooks = await playbooksSection(id, me);

  async function run(command, payload) {
    await api(`/api/incidents/${id}/${command}`, { method: "POST", body: payload });
    announce(`Incident ${command}d`);
    await reload();
  }

  async function reload() {
    const [one, events] = await Promise.all([
      api(`/api/incidents/${id}`), api(`/api/incidents/${id}/events`)]);
    incident = one.data;
    head.replaceChildren(h("h1", { id: "incident-title" }, `#${incident.id} ${incident.summary}`),
      summary(incident));
    actions.replaceChildren(h("h2", { id: "actions-title" }, "Response"), lifecycle(incident, me, run));
    body.replaceChildren(evidence(incident), timeline(eventsOf(events.data)));
    playbooks.update(incident);
    document.title = `#${incident.id} ${incident.summary} · Interventions`;
  }

  root.replaceChildren(h("nav", { "aria-label": "Breadcrumb" },
    h("a", { href: "/", "data-nav": true }, "← All incidents")),
  h("article", { class: "incident", "aria-labelledby": "incident-title" },
    head, actions, playbooks.element, body));
  try {
    await reload();
  } catch (err) {
    root.append(h("p", { class: "error", role: "alert" },
      err.status === 404 ? `There is no incident #${id}.` : `Could not load incident #${id}: ${err.message}`));
  }
  document.getElementById("main").focus();
  const off = onLive((name, data) => {
    if (Number(data.incident_id) !== id) return;
    if (name === "action_executed") playbooks.refresh();
    else reload().catch(() => {});
  });
  return off;
}
