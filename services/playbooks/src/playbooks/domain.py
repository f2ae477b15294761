"""Pure rules of the playbooks service: approval, rate limit, circuit breaker, estimates.
No I/O and no clock: `now` is always a parameter."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from .errors import CircuitOpen, Conflict, RateLimited

ACTIVE_STATUSES = ("open", "acknowledged", "mitigated")
# execution statuses
PENDING, RUNNING, SUCCEEDED, FAILED, EXPIRED, ROLLED_BACK = (
    "pending_approval",
    "running",
    "succeeded",
    "failed",
    "expired",
    "rolled_back",
)


def approval_reasons(
    action_reason: str | None, severity: str, policy_severities: list[str]
) -> list[str]:
    """Why an execution needs approval: the action's own rule, then the severity policy."""
    reasons = [action_reason] if action_reason else []
    if severity in policy_severities:
        reasons.append(
            f"policy: every action on a {severity} incident needs approval "
            "(playbooks.approval_required_for_severities)"
        )
    return reasons


def check_rate(
    action_type: str, incident_id: int, recent: int, limit: int, window: timedelta
) -> None:
    """At most `limit` executions of one action per incident per window."""
    if recent >= limit:
        raise RateLimited(
            f"rate limit: {action_type} already ran {recent} time(s) on incident {incident_id} "
            f"in the last {_human(window.total_seconds())} (limit {limit}); wait, or try another "
            "playbook"
        )


@dataclass(frozen=True)
class Breaker:
    """Consecutive failures of one action; open means disabled until an admin resets it."""

    action_type: str
    failures: int = 0
    open: bool = False
    reason: str | None = None

    def check(self) -> None:
        if self.open:
            raise CircuitOpen(
                f"circuit breaker open: {self.action_type} is disabled after {self.failures} "
                f"consecutive failures (last: {self.reason}); fix the target, then an admin "
                f"resets it with POST /api/playbooks/actions/{self.action_type}/reset"
            )

    def after_success(self) -> Breaker:
        return Breaker(self.action_type)

    def after_failure(self, error: str, threshold: int) -> Breaker:
        failures = self.failures + 1
        return Breaker(self.action_type, failures, failures >= threshold, error[:500])


def check_approvable(status: str, expires_at: datetime | None, now: datetime) -> bool:
    """True when a pending approval may be granted now; False when it was already granted
    (a repeated approve is a no-op); Conflict when it expired or cannot be approved."""
    if status == PENDING:
        if expires_at is not None and expires_at <= now:
            raise Conflict("this approval request expired; request the execution again")
        return True
    if status == EXPIRED:
        raise Conflict("this approval request expired; request the execution again")
    if status in (RUNNING, SUCCEEDED, FAILED, ROLLED_BACK):
        return False
    raise Conflict(f"execution is {status}; nothing to approve")


def check_rollback(status: str, can_rollback: bool, action_type: str) -> None:
    if not can_rollback:
        raise Conflict(f"{action_type} cannot be rolled back")
    if status != SUCCEEDED:
        raise Conflict(f"only a succeeded execution can be rolled back; this one is {status}")


def money(usd: float) -> str:
    return f"${usd:,.2f}"


def _human(seconds: float) -> str:
    for size, unit in ((3600, "hour"), (60, "minute"), (1, "second")):
        if seconds >= size:
            n = round(seconds / size, 1)
            n_text = f"{n:g}"
            return f"{n_text} {unit}{'' if n == 1 else 's'}"
    return "under a second"


def human_duration(seconds: float) -> str:
    """`10 minutes`, `30 seconds`, `2 hours`."""
    return _human(seconds)


def dbt_estimate(models: int, full_refresh: bool) -> tuple[float, float]:
    """(seconds, usd): 2 min and $0.05 per model; full refresh x2.5 time, x3 cost."""
    seconds, cost = 120.0 * models, 0.05 * models
    return (seconds * 2.5, cost * 3) if full_refresh else (seconds, cost)
