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


FULL = Sizes("full", 200_000, 30_000, 1000, 100_000, 250, 20, 32, 10, 1000, 10)
QUICK = Sizes("quick", 60_000, 8_000, 1000, 30_000, 250, 5, 32, 4, 1000, 3)
SMOKE = Sizes("smoke", 5_000, 2_000, 100, 2_000, 50, 2, 4, 1, 20, 2, 60.0)
