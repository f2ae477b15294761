"""OpenTelemetry set-up and W3C trace context carried across Kafka hops (`traceparent`)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import context, propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter

_configured = False
_exporting = False  # spans are only worth creating when something exports them
_NOOP: AbstractContextManager[None] = nullcontext()


def setup(service: str) -> None:
    """Install a tracer provider: OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set, a JSON-lines
    file when INTERVENTIONS_TRACE_FILE is set. Otherwise none: spans would go nowhere, and
    an installed provider switches on FastAPI's own per-request spans (hot HTTP paths)."""
    global _configured, _exporting
    if _configured:
        return
    _configured = True
    exporter = _exporter()
    if exporter is None:
        return
    provider = TracerProvider(
        resource=Resource.create({"service.name": f"interventions-{service}"})
    )
    processor = (
        SimpleSpanProcessor(exporter)
        if os.environ.get("INTERVENTIONS_TRACE_FILE")
        else BatchSpanProcessor(exporter)
    )
    provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    _exporting = True


def will_export() -> bool:
    """Whether `setup` will install an exporting provider (read from the environment, so an
    app built before `setup` runs can already tell)."""
    return bool(
        os.environ.get("INTERVENTIONS_TRACE_FILE") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    )


def _exporter() -> SpanExporter | None:
    path = os.environ.get("INTERVENTIONS_TRACE_FILE")
    if path:
        from .trace_file import JsonLinesExporter

        return JsonLinesExporter(path)
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            logging.getLogger(__name__).warning(
                "OTEL_EXPORTER_OTLP_ENDPOINT is set but opentelemetry-exporter-otlp-proto-http "
                "is not installed: spans are not exported"
            )
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


def continued(traceparent: str | None) -> AbstractContextManager[Any]:
    """Make a stored `traceparent` the current context (e.g. a delivery row's, so the later
    vendor call joins the trace that queued it); a no-op unless exporting."""
    if not _exporting or not traceparent:
        return _NOOP
    return _attached(traceparent)


@contextmanager
def _attached(traceparent: str) -> Iterator[None]:
    token = context.attach(propagate.extract({"traceparent": traceparent}))
    try:
        yield
    finally:
        context.detach(token)


def server_span(
    method: str, route: str, traceparent: str | None = None
) -> AbstractContextManager[Any]:
    """A SERVER span for an HTTP request (HTTP semantic conventions) continuing the caller's
    `traceparent` header; none when the web framework already made one (FastAPI does once a
    tracer provider is installed) or when not exporting."""
    if not _exporting or trace.get_current_span().get_span_context().is_valid:
        return _NOOP
    return _server(method, route, traceparent)


@contextmanager
def _server(method: str, route: str, traceparent: str | None) -> Iterator[trace.Span]:
    ctx = propagate.extract({"traceparent": traceparent}) if traceparent else None
    with tracer().start_as_current_span(
        f"{method} {route}",
        context=ctx,
        kind=trace.SpanKind.SERVER,
        attributes={"http.request.method": method, "http.route": route},
    ) as span:
        yield span


def client_span(system: str, method: str, url: str) -> AbstractContextManager[Any]:
    """A CLIENT span around an outgoing vendor call (HTTP client semantic conventions; `url`
    must carry no secret: pass a redacted one for webhook URLs). Yields the span, or None
    when not exporting (see `set_status`)."""
    if not _exporting:
        return _NOOP
    parts = urlsplit(url)
    attributes: dict[str, Any] = {
        "http.request.method": method,
        "url.full": url,
        "server.address": parts.hostname or "",
        "peer.service": system,
    }
    if parts.port is not None:
        attributes["server.port"] = parts.port
    return tracer().start_as_current_span(method, kind=trace.SpanKind.CLIENT, attributes=attributes)


def set_status(span: Any, status_code: int | None, error: str | None = None) -> None:
    """Record an HTTP response status (or a transport error) on a span from `client_span`."""
    if span is None:
        return
    if status_code is not None:
        span.set_attribute("http.response.status_code", status_code)
    failed = error or (str(status_code) if status_code is not None and status_code >= 400 else None)
    if failed:
        span.set_attribute("error.type", failed)
        span.set_status(trace.Status(trace.StatusCode.ERROR))


def redacted(url: str) -> str:
    """scheme://host[:port]/REDACTED: for URLs that are secrets themselves (webhooks)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/REDACTED"
