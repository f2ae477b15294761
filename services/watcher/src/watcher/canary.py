"""The canary check: canary metrics against the baseline's, per metric, with tolerances."""

from __future__ import annotations

from collections.abc import Container
from typing import Any

from interventions_events.detections import PlannerRegressed
from interventions_events.signals import CanaryMetricsReported

from .checks import EPSILON, EVERY_KEY, Outcome, planner_key
from .settings import CanaryTolerances


def check_canary(
    sig: CanaryMetricsReported, tol: CanaryTolerances, watch: Container[str] = EVERY_KEY
) -> list[Outcome]:
    """Canary against baseline, per metric; fewer than min_samples settles nothing."""
    if sig.samples < tol.min_samples:
        return []
    compared, regressions = 0, []
    for metric, drop in _drops(sig, tol):
        compared += 1
        if drop is not None:
            regressions.append(_regression(sig, metric, drop))
    if regressions:
        return regressions
    if not compared or planner_key(sig.version) not in watch:
        return []
    evidence = {"passed": {"samples": sig.samples}, **_canary_context(sig)}
    return [
        Outcome(
            planner_key(sig.version),
            False,
            "planner",
            sig.version,
            PlannerRegressed,
            evidence=evidence,
        )
    ]


def _drops(sig: CanaryMetricsReported, tol: CanaryTolerances) -> list[tuple[str, float | None]]:
    """(metric, degradation if past tolerance else None) for every comparable metric,
    accuracy first so the worst regression reaches the incident service first."""
    out: list[tuple[str, float | None]] = []
    cur, base = sig.metrics, sig.baseline
    if cur.accuracy is not None and base.accuracy is not None:
        drop = base.accuracy - cur.accuracy
        out.append(("accuracy", drop if drop >= tol.accuracy_drop - EPSILON else None))
    for metric, limit in (
        ("p95_latency_ms", tol.p95_latency_increase),
        ("cost_usd", tol.cost_increase),
    ):
        now, then = getattr(cur, metric), getattr(base, metric)
        if now is None or then is None or then <= 0:
            continue
        rise = (now - then) / then
        out.append((metric, rise if rise >= limit - EPSILON else None))
    return out


def _regression(sig: CanaryMetricsReported, metric: str, drop: float) -> Outcome:
    detail = {
        "metric": metric,
        "baseline": getattr(sig.baseline, metric),
        "current": getattr(sig.metrics, metric),
        "drop": round(drop, 12),
    }
    return Outcome(
        planner_key(sig.version),
        True,
        "planner",
        sig.version,
        PlannerRegressed,
        evidence={"regression": detail, **_canary_context(sig)},
        part=metric,
    )


def _canary_context(sig: CanaryMetricsReported) -> dict[str, Any]:
    return {
        "version": sig.version,
        "baseline_version": sig.baseline_version,
        "canary_percent": sig.canary_percent,
        "samples": sig.samples,
    }
