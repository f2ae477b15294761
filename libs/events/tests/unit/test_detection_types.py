"""DETECTION_TYPES, which hot consumers test with `type(x) in ...`, holds every registered
detection type, so that test and `isinstance(x, DetectionData)` agree."""

from __future__ import annotations

from interventions_events.base import REGISTRY
from interventions_events.detections import DETECTION_TYPES, DetectionData


def test_every_registered_detection_type_is_in_detection_types() -> None:
    registered = {s.model for s in REGISTRY.values() if issubclass(s.model, DetectionData)}
    assert registered == DETECTION_TYPES
