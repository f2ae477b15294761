"""Durations written as in settings.yaml: `15m`, `30s`, `1h`, `24h`, `1d`, `1w`, `250ms`."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any) -> timedelta:
    """Parse `1h30m`, `15m`, a number of seconds, or a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("a duration must look like 15m, 30s, 1h or 24h")
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    text = str(value).strip().replace(" ", "")
    pos, total = 0, 0.0
    for m in _PART.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise ValueError(f"invalid duration {value!r}: write it like 15m, 30s, 1h or 24h")
    return timedelta(seconds=total)


def format_duration(td: timedelta) -> str:
    secs = td.total_seconds()
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if secs >= size and secs % size == 0:
            return f"{int(secs // size)}{unit}"
    return f"{int(secs * 1000)}ms"


Duration = Annotated[timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration)]
