"""HTTP ingest: `POST /api/signals` takes one CloudEvent or a JSON array of them, validates each
with the codec and publishes the good ones to their `signals.*` topic (202 once on Kafka)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

import orjson
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from interventions_events import Envelope, Event, InvalidEvent, from_dict
from interventions_events.signals import (
    BudgetMetricsReported,
    CanaryMetricsReported,
    EvalRunCompleted,
    GateEvaluated,
)
from interventions_platform import tracing
from interventions_platform.auth import Producer
from interventions_platform.runtime import Runtime
from pydantic import BaseModel

log = logging.getLogger(__name__)

SIGNAL_TYPES: dict[str, type[Event]] = {
    t.__name__: t
    for t in (EvalRunCompleted, BudgetMetricsReported, CanaryMetricsReported, GateEvaluated)
}


@dataclass(frozen=True, slots=True)
class Rejected:
    index: int
    id: str | None
    reason: str


class Accepted(BaseModel):
    accepted: int
    ids: list[str]


def parse_batch(body: bytes, max_events: int) -> list[Any]:
    """The request body as a list of raw event documents, or 400 saying what to send."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise HTTPException(400, f"body is not valid JSON: {exc}") from None
    items = doc if isinstance(doc, list) else [doc]
    if not items:
        raise HTTPException(400, "empty array: send one CloudEvent or an array of them")
    if len(items) > max_events:
        raise HTTPException(400, f"{len(items)} events in one request; the limit is {max_events}")
    return items


def validate(items: list[Any]) -> tuple[list[Envelope[Event]], list[Rejected]]:
    """Split raw documents into signal envelopes and rejections naming index, id and reason."""
    good: list[Envelope[Event]] = []
    bad: list[Rejected] = []
    for index, item in enumerate(items):
        raw_id = item.get("id") if isinstance(item, dict) else None
        event_id = raw_id if isinstance(raw_id, str) else None
        type_name = item.get("type") if isinstance(item, dict) else None
        if isinstance(type_name, str) and type_name not in SIGNAL_TYPES:
            reason = f"type {type_name!r} is not a signal; accepted: {', '.join(SIGNAL_TYPES)}"
            bad.append(Rejected(index, event_id, reason))
            continue
        try:
            env = from_dict(item)
        except InvalidEvent as exc:
            bad.append(Rejected(index, event_id, exc.reason))
            continue
        good.append(env)
    return good, bad


def kafka_key(env: Envelope[Event]) -> str:
    """Signals are keyed by agent; canary metrics by planner version."""
    data = env.data
    if isinstance(data, CanaryMetricsReported):
        return data.version
    return str(getattr(data, "agent", ""))


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 past `limit` even when no Content-Length was sent."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"request body over {limit} bytes: send smaller batches")
        chunks.append(chunk)
    return b"".join(chunks)


def traced(envs: list[Envelope[Event]]) -> list[Envelope[Event]]:
    """Signals without their own `traceparent` join the current (ingest) span's trace."""
    current = tracing.current_traceparent() if tracing.exporting() else None
    if current is None:
        return envs
    return [e if e.traceparent else replace(e, traceparent=current) for e in envs]


def build_router(runtime: Runtime, max_events: int, max_bytes: int) -> APIRouter:
    router = APIRouter(tags=["signals"])

    @router.post(
        "/api/signals",
        status_code=202,
        response_model=Accepted,
        responses={
            400: {"description": "some events invalid; the rest were accepted"},
            503: {"description": "Kafka unavailable; nothing accepted"},
        },
    )
    async def ingest(request: Request, principal: Producer) -> JSONResponse:
        """Publish one CloudEvent or an array of them to their signals.* topics."""
        good, bad = validate(parse_batch(await read_body(request, max_bytes), max_events))
        try:
            with tracing.server_span("POST", "/api/signals", request.headers.get("traceparent")):
                messages = [runtime.pub.message(e, kafka_key(e)) for e in traced(good)]
                if messages:
                    await runtime.pub.send_all(messages)
        except Exception as exc:  # any producer failure means "not on Kafka": say so
            log.warning("ingest from %s failed to publish: %s", principal.name, exc)
            raise HTTPException(
                503,
                "Kafka did not accept the events; nothing was acknowledged: "
                "retry the same request (events are idempotent by id)",
            ) from None
        ids = [e.id for e in good]
        if not bad:
            return JSONResponse({"accepted": len(ids), "ids": ids}, status_code=202)
        return JSONResponse(
            {
                "detail": f"{len(bad)} of {len(bad) + len(good)} events are invalid and were not "
                f"published; fix them and resend only those. The other {len(good)} were "
                "accepted and are on Kafka.",
                "rejected": [{"index": b.index, "id": b.id, "reason": b.reason} for b in bad],
                "accepted": len(ids),
                "ids": ids,
            },
            status_code=400,
        )

    return router
