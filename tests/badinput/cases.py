"""Bad inputs: (name, raw bytes) that no consumer may accept and none may choke on."""

from __future__ import annotations

import copy
from typing import Any

import orjson
from interventions_testkit.chaos import failing_signal


def _doc(name: str) -> dict[str, Any]:
    doc = failing_signal(f"bad_{name}")
    doc["id"] = f"bad-{name}"
    return doc


def _with(name: str, path: list[str | int], value: Any) -> bytes:
    doc: Any = _doc(name)
    target = doc
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return orjson.dumps(doc)


def _without(name: str, path: list[str | int]) -> bytes:
    doc: Any = copy.deepcopy(_doc(name))
    target = doc
    for part in path[:-1]:
        target = target[part]
    del target[path[-1]]
    return orjson.dumps(doc)


def _detection(name: str) -> bytes:
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": f"bad-{name}",
            "source": "badinput",
            "type": "InvariantViolated",
            "data": {
                "kind": "invariant",
                "key": "INV_x",
                "subject": "a",
                "observed_at": "2026-01-01T00:00:00Z",
                "source_event_id": "s",
                "hint": None,
                "evidence": {},
            },
        }
    )


CASES: list[tuple[str, bytes]] = [
    ("malformed_json", b'{"id": "bad-malformed", "type": '),
    ("empty", b""),
    ("not_utf8", b"\xff\xfe\xfa"),
    ("json_array", b"[1, 2, 3]"),
    ("json_string", b'"hello"'),
    ("nan", orjson.dumps(_doc("nan")).replace(b"1800", b"NaN")),
    ("infinity", orjson.dumps(_doc("infinity")).replace(b"1800", b"Infinity")),
    ("missing_id", _without("missing_id", ["id"])),
    ("missing_type", _without("missing_type", ["type"])),
    ("missing_data", _without("missing_data", ["data"])),
    ("missing_agent", _without("missing_agent", ["data", "agent"])),
    ("empty_id", _with("empty_id", ["id"], "")),
    ("id_too_long", _with("id_too_long", ["id"], "x" * 400)),
    ("type_not_string", _with("type_not_string", ["type"], 5)),
    ("old_specversion", _with("old_specversion", ["specversion"], "0.3")),
    ("unknown_type", _with("unknown_type", ["type"], "EvalRunExploded")),
    ("future_schema", _with("future_schema", ["schemaversion"], 99)),
    ("schema_not_int", _with("schema_not_int", ["schemaversion"], "one")),
    ("data_not_object", _with("data_not_object", ["data"], "x")),
    ("wrong_type_score", _with("wrong_type_score", ["data", "quality_score"], "high")),
    ("invariants_not_list", _with("invariants_not_list", ["data", "invariants"], {"a": 1})),
    ("bad_time", _with("bad_time", ["time"], "yesterday")),
    ("detection_on_signal_topic", _detection("detection_on_signal_topic")),
    # free-text limits of the signal contracts (ids 200, names 500, messages 4,000)
    ("huge_task_id", _with("huge_task_id", ["data", "task_id"], "t" * 200_000)),
    ("huge_message", _with("huge_message", ["data", "invariants", 0, "message"], "m" * 4001)),
    (
        "long_invariant_name",
        _with("long_invariant_name", ["data", "invariants", 0, "name"], "n" * 501),
    ),
    ("long_agent", _with("long_agent", ["data", "agent"], "a" * 201)),
]


def at_the_limits(name: str) -> dict[str, Any]:
    """A valid signal whose free-text fields are exactly as long as the contracts allow."""
    doc = _doc(name)
    doc["data"]["task_id"] = "t" * 200
    doc["data"]["invariants"][0]["name"] = "n" * 500
    doc["data"]["invariants"][0]["message"] = "m" * 4000
    return doc


# over MAX_EVENT_BYTES (1 MiB): producers refuse it by default (max_request_size 1 MiB)
HUGE = ("oversize", _with("oversize", ["data", "agent"], "a" * 1_100_000))
