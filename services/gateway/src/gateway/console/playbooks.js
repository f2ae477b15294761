// Suggested playbooks on the incident page: dry-run preview, execute, approvals, history.

import { api } from "./api.js";
import { announce, h, when } from "./dom.js";

function parseParams(textarea) {
  const text = textarea.value.trim() || "{}";
  const value = JSON.parse(text);
  if (!value || typeof value !== "object" || Array.isArray(value)) throw new Error("params must be a JSON object");
  return value;
}

function preview(result) {
  return h("div", { class: `preview ${result.status}`, role: "status" },
    h("p", {}, h("strong", {}, result.status === "dry_run_success" ? "Dry run succeeded" : "Dry run failed"),
      ` · about ${result.estimated_duration} · ${result.estimated_cost}`),
    h("ul", {}, (result.changes || []).map((c) => h("li", {}, c))));
}

function actionCard(type, incidentId, me, refresh) {
  const slug = type.replace(/[^a-z0-9_]/g, "");
  const params = h("textarea", { id: `params-${slug}`, rows: 2, spellcheck: "false" }, "{}");
  const out = h("div", { "aria-live": "polite" });
  const approve = me.can("approver")
    ? h("input", { type: "checkbox", id: `approve-${slug}` }) : null;
  let previewed = null;
  const execute = h("button", { type: "button", disabled: true, dataset: { action: "execute" } }, "Execute");
  const show = (...nodes) => out.replaceChildren(...nodes);
  const fail = (err) => show(h("p", { class: "error", role: "alert" }, err.message));

  params.addEventListener("input", () => { previewed = null; execute.disabled = true; });
  const dry = h("button", { type: "button", class: "secondary", dataset: { action: "dry-run" },
    onclick: async () => {
      try {
        const body = { action_type: type, params: parseParams(params) };
        const { data } = await api(`/api/playbooks/incidents/${incidentId}/actions/dry-run`, { method: "POST", body });
        show(preview(data));
        previewed = data.status === "dry_run_success" ? params.value : null;
        execute.disabled = previewed === null;
        if (previewed !== null) execute.focus();
      } catch (err) { fail(err); }
    } }, "Dry run");
  execute.addEventListener("click", async () => {
    try {
      const body = { action_type: type, params: parseParams(params) };
      if (approve && approve.checked) body.approved_by = me.name;
      const { status, data } = await api(`/api/playbooks/incidents/${incidentId}/actions/execute`, { method: "POST", body });
      const text = status === 202 ? `Waiting for approval: ${data.detail}`
        : `Execution ${data.status || "finished"}${data.error ? `: ${data.error}` : ""}`;
      show(h("p", { class: status === 202 ? "pending" : "done", role: "status" }, text));
      announce(text);
      execute.disabled = true;
      await refresh();
    } catch (err) { fail(err); }
  });
  return h("li", { class: "action", dataset: { actionType: type } },
    h("h3", {}, h("code", {}, type)),
    h("label", { for: params.id }, "Parameters (JSON)"), params,
    approve ? h("div", { class: "check" }, approve,
      h("label", { for: approve.id }, `I approve this execution (approved_by ${me.name})`)) : null,
    h("div", { class: "buttons" }, dry, execute), out);
}

function executionRow(e, me, refresh) {
  const pending = e.status === "pending_approval";
  const approveButton = pending && me.can("approver")
    ? h("button", { type: "button", dataset: { action: "approve" }, onclick: async (ev) => {
      ev.target.disabled = true;
      try {
        await api(`/api/playbooks/approvals/${encodeURIComponent(e.execution_id)}/approve`, { method: "POST", body: {} });
        announce(`Approved ${e.action_type}`);
      } catch (err) { announce(err.message); }
      await refresh();
    } }, `Approve ${e.action_type}`) : null;
  return h("tr", { dataset: { executionId: e.execution_id, status: e.status } },
    h("td", {}, h("code", {}, e.action_type)), h("td", {}, e.status),
    h("td", {}, e.requested_by || "—"), h("td", {}, e.approved_by || (pending ? "awaiting" : "—")),
    h("td", {}, when(e.finished_at || e.started_at || e.requested_at)),
    h("td", {}, approveButton || e.error || ""));
}

export async function playbooksSection(incidentId, me) {
  const list = h("ul", { class: "actions" });
  const history = h("tbody");
  const element = h("section", { "aria-labelledby": "playbooks-title", class: "card" },
    h("h2", { id: "playbooks-title" }, "Suggested playbooks"), list,
    h("h3", {}, "Executions"),
    h("div", { class: "table-wrap" }, h("table", { class: "executions" },
      h("thead", {}, h("tr", {}, ["Action", "Status", "Requested by", "Approved by", "When", ""].map(
        (c) => h("th", { scope: "col" }, c)))), history)));
  let shownFor = null;

  async function refresh() {
    try {
      const { data } = await api(`/api/playbooks/incidents/${incidentId}/actions`);
      const rows = (data.executions || []).map((e) => executionRow(e, me, refresh));
      history.replaceChildren(...(rows.length ? rows
        : [h("tr", {}, h("td", { colspan: 6, class: "empty" }, "No executions yet."))]));
    } catch (err) {
      history.replaceChildren(h("tr", {}, h("td", { colspan: 6, class: "error" }, err.message)));
    }
  }

  function update(incident) {
    const key = (incident.playbooks || []).join(",") + (me.can("responder") ? "+" : "");
    if (key === shownFor) return;  // keep what the user typed across live refreshes
    shownFor = key;
    if (!me.can("responder")) {
      list.replaceChildren(...(incident.playbooks || []).map((p) => h("li", {}, h("code", {}, p))));
    } else {
      list.replaceChildren(...(incident.playbooks || []).map((p) => actionCard(p, incidentId, me, refresh)));
    }
    if (!(incident.playbooks || []).length) list.replaceChildren(h("li", { class: "hint" }, "No playbook suggested."));
  }

  await refresh();
  return { element, update, refresh };
}
