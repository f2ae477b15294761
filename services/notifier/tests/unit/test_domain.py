"""Pure decisions: given the notifier's view and an event, then these deliveries and timers."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from interventions_events import incidents as ev
from interventions_events.notifications import EscalationTriggered, SlaBreached
from notifier import domain, payloads
from notifier.domain import TimerRow
from notifier.sender import backoff
from notifier.settings import Retry, Settings, VendorEnv
from pydantic import SecretStr

T0 = datetime(2026, 11, 26, 21, 0, tzinfo=UTC)


def settings(raw: dict[str, Any] | None = None, **vendors: Any) -> Settings:
    env = VendorEnv(
        pagerduty_routing_key=SecretStr("k" * 32),
        slack_webhook_url=SecretStr("http://hook"),
        **vendors,
    )
    return Settings.load(raw or {}, "http://console", env)


def snap(severity: str = "sev1", status: str = "open", version: int = 1) -> dict[str, Any]:
    return {
        "id": 1,
        "kind": "budget",
        "key": "K",
        "severity": severity,
        "status": status,
        "version": version,
        "summary": "s",
        "owner_team": "data-platform",
    }


def opened(severity: str = "sev1") -> ev.IncidentOpened:
    return ev.IncidentOpened(
        incident_id=1,
        at=T0,
        kind="budget",
        key="K",
        severity=severity,  # type: ignore[arg-type]
        summary="s",
        owner_team="data-platform",
        detection_id="d",
        rule="r",
        incident=snap(severity),
    )


def test_routing_defaults_page_sev1_sev2_post_sev3_and_only_log_sev4() -> None:
    s = settings()
    sinks = {
        sev: [d.sink for d in domain.on_incident_event(None, opened(sev), s, T0).deliveries]
        for sev in ("sev1", "sev2", "sev3", "sev4")
    }
    assert sinks == {
        "sev1": ["pagerduty", "slack"],
        "sev2": ["pagerduty", "slack"],
        "sev3": ["slack"],
        "sev4": [],
    }
    assert domain.on_incident_event(None, opened("sev4"), s, T0).logs


def test_a_team_override_wins_over_the_severity_default() -> None:
    s = settings(
        {
            "notifier": {
                "routes": {
                    "overrides": [
                        {"team": "data-platform", "severity": "sev3", "sinks": ["pagerduty"]}
                    ]
                }
            }
        }
    )
    fx = domain.on_incident_event(None, opened("sev3"), s, T0)
    assert [d.sink for d in fx.deliveries] == ["pagerduty"]


def test_an_unconfigured_vendor_is_skipped_not_failed() -> None:
    s = Settings.load({}, "http://console", VendorEnv())
    assert domain.on_incident_event(None, opened("sev1"), s, T0).deliveries == []


def test_open_schedules_secondary_escalation_and_sla_timers_from_the_open_time() -> None:
    fx = domain.on_incident_event(None, opened("sev1"), settings(), T0)
    timers = {(t.kind, t.name): t.due_at - T0 for t in fx.schedule}
    assert timers == {
        ("escalation", "1"): timedelta(minutes=15),
        ("sla", "acknowledge"): timedelta(minutes=5),
        ("sla", "mitigate"): timedelta(minutes=30),
        ("sla", "resolve"): timedelta(hours=4),
    }


def test_resolve_reaches_every_pager_that_got_the_trigger_and_cancels_all_timers() -> None:
    s = settings()
    tracked = domain.on_incident_event(None, opened("sev1"), s, T0).tracked
    assert tracked is not None
    tracked = _with_told(tracked, "pagerduty:manager")
    event = ev.IncidentResolved(incident_id=1, at=T0, incident=snap(status="resolved", version=3))
    fx = domain.on_incident_event(tracked, event, s, T0)
    pages = sorted((d.sink, d.transition) for d in fx.deliveries if d.sink != "slack")
    assert pages == [("pagerduty", "resolve"), ("pagerduty:manager", "resolve")]
    assert "*" in fx.cancel and {"acknowledge", "mitigate", "resolve"} <= fx.cancel


def test_escalation_fires_the_next_level_and_schedules_the_one_after() -> None:
    s = settings()
    tracked = domain.on_incident_event(None, opened("sev1"), s, T0).tracked
    timer = TimerRow(1, 1, "escalation", "1", T0 + timedelta(minutes=15), {})
    fx = domain.on_timer(timer, tracked, s, T0 + timedelta(minutes=15))
    assert [type(e) for e in fx.events] == [EscalationTriggered]
    assert fx.events[0].level == "secondary"  # type: ignore[attr-defined]
    assert [(t.name, t.due_at - T0) for t in fx.schedule] == [("2", timedelta(minutes=30))]


def test_a_timer_from_an_earlier_cycle_or_after_ack_does_nothing() -> None:
    s = settings()
    tracked = domain.on_incident_event(None, opened("sev1"), s, T0).tracked
    assert tracked is not None
    acked = _with_status(tracked, "acknowledged")
    timer = TimerRow(1, 1, "escalation", "1", T0, {})
    assert domain.on_timer(timer, acked, s, T0).events == []
    assert (
        domain.on_timer(TimerRow(1, 0, "sla", "acknowledge", T0, {}), tracked, s, T0).events == []
    )
    breach = domain.on_timer(
        TimerRow(1, 1, "sla", "acknowledge", T0, {"severity": "sev1"}), tracked, s, T0
    ).events
    assert [type(e) for e in breach] == [SlaBreached]


def _with_told(t: domain.Tracked, sink: str) -> domain.Tracked:
    return replace(t, told=t.told | {sink})


def _with_status(t: domain.Tracked, status: str) -> domain.Tracked:
    return replace(t, status=status)


def test_pagerduty_trigger_maps_severity_cuts_summary_and_links_console_and_ticket() -> None:
    body = payloads.pagerduty_event(
        routing_key="k" * 32,
        action="trigger",
        incident_id=9,
        snapshot={**snap("sev3"), "summary": "y" * 2000, "issue_url": "http://ticket/1"},
        headline="Opened",
        console_url="http://console",
    )
    assert body["dedup_key"] == "interventions-incident-9"
    assert body["payload"]["severity"] == "warning"
    assert len(body["payload"]["summary"]) == 1024
    assert [link["href"] for link in body["links"]] == [
        "http://console/incidents/9",
        "http://ticket/1",
    ]
    ack = payloads.pagerduty_event(
        routing_key="k" * 32,
        action="acknowledge",
        incident_id=9,
        snapshot={},
        headline="",
        console_url="http://console",
    )
    assert set(ack) == {"routing_key", "event_action", "dedup_key"}


def test_backoff_grows_exponentially_with_jitter_and_honours_retry_after() -> None:
    retry = Retry(backoff_base="1s", backoff_max="10s")  # type: ignore[arg-type]
    rand = random.Random(1)
    delays = [backoff(n, retry, None, rand) for n in range(1, 7)]
    assert 0.5 <= delays[0] <= 1 and 4 <= delays[3] <= 8 and delays[5] <= 10
    assert backoff(1, retry, 30.0, rand) == 30.0
