"""OpenTelemetry set-up and W3C trace context carried across Kafka hops (`traceparent`)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from opentelemetry import context, propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter

_configured = False
_exporting = False  # spans are only worth creating when something exports them
_NOOP: AbstractContextManager[None] = nullcontext()


def setup(service: str) -> None:
    """Install a tracer provider: OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set, a JSON-lines
    file when INTERVENTIONS_TRACE_FILE is set, otherwise spans are created but not exported."""
    global _configured, _exporting
    if _configured:
        return
    provider = TracerProvider(
        resource=Resource.create({"service.name": f"interventions-{service}"})
    )
    exporter = _exporter()
    if exporter is not None:
        processor = (
            SimpleSpanProcessor(exporter)
            if os.environ.get("INTERVENTIONS_TRACE_FILE")
            else BatchSpanProcessor(exporter)
        )
        provider.add_span_processor(processor)
        _exporting = True
    trace.set_tracer_provider(provider)
    _configured = True


def _exporter() -> SpanExporter | None:
    path = os.environ.get("INTERVENTIONS_TRACE_FILE")
    if path:
        from .trace_file import JsonLinesExporter

        return JsonLinesExporter(path)
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            return None
        exporter: SpanExporter = OTLPSpanExporter()
        return exporter
    return None


def tracer(name: str = "interventions") -> trace.Tracer:
    return trace.get_tracer(name)


def current_traceparent() -> str | None:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


@contextmanager
def consume_span(name: str, traceparent: str | None, **attributes: Any) -> Iterator[trace.Span]:
    """A CONSUMER span continuing the producer's trace when a traceparent is given."""
    ctx = propagate.extract({"traceparent": traceparent}) if traceparent else None
    token = context.attach(ctx) if ctx is not None else None
    try:
        with tracer().start_as_current_span(
            name, kind=trace.SpanKind.CONSUMER, attributes=attributes
        ) as span:
            yield span
    finally:
        if token is not None:
            context.detach(token)


def exporting() -> bool:
    """True when spans are exported (OTLP or trace file); otherwise helpers create none."""
    return _exporting


def record_span(
    name: str,
    traceparent: str | None,
    *,
    destination: str,
    message_id: str | None = None,
    operation: str = "process",
) -> AbstractContextManager[Any]:
    """Per-record CONSUMER span continuing the producer's trace, with the messaging semantic
    conventions; a shared no-op (no span, no context switch) when tracing is not exported,
    so hot consumer loops pay one function call."""
    if not _exporting:
        return _NOOP
    attributes: dict[str, Any] = {
        "messaging.system": "kafka",
        "messaging.destination.name": destination,
        "messaging.operation": operation,
    }
    if message_id:
        attributes["messaging.message.id"] = message_id
    return consume_span(name or f"{destination} {operation}", traceparent, **attributes)


def client_span(system: str, method: str, url: str) -> AbstractContextManager[Any]:
    """A CLIENT span around an outgoing vendor call (no-op unless exporting)."""
    if not _exporting:
        return _NOOP
    return tracer().start_as_current_span(
        f"{system} {method}",
        kind=trace.SpanKind.CLIENT,
        attributes={"http.request.method": method, "url.full": url, "peer.service": system},
    )
