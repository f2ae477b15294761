"""settings.yaml loading: `${ENV}` / `${ENV:-default}` interpolation, the guide's
`interventions:` block, and per-section validation with errors naming the bad key.

Each service parses its own section with its own pydantic model via `section()`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .durations import Duration, parse_duration

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
M = TypeVar("M", bound=BaseModel)


class ConfigError(ValueError):
    """settings.yaml is invalid; the message names the key and what to fix."""


def interpolate(value: Any) -> Any:
    """Replace ${VAR} and ${VAR:-default} in every string of a parsed YAML tree."""
    if isinstance(value, str):
        return _VAR.sub(lambda m: os.environ.get(m.group(1), m.group(2) or ""), value)
    if isinstance(value, list):
        return [interpolate(v) for v in value]
    if isinstance(value, dict):
        return {k: interpolate(v) for k, v in value.items()}
    return value


def load_raw(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The `interventions:` block of settings.yaml (INTERVENTIONS_CONFIG), interpolated."""
    path = path or os.environ.get("INTERVENTIONS_CONFIG")
    if not path:
        return {}
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"INTERVENTIONS_CONFIG points at {p}, which does not exist")
    try:
        doc = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p} is not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{p}: the top level must be a mapping with an 'interventions' key")
    block = doc.get("interventions", doc)
    if not isinstance(block, dict):
        raise ConfigError(f"{p}: 'interventions' must be a mapping")
    return dict(interpolate(block))


def section(model: type[M], raw: dict[str, Any], name: str | None = None) -> M:
    """Validate one section (or the whole block when name is None) into `model`."""
    data = raw.get(name, {}) if name else raw
    if data is None:
        data = {}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in ("interventions", *([name] if name else []), *err["loc"]))
        raise ConfigError(f"settings.yaml: {loc}: {err['msg']}") from None


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WatcherSection(BaseModel):
    """The guide's watcher block plus the pinned `interval` (which wins when both are given)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    interval_minutes: float | None = None
    interval: Duration | None = None
    rate_limit_hours: float | None = None
    max_incidents_per_window: int | None = Field(default=None, ge=1)

    def effective_interval(self) -> float:
        if self.interval is not None:
            return self.interval.total_seconds()
        if self.interval_minutes is not None:
            return self.interval_minutes * 60
        return 900.0


class IncidentsSection(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    rate_limit_window: Duration | None = None
    max_incidents_per_window: int | None = Field(default=None, ge=1)
    verification_period: Duration = parse_duration("24h")


class IssueProviderSection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    provider: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    severities: list[str] = Field(default_factory=lambda: ["sev1", "sev2", "sev3", "sev4"])

    @model_validator(mode="after")
    def _known(self) -> IssueProviderSection:
        if self.provider not in (None, "", "github", "gitlab", "jira"):
            raise ValueError(f"provider must be github, gitlab or jira, not {self.provider!r}")
        return self


class InboxSection(Strict):
    """How long each service keeps the ids of the events it processed (see
    `interventions_eventstore.inbox`), and how often it prunes older ones."""

    retention: Duration = parse_duration("7d")
    prune_every: Duration = parse_duration("10m")

    @model_validator(mode="after")
    def _long_enough(self) -> InboxSection:
        if self.retention.total_seconds() < 3600:
            raise ValueError(
                "retention must be at least 1h (it is how long a consumer remembers what it "
                "processed: a redelivery or a `reprocess` within it repeats nothing)"
            )
        if self.prune_every.total_seconds() < 1:
            raise ValueError("prune_every must be at least 1s")
        return self


class CoreSettings(BaseModel):
    """The parts of the block every service may read. Service sections are parsed by their
    own services with `section()`."""

    model_config = ConfigDict(extra="allow", frozen=True)
    enabled: bool = True
    watcher: WatcherSection = WatcherSection()
    incidents: IncidentsSection = IncidentsSection()
    issue_provider: IssueProviderSection = IssueProviderSection()

    def rate_limit_window_s(self) -> float:
        """incidents.rate_limit_window, else the guide's watcher.rate_limit_hours, else 1h."""
        if self.incidents.rate_limit_window is not None:
            return self.incidents.rate_limit_window.total_seconds()
        if self.watcher.rate_limit_hours is not None:
            return self.watcher.rate_limit_hours * 3600
        return 3600.0

    def max_incidents_per_window(self) -> int:
        return self.incidents.max_incidents_per_window or self.watcher.max_incidents_per_window or 3


def load_core(raw: dict[str, Any] | None = None) -> CoreSettings:
    return section(CoreSettings, load_raw() if raw is None else raw)
