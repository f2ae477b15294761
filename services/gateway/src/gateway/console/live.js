// One EventSource per tab: incident and action events pushed to whichever view is open.

import { eventsUrl } from "./api.js";

const listeners = new Set();
let source = null;
const NAMES = ["incident_created", "incident_updated", "action_executed"];

export function onLive(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function setState(text) {
  const el = document.getElementById("live-state");
  el.textContent = text;
  el.dataset.state = text;
}

export function connect() {
  if (source) return;
  source = new EventSource(eventsUrl());
  source.addEventListener("open", () => setState("live"));
  source.addEventListener("error", () => {
    // the browser reconnects by itself (with Last-Event-ID) unless the stream was refused
    setState(source && source.readyState === EventSource.CLOSED ? "offline" : "reconnecting");
  });
  for (const name of NAMES) {
    source.addEventListener(name, (msg) => {
      let data;
      try { data = JSON.parse(msg.data); } catch { return; }
      if (name === "incident_created") notify(data.incident);
      for (const fn of listeners) fn(name, data);
    });
  }
}

export function disconnect() {
  if (source) source.close();
  source = null;
  setState("offline");
}

function notify(incident) {
  // a browser notification only for new sev1/sev2, and only when the user allowed it
  if (!incident || !["sev1", "sev2"].includes(incident.severity)) return;
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  const n = new Notification(`${incident.severity.toUpperCase()} incident #${incident.id}`, {
    body: incident.summary || "", tag: `incident-${incident.id}`,
  });
  n.addEventListener("click", () => {
    window.focus();
    window.dispatchEvent(new CustomEvent("navigate", { detail: `/incidents/${incident.id}` }));
  });
}
