"""PagerDuty's per-routing-key limits: a token bucket spaces events out, and triggers past the
grouping threshold become one storm alert that is recorded per incident and resolved when all
its members are; through the real broker and the PagerDuty stand-in."""

from __future__ import annotations

import asyncio
from typing import Any

from interventions_events.notifications import NotificationSent
from interventions_testkit.standins.pagerduty import PagerDutyStandIn

from .conftest import Bus, Notifiers, opened, resolved, wait_for

RETRY = {"backoff_base": "50ms", "max_attempts": 4}


def _incident_triggers(pd: PagerDutyStandIn) -> list[dict[str, Any]]:
    return [
        b
        for b in pd.accepted()
        if b["event_action"] == "trigger" and b["dedup_key"].startswith("interventions-incident-")
    ]


def _storm_events(pd: PagerDutyStandIn) -> list[dict[str, Any]]:
    return [b for b in pd.accepted() if b["dedup_key"].startswith("interventions-storm-")]


async def test_token_bucket_spaces_pages_for_one_routing_key_at_the_configured_rate(
    notifiers: Notifiers, bus: Bus, pagerduty: PagerDutyStandIn
) -> None:
    # 60/min with a burst of 2: two at once, then one every 60/58 s
    notifiers.configure(
        {
            "pagerduty": {
                "rate_limit_per_min": 60,
                "burst": 2,
                "group_threshold": 100,
                "retry": RETRY,
            }
        }
    )
    notifiers.start()
    await bus.publish(*(opened(n) for n in range(1, 7)))
    await wait_for(lambda: len(_incident_triggers(pagerduty)) == 6, timeout=30, what="6 pages")
    times = [c.at for c in pagerduty.calls if c.status == 202]
    rate = 58 / 60
    for k in range(2, 6):
        assert times[k] - times[0] >= (k - 1) / rate - 0.25, (k, times[k] - times[0])
    assert times[1] - times[0] < 0.9, "the burst is sent at once"
    assert sorted(b["dedup_key"] for b in _incident_triggers(pagerduty)) == [
        f"interventions-incident-{n}" for n in range(1, 7)
    ]
    await wait_for(
        lambda: sum(e.sink == "pagerduty" for e in bus.of(NotificationSent)) == 6,
        what="6 deliveries recorded",
    )
    assert pagerduty.invalid() == []


async def test_triggers_past_the_threshold_become_one_storm_alert_resolved_with_its_members(
    notifiers: Notifiers, bus: Bus, pagerduty: PagerDutyStandIn
) -> None:
    notifiers.configure(
        {
            "pagerduty": {
                "group_threshold": 3,
                "group_window": "1m",
                "group_wait": "1s",
                "retry": RETRY,
            }
        }
    )
    notifiers.start()
    await bus.publish(*(opened(n) for n in range(1, 9)))
    await wait_for(lambda: len(_storm_events(pagerduty)) == 1, timeout=30, what="storm trigger")
    await asyncio.sleep(1.0)  # anything extra (a ninth page, a second storm) would arrive by now
    paged = sorted(int(b["dedup_key"].rsplit("-", 1)[1]) for b in _incident_triggers(pagerduty))
    assert len(paged) == 3
    storm = _storm_events(pagerduty)[0]
    assert storm["event_action"] == "trigger"
    grouped = storm["payload"]["custom_details"]["incident_ids"]
    assert sorted(paged + grouped) == list(range(1, 9)), "every incident paged or grouped, once"
    assert storm["payload"]["summary"].startswith("5 more incidents: #")
    assert storm["payload"]["severity"] == "critical"

    # nothing dropped silently: each grouped trigger is a NotificationSent naming the storm
    await wait_for(
        lambda: len([e for e in bus.of(NotificationSent) if e.transition == "grouped"]) == 5,
        what="grouped deliveries recorded",
    )
    recorded = [e for e in bus.of(NotificationSent) if e.transition == "grouped"]
    assert sorted(e.incident_id for e in recorded) == sorted(grouped)
    assert {e.target for e in recorded} == {storm["dedup_key"]}

    # resolves: each paged incident's own alert; the storm only once its last member resolves
    await bus.publish(*(resolved(n) for n in paged), *(resolved(n) for n in grouped[:-1]))
    await wait_for(
        lambda: sum(b["event_action"] == "resolve" for b in pagerduty.accepted()) == 3,
        what="resolves of the paged incidents",
    )
    await asyncio.sleep(1.5)
    assert [b["event_action"] for b in _storm_events(pagerduty)] == ["trigger"]
    await bus.publish(resolved(grouped[-1]))
    await wait_for(lambda: len(_storm_events(pagerduty)) == 2, what="storm resolve")
    assert _storm_events(pagerduty)[1]["event_action"] == "resolve"
    resolved_keys = {b["dedup_key"] for b in pagerduty.accepted() if b["event_action"] == "resolve"}
    assert resolved_keys == {f"interventions-incident-{n}" for n in paged} | {storm["dedup_key"]}
    assert pagerduty.invalid() == []
