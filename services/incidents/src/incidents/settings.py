"""The incident service's settings: `interventions.incidents.*` (plus the guide's
`watcher.rate_limit_hours` / `watcher.max_incidents_per_window`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from interventions_platform.config import load_core, section
from interventions_platform.durations import Duration, parse_duration
from pydantic import BaseModel, ConfigDict

from .decisions import Limits
from .policy import PolicyConfig


class _Extra(BaseModel):
    """Keys of `interventions.incidents` beyond the pinned ones."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    policy: PolicyConfig = PolicyConfig()
    verification_check_interval: Duration = parse_duration("30s")


@dataclass(frozen=True, slots=True)
class IncidentsSettings:
    limits: Limits
    verification_period: timedelta
    verification_check_interval: timedelta
    policy: PolicyConfig


def load_settings(raw: dict[str, Any]) -> IncidentsSettings:
    """Validate the settings block; errors name the bad key."""
    core = load_core(raw)
    extra = section(_Extra, raw, "incidents")
    return IncidentsSettings(
        limits=Limits(
            timedelta(seconds=core.rate_limit_window_s()), core.max_incidents_per_window()
        ),
        verification_period=core.incidents.verification_period,
        verification_check_interval=extra.verification_check_interval,
        policy=extra.policy,
    )
