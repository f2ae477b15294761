"""The watcher's own Prometheus metrics (shared ones live in interventions_platform.metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

DETECTIONS = Counter("interventions_watcher_detections_total", "Detections published", ["type"])
SWEEP_SECONDS = Histogram("interventions_watcher_sweep_seconds", "Sweep cycle time")
SWEEP_CHECK_FAILURES = Counter(
    "interventions_watcher_sweep_check_failures_total", "Sweep checks that raised", ["check"]
)
