"""Limit settings and the storm payload (pure)."""

from __future__ import annotations

import pytest
from interventions_testkit.standins.pagerduty import check_event
from notifier import payloads
from notifier.settings import PagerDutySection
from pydantic import ValidationError


def test_default_bucket_never_lets_a_minute_exceed_the_limit() -> None:
    cap, per_s = PagerDutySection().bucket()
    assert (cap, per_s * 60) == (20.0, 100.0)
    assert cap + per_s * 60 <= 120


def test_a_burst_at_or_over_the_limit_is_refused_naming_the_key() -> None:
    with pytest.raises(ValidationError, match="burst must be below rate_limit_per_min"):
        PagerDutySection(rate_limit_per_min=30, burst=30)


def test_storm_trigger_lists_members_within_pagerduty_limits_and_resolve_is_bare() -> None:
    members = [(i, "sev2" if i % 2 else "sev1", "x" * 300) for i in range(1, 41)]
    body = payloads.pagerduty_storm(
        routing_key="k" * 32, action="trigger", storm_id=7, members=members, console_url="http://c"
    )
    assert check_event(body) == []
    assert body["dedup_key"] == "interventions-storm-7"
    assert body["payload"]["summary"].startswith("40 more incidents: #1 ")
    assert len(body["payload"]["summary"]) == 1024
    assert body["payload"]["severity"] == "critical"
    assert body["payload"]["custom_details"]["incident_ids"] == list(range(1, 41))
    resolve = payloads.pagerduty_storm(
        routing_key="k" * 32, action="resolve", storm_id=7, members=members, console_url="http://c"
    )
    assert resolve == {
        "routing_key": "k" * 32,
        "event_action": "resolve",
        "dedup_key": body["dedup_key"],
    }
