"""The `inbox` section: defaults, and errors that say what to fix."""

from __future__ import annotations

from datetime import timedelta

import pytest
from interventions_platform.config import ConfigError, InboxSection, section


def test_defaults_keep_a_week_and_prune_every_ten_minutes() -> None:
    s = section(InboxSection, {}, "inbox")
    assert (s.retention, s.prune_every) == (timedelta(days=7), timedelta(minutes=10))


def test_durations_are_read_as_in_the_rest_of_settings_yaml() -> None:
    s = section(InboxSection, {"inbox": {"retention": "14d", "prune_every": "1h"}}, "inbox")
    assert (s.retention, s.prune_every) == (timedelta(days=14), timedelta(hours=1))


@pytest.mark.parametrize(
    ("inbox", "message"),
    [
        ({"retention": "30m"}, "retention must be at least 1h"),
        ({"prune_every": "500ms"}, "prune_every must be at least 1s"),
        ({"retention": "soon"}, "invalid duration"),
        ({"retension": "7d"}, "interventions.inbox.retension"),
    ],
)
def test_a_bad_value_names_the_key_and_the_fix(inbox: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        section(InboxSection, {"inbox": inbox}, "inbox")
