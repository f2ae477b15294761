"""Prometheus metrics shared by all services (each process serves its own /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CONSUMED = Counter("interventions_consumed_total", "Records consumed", ["consumer", "topic"])
PUBLISHED = Counter("interventions_published_total", "Records published", ["source"])
DEAD_LETTERS = Counter("interventions_dead_letters_total", "Records sent to the DLQ", ["consumer"])
HANDLER_SECONDS = Histogram("interventions_handler_seconds", "Batch handler time", ["consumer"])
INBOX_PRUNED = Counter(
    "interventions_inbox_pruned_total", "Inbox ids deleted after the retention", ["schema"]
)
OUTBOX_BACKLOG = Gauge("interventions_outbox_backlog", "Outbox rows not yet published", ["schema"])
OUTBOX_LATE = Counter(
    "interventions_outbox_late_total",
    "Outbox rows found at or below the relay's cursor and published late (expected: 0)",
    ["schema"],
)
CONSUMER_LAG = Gauge(
    "interventions_consumer_lag", "Records behind the log end", ["consumer", "topic"]
)
HTTP_REQUESTS = Histogram(
    "interventions_http_request_seconds",
    "HTTP request time",
    ["service", "method", "route", "status"],
)
