"""How big each measurement is in the full, quick and smoke runs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sizes:
    mode: str
    signals: int  # pre-loaded for the raw consumers and the watcher
    detections: int  # pre-loaded for the incident service
    detection_keys: int
    incidents: int  # stored before the API list measurement
    e2e_rate: float  # signals per second, open loop
    e2e_seconds: float
    api_clients: int
    api_seconds: float
    sse_clients: int
    sse_events: int
    catch_up_timeout: float = 300.0


FULL = Sizes("full", 400_000, 100_000, 1000, 100_000, 250, 30, 32, 15, 1000, 10)
QUICK = Sizes("quick", 150_000, 30_000, 1000, 100_000, 250, 10, 32, 5, 1000, 5)
SMOKE = Sizes("smoke", 5_000, 2_000, 100, 2_000, 50, 2, 4, 1, 20, 2, 60.0)
