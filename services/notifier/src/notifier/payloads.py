"""Vendor request bodies, built from the incident snapshot (pure)."""

from __future__ import annotations

from typing import Any

PD_SEVERITY = {"sev1": "critical", "sev2": "error", "sev3": "warning", "sev4": "info"}
PD_SUMMARY_MAX = 1024
PD_DEDUP_MAX = 255
SLACK_HEADER_MAX = 150
SLACK_TEXT_MAX = 3000


def dedup_key(incident_id: int) -> str:
    """One PagerDuty alert per incident: trigger, acknowledge and resolve share this key."""
    return f"interventions-incident-{incident_id}"[:PD_DEDUP_MAX]


def console_link(console_url: str, incident_id: int) -> str:
    return f"{console_url}/incidents/{incident_id}"


def pagerduty_event(
    *,
    routing_key: str,
    action: str,
    incident_id: int,
    snapshot: dict[str, Any],
    headline: str,
    console_url: str,
) -> dict[str, Any]:
    """An Events API v2 body; acknowledge and resolve carry only the key and the dedup_key."""
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": dedup_key(incident_id),
    }
    if action != "trigger":
        return body
    body["payload"] = {
        "summary": _cut(_summary(snapshot, incident_id), PD_SUMMARY_MAX),
        "source": f"interventions/{snapshot.get('kind') or 'incident'}/"
        f"{snapshot.get('key') or incident_id}",
        "severity": PD_SEVERITY.get(str(snapshot.get("severity")), "error"),
        "component": str(snapshot.get("key") or ""),
        "group": str(snapshot.get("owner_team") or ""),
        "class": str(snapshot.get("kind") or ""),
        "custom_details": {
            "incident_id": incident_id,
            "key": snapshot.get("key"),
            "severity": snapshot.get("severity"),
            "status": snapshot.get("status"),
            "owner_team": snapshot.get("owner_team"),
            "note": headline,
            "evidence": snapshot.get("details") or {},
        },
    }
    body["client"] = "Interventions"
    body["client_url"] = console_link(console_url, incident_id)
    body["links"] = _links(snapshot, incident_id, console_url)
    return body


def _links(snapshot: dict[str, Any], incident_id: int, console_url: str) -> list[dict[str, str]]:
    links = [{"href": console_link(console_url, incident_id), "text": "Interventions console"}]
    if snapshot.get("issue_url"):
        links.append({"href": str(snapshot["issue_url"]), "text": "Ticket"})
    return links


def _summary(snapshot: dict[str, Any], incident_id: int) -> str:
    sev = str(snapshot.get("severity") or "").upper()
    return f"[{sev}] {snapshot.get('summary') or f'incident {incident_id}'}"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _esc(text: Any) -> str:
    """Slack mrkdwn control characters must be escaped in user-supplied text."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(
    *, incident_id: int, snapshot: dict[str, Any], headline: str, console_url: str
) -> dict[str, Any]:
    """Block Kit message: severity, summary, key, owner team, status, console link."""
    summary = _summary(snapshot, incident_id)
    link = console_link(console_url, incident_id)
    links = f"<{link}|Open incident #{incident_id} in the console>"
    if snapshot.get("issue_url"):
        links += f"  ·  <{snapshot['issue_url']}|Ticket>"
    fields = [
        ("Severity", snapshot.get("severity")),
        ("Status", snapshot.get("status")),
        ("Key", snapshot.get("key")),
        ("Owner team", snapshot.get("owner_team")),
    ]
    return {
        "text": _cut(f"{summary} ({headline})", SLACK_TEXT_MAX),
        "blocks": [
            {
                "type": "header",
                "text": {
                    "type": "plain_text",
                    "emoji": True,
                    "text": _cut(summary, SLACK_HEADER_MAX),
                },
            },
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*{name}*\n{_esc(value or '-')}"}
                    for name, value in fields
                ],
            },
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": _cut(_esc(headline), SLACK_TEXT_MAX)}],
            },
            {"type": "section", "text": {"type": "mrkdwn", "text": links}},
        ],
    }


def storm_dedup_key(storm_id: int) -> str:
    """A storm alert's own key: its trigger and resolve share it, no incident's alert does."""
    return f"interventions-storm-{storm_id}"


def pagerduty_storm(
    *,
    routing_key: str,
    action: str,
    storm_id: int,
    members: list[tuple[int, str, str]],
    console_url: str,
) -> dict[str, Any]:
    """One trigger (or resolve) standing for many incidents: (id, severity, summary) each."""
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": storm_dedup_key(storm_id),
    }
    if action != "trigger":
        return body
    listed = ", ".join(f"#{i} {summary}" for i, _, summary in members)
    ranks = [s for s in ("sev1", "sev2", "sev3", "sev4") if s in {m[1] for m in members}]
    body["payload"] = {
        "summary": _cut(f"{len(members)} more incidents: {listed}", PD_SUMMARY_MAX),
        "source": "interventions/storm",
        "severity": PD_SEVERITY.get(ranks[0] if ranks else "sev1", "critical"),
        "class": "storm",
        "custom_details": {
            "incident_ids": [i for i, _, _ in members],
            "count": len(members),
            "note": "grouped: more incidents than the per-routing-key page limit allows",
        },
    }
    body["client"] = "Interventions"
    body["client_url"] = f"{console_url}/incidents"
    body["links"] = [{"href": f"{console_url}/incidents", "text": "Interventions console"}]
    return body
