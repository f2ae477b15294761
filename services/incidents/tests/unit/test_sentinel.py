"""Self-alert checks (pure): on by default, and nothing fires at start-up before it is due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from incidents.sentinel import Facts, SelfAlertSettings, check, load

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def facts(**kw: object) -> Facts:
    base: dict[str, object] = dict(
        now=NOW,
        started=NOW,
        opened_recently=0,
        active=[],
        last_heartbeat=None,
        action_outcomes={},
        dead_letters=(0, None),
    )
    return Facts(**{**base, **kw})  # type: ignore[arg-type]


def keys(f: Facts, s: SelfAlertSettings | None = None) -> list[str]:
    return [a.key for a in check(f, s or SelfAlertSettings())]


def test_self_alerts_are_on_by_default_and_can_be_turned_off() -> None:
    assert load({}).enabled is True
    assert load({"self_alerts": {"enabled": False}}).enabled is False


def test_a_fresh_start_with_default_settings_raises_nothing() -> None:
    assert keys(facts()) == []


def test_no_heartbeat_alert_before_one_timeout_after_start_even_if_the_last_beat_is_old() -> None:
    restarted = facts(started=NOW - timedelta(minutes=59), last_heartbeat=NOW - timedelta(days=2))
    assert keys(restarted) == []
    later = facts(started=NOW - timedelta(minutes=61), last_heartbeat=NOW - timedelta(days=2))
    assert keys(later) == ["PLATFORM_watcher_heartbeat_missing"]


def test_a_heartbeat_older_than_the_timeout_alerts_once_the_sentinel_has_run_that_long() -> None:
    f = facts(started=NOW - timedelta(hours=3), last_heartbeat=NOW - timedelta(minutes=61))
    assert keys(f) == ["PLATFORM_watcher_heartbeat_missing"]
    fresh = facts(started=NOW - timedelta(hours=3), last_heartbeat=NOW - timedelta(minutes=59))
    assert keys(fresh) == []


def test_dead_letters_alert_only_while_recent() -> None:
    assert keys(facts(dead_letters=(3, NOW - timedelta(minutes=5)))) == ["PLATFORM_dead_letters"]
    assert keys(facts(dead_letters=(3, NOW - timedelta(hours=2)))) == []


def test_a_storm_is_more_than_the_hourly_limit() -> None:
    assert keys(facts(opened_recently=5)) == []
    assert keys(facts(opened_recently=6)) == ["PLATFORM_incident_storm"]


def test_the_heartbeat_timeout_is_at_least_two_watcher_sweeps() -> None:
    assert load({}).heartbeat_timeout == timedelta(hours=1)
    assert load({"watcher": {}}).heartbeat_timeout == timedelta(hours=1)  # default sweep 15m
    alone = load({"self_alerts": {"heartbeat_timeout": "10s"}})  # no watcher settings here
    assert alone.heartbeat_timeout == timedelta(seconds=10)
    slow = load({"watcher": {"interval": "45m"}})
    assert slow.heartbeat_timeout == timedelta(minutes=90)
    quick = load({"watcher": {"interval": "500ms"}, "self_alerts": {"heartbeat_timeout": "10s"}})
    assert quick.heartbeat_timeout == timedelta(seconds=10)
