"""Interventions event contracts: the CloudEvents envelope, every event type, the codec."""

from . import actions, commands, detections, incidents, issues, notifications, signals, topics
from .base import REGISTRY, Event, EventSpec, register, upcaster
from .codec import MAX_EVENT_BYTES, InvalidEvent, decode, encode, from_dict, to_dict
from .envelope import Envelope, new_id, utcnow

__all__ = [
    "MAX_EVENT_BYTES",
    "REGISTRY",
    "Envelope",
    "Event",
    "EventSpec",
    "InvalidEvent",
    "actions",
    "commands",
    "decode",
    "detections",
    "encode",
    "from_dict",
    "incidents",
    "issues",
    "new_id",
    "notifications",
    "register",
    "signals",
    "to_dict",
    "topics",
    "upcaster",
    "utcnow",
]
