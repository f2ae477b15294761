"""JSON shapes the API answers with."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from . import domain
from .errors import ActionError
from .registry import AbstractAction, DryRun

_FIELDS = (
    "id",
    "incident_id",
    "action_type",
    "params",
    "status",
    "suggested",
    "needs_approval",
    "approval_reasons",
    "requested_by",
    "reason",
    "approved_by",
    "requested_at",
    "expires_at",
    "started_at",
    "finished_at",
    "result",
    "error",
)


def execution_view(row: dict[str, Any]) -> dict[str, Any]:
    """An execution as JSON (`execution_id` is its id)."""
    out: dict[str, Any] = {"execution_id": row["id"]}
    for name in _FIELDS[1:]:
        value = row.get(name)
        out[name] = value.isoformat() if isinstance(value, datetime) else value
    if isinstance(out.get("approval_reasons"), tuple):
        out["approval_reasons"] = list(out["approval_reasons"])
    return out


def dry_run_failed(message: str) -> DryRun:
    return DryRun(False, domain.human_duration(0), domain.money(0), [f"Dry-run failed: {message}"])


def describe(exc: BaseException, timeout_s: float) -> str:
    """The error text recorded for a failed execution."""
    if isinstance(exc, TimeoutError):
        return f"timed out after {domain.human_duration(timeout_s)}"
    if isinstance(exc, ActionError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def catalog_entry(action: AbstractAction[Any], breaker: domain.Breaker | None) -> dict[str, Any]:
    """One registry entry: params JSON Schema, approval rule, rollback support, breaker state."""
    b = breaker or domain.Breaker(action.name)
    return {
        "name": action.name,
        "description": action.description,
        "params_schema": action.params_model.model_json_schema(),
        "approval_rule": action.approval_rule,
        "can_rollback": action.can_rollback,
        "circuit": {"open": b.open, "consecutive_failures": b.failures, "reason": b.reason},
    }
