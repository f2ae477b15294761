"""AsyncAPI 3.0 document generated from the registered event types (the wire contract), and a
markdown event catalogue rendered from the same source."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from . import topics
from .base import REGISTRY, EventSpec

ENVELOPE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["specversion", "id", "source", "type", "data"],
    "properties": {
        "specversion": {"const": "1.0"},
        "id": {"type": "string", "description": "unique; the idempotency key"},
        "source": {"type": "string"},
        "type": {"type": "string", "description": "the event class name"},
        "time": {"type": "string", "format": "date-time"},
        "subject": {"type": "string"},
        "datacontenttype": {"const": "application/json"},
        "schemaversion": {"type": "integer", "minimum": 1},
        "traceparent": {"type": "string", "description": "W3C trace context"},
        "data": {"type": "object"},
    },
}


def _by_topic() -> dict[str, list[tuple[str, EventSpec]]]:
    grouped: dict[str, list[tuple[str, EventSpec]]] = defaultdict(list)
    for name, spec in sorted(REGISTRY.items()):
        grouped[spec.topic].append((name, spec))
    return grouped


def generate(prefix: str = topics.DEFAULT_PREFIX) -> dict[str, Any]:
    """The AsyncAPI document for every topic and event type known to this build."""
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for topic, specs in _by_topic().items():
        refs = {}
        for name, spec in specs:
            messages[name] = {
                "name": name,
                "title": name,
                "contentType": "application/cloudevents+json",
                "summary": (spec.model.__doc__ or "").strip().split("\n")[0] or name,
                "payload": {
                    **ENVELOPE_SCHEMA,
                    "properties": {
                        **ENVELOPE_SCHEMA["properties"],
                        "type": {"const": name},
                        "schemaversion": {"const": spec.version},
                        "data": spec.model.model_json_schema(mode="serialization"),
                    },
                },
            }
            refs[name] = {"$ref": f"#/components/messages/{name}"}
        channels[topic.replace(".", "_")] = {"address": prefix + topic, "messages": refs}
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Interventions events",
            "version": "0.1.0",
            "description": "CloudEvents 1.0 (structured JSON) on Kafka.",
        },
        "defaultContentType": "application/cloudevents+json",
        "channels": channels,
        "components": {"messages": messages},
    }


def catalogue() -> str:
    """A markdown catalogue: per topic, each event type, its version and its fields."""
    lines = [
        "# Event catalogue",
        "",
        "Generated from the code (`interventions events catalogue`); the AsyncAPI document",
        "is `interventions events asyncapi`. Every record is a CloudEvent 1.0 in structured",
        "JSON mode; `type` is the class name below, `schemaversion` its version.",
        "",
    ]
    for topic, specs in sorted(_by_topic().items()):
        lines += [f"## `{topic}`", ""]
        for name, spec in specs:
            doc = (spec.model.__doc__ or "").strip().split("\n")[0]
            lines.append(f"### {name} (v{spec.version})")
            if doc:
                lines.append(f"{doc}")
            lines += ["", "| field | type | required |", "|---|---|---|"]
            schema = spec.model.model_json_schema(mode="serialization")
            required = set(schema.get("required", []))
            for field, prop in schema.get("properties", {}).items():
                lines.append(
                    f"| `{field}` | {_type(prop)} | {'yes' if field in required else ''} |"
                )
            lines.append("")
    return "\n".join(lines)


def _type(prop: dict[str, Any]) -> str:
    if "anyOf" in prop:
        return " or ".join(_type(p) for p in prop["anyOf"])
    if "$ref" in prop:
        return str(prop["$ref"]).rsplit("/", 1)[-1]
    if "enum" in prop:
        return " / ".join(str(v) for v in prop["enum"])
    kind = prop.get("type", "any")
    if kind == "array":
        return f"list of {_type(prop.get('items', {}))}"
    return str(prop.get("format", kind))
