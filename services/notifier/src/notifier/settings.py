"""Notifier settings: `interventions.notifier` and `interventions.escalation` in settings.yaml,
vendor credentials from the environment."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from interventions_platform.config import section
from interventions_platform.durations import Duration, parse_duration
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Sink = Literal["pagerduty", "slack"]
SEVERITIES = ("sev1", "sev2", "sev3", "sev4")


def _d(text: str) -> timedelta:
    return parse_duration(text)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RouteOverride(_Model):
    """A routing rule; the first rule whose given fields all match wins."""

    team: str | None = None
    kind: str | None = None
    severity: Literal["sev1", "sev2", "sev3", "sev4"] | None = None
    sinks: tuple[Sink, ...]


def _default_routes() -> dict[str, tuple[Sink, ...]]:
    return {
        "sev1": ("pagerduty", "slack"),
        "sev2": ("pagerduty", "slack"),
        "sev3": ("slack",),
        "sev4": (),
    }


class Routes(_Model):
    default: dict[str, tuple[Sink, ...]] = Field(default_factory=_default_routes)
    overrides: tuple[RouteOverride, ...] = ()

    @field_validator("default")
    @classmethod
    def _all_severities(cls, v: dict[str, tuple[Sink, ...]]) -> dict[str, tuple[Sink, ...]]:
        unknown = set(v) - set(SEVERITIES)
        if unknown:
            raise ValueError(f"unknown severities {sorted(unknown)}; use sev1..sev4")
        return {**_default_routes(), **v}


class Retry(_Model):
    max_attempts: int = Field(default=8, ge=1)
    backoff_base: Duration = _d("1s")
    backoff_max: Duration = _d("5m")
    timeout: Duration = _d("10s")


class PagerDutySection(_Model):
    routing_keys: dict[str, SecretStr] = Field(default_factory=dict)  # per owner team
    retry: Retry = Retry()
    # Events API limit per routing key (PagerDuty: ~120 events/min), kept by a token bucket
    rate_limit_per_min: int = Field(default=120, ge=2)
    burst: int | None = Field(default=None, ge=1)  # default: a sixth of the limit
    # more triggers than this for one routing key inside group_window are coalesced into one
    # storm alert per key, sent group_wait after the first overflow
    group_threshold: int = Field(default=20, ge=1)
    group_window: Duration = _d("1m")
    group_wait: Duration = _d("30s")

    @model_validator(mode="after")
    def _burst_below_limit(self) -> PagerDutySection:
        if self.burst is not None and self.burst >= self.rate_limit_per_min:
            raise ValueError("burst must be below rate_limit_per_min")
        return self

    def bucket(self) -> tuple[float, float]:
        """(capacity, refill per second): burst plus a minute's refill never exceeds the
        limit, so no sliding minute carries more than rate_limit_per_min events."""
        cap = self.burst or max(1, self.rate_limit_per_min // 6)
        return float(cap), (self.rate_limit_per_min - cap) / 60.0


class SlackSection(_Model):
    channels: dict[str, str] = Field(default_factory=dict)  # per owner team (bot mode)
    coalesce_window: Duration = _d("10s")
    retry: Retry = Retry()


class SseSection(_Model):
    heartbeat: Duration = _d("30s")
    client_buffer: int = Field(default=500, ge=1)
    poll_interval: Duration = _d("1s")
    retention: Duration = _d("24h")
    replay_limit: int = Field(default=10_000, ge=1)


class LoopSection(_Model):
    poll_interval: Duration = _d("1s")
    workers: int = Field(default=3, ge=1, le=8)


class SenderSection(LoopSection):
    # a row claimed `sending` for longer than its sink's timeout plus this margin is
    # uncertain (its sender died, or lost its database) and is claimed again; the vendor step
    # (a Slack read-back and the send) is cut at the timeout plus half the margin
    lease_margin: Duration = _d("5s")

    def lease(self, retry: Retry) -> timedelta:
        return retry.timeout + self.lease_margin

    def work(self, retry: Retry) -> timedelta:
        """How long one vendor step may take before it is given up (inside the lease)."""
        return retry.timeout + self.lease_margin / 2


class SlaTargets(_Model):
    acknowledge: Duration | None = None
    mitigate: Duration | None = None
    resolve: Duration | None = None


def _default_sla() -> dict[str, SlaTargets]:
    return {
        "sev1": SlaTargets(acknowledge=_d("5m"), mitigate=_d("30m"), resolve=_d("4h")),
        "sev2": SlaTargets(acknowledge=_d("15m"), mitigate=_d("4h"), resolve=_d("24h")),
        "sev3": SlaTargets(acknowledge=_d("1h"), mitigate=_d("24h"), resolve=_d("1w")),
        "sev4": SlaTargets(),
    }


class NotifierSection(_Model):
    routes: Routes = Routes()
    pagerduty: PagerDutySection = PagerDutySection()
    slack: SlackSection = SlackSection()
    sse: SseSection = SseSection()
    sender: SenderSection = SenderSection(poll_interval=_d("500ms"))
    timers: LoopSection = LoopSection(workers=1)
    sla: dict[str, SlaTargets] = Field(default_factory=_default_sla)

    @field_validator("sla")
    @classmethod
    def _merge_sla(cls, v: dict[str, SlaTargets]) -> dict[str, SlaTargets]:
        return {**_default_sla(), **v}


class Level(_Model):
    """One escalation level: who is told, and how long to wait (without ack) before it."""

    name: str = Field(min_length=1)
    targets: tuple[str, ...] = ()
    wait: Duration | None = None  # default: escalation.ack_timeout
    routing_key: SecretStr | None = None  # page this level on its own PagerDuty service


def _default_levels() -> tuple[Level, ...]:
    return (
        Level(name="primary", targets=("primary on-call",)),
        Level(name="secondary", targets=("secondary on-call",)),
        Level(name="manager", targets=("engineering manager",)),
    )


class TeamPolicy(_Model):
    ack_timeout: Duration | None = None
    levels: tuple[Level, ...] | None = None


class EscalationSection(BaseModel):
    """`interventions.escalation` (ack_timeout pinned); other keys may belong to others."""

    model_config = ConfigDict(extra="allow", frozen=True)
    ack_timeout: Duration = _d("15m")
    severities: tuple[str, ...] = ("sev1", "sev2")
    levels: tuple[Level, ...] = Field(default_factory=_default_levels)
    teams: dict[str, TeamPolicy] = Field(default_factory=dict)

    def policy_for(self, team: str) -> list[dict[str, Any]]:
        """The team's levels as plain data with every wait resolved (snapshotted at open)."""
        own = self.teams.get(team, TeamPolicy())
        timeout = own.ack_timeout or self.ack_timeout
        return [
            {
                "name": lv.name,
                "targets": list(lv.targets),
                "wait_s": (lv.wait or timeout).total_seconds(),
                "paged": lv.routing_key is not None,
            }
            for lv in (own.levels or self.levels)
        ]

    def routing_key_for(self, team: str, level: str) -> SecretStr | None:
        own = self.teams.get(team, TeamPolicy())
        for lv in own.levels or self.levels:
            if lv.name == level:
                return lv.routing_key
        return None


class VendorEnv(BaseSettings):
    """Pinned vendor environment variables; the URLs exist so tests can use stand-ins."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)
    pagerduty_events_url: str = "https://events.pagerduty.com/v2/enqueue"
    pagerduty_routing_key: SecretStr | None = None
    slack_webhook_url: SecretStr | None = None
    slack_bot_token: SecretStr | None = None
    slack_channel: str | None = None
    slack_api_url: str = "https://slack.com/api"


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    notifier: NotifierSection
    escalation: EscalationSection
    vendors: VendorEnv
    console_url: str

    @classmethod
    def load(
        cls, raw: dict[str, Any], console_url: str, vendors: VendorEnv | None = None
    ) -> Settings:
        return cls(
            notifier=section(NotifierSection, raw, "notifier"),
            escalation=section(EscalationSection, raw, "escalation"),
            vendors=vendors or VendorEnv(),
            console_url=console_url.rstrip("/"),
        )

    def pagerduty_enabled(self) -> bool:
        return bool(self.vendors.pagerduty_routing_key or self.notifier.pagerduty.routing_keys)

    def slack_mode(self) -> Literal["bot", "webhook"] | None:
        if self.vendors.slack_bot_token and self.vendors.slack_channel:
            return "bot"
        return "webhook" if self.vendors.slack_webhook_url else None

    def enabled_sinks(self) -> set[str]:
        sinks = set()
        if self.pagerduty_enabled():
            sinks.add("pagerduty")
        if self.slack_mode():
            sinks.add("slack")
        return sinks
