"""Consumes `incidents` to keep the incidents the playbooks service may act on."""

from __future__ import annotations

from typing import Any

from faststream.kafka import KafkaMessage
from interventions_events import topics
from interventions_events.incidents import IncidentEvent
from interventions_eventstore import Inbox
from interventions_platform import kafka
from interventions_platform.runtime import Runtime

from .repo import Repo

CONSUMER = "playbooks"


def register(runtime: Runtime, repo: Repo) -> None:
    inbox = Inbox(runtime.schema, CONSUMER)

    @runtime.broker.subscriber(
        topics.full(topics.INCIDENTS, runtime.prefix), **kafka.subscriber_options(CONSUMER)
    )  # type: ignore[untyped-decorator]
    async def on_incident_event(msg: KafkaMessage) -> None:
        good, bad = kafka.decode_records(kafka.records_of(msg))
        async with runtime.db.acquire() as conn, conn.transaction():
            fresh = await inbox.claim(conn, [env.id for _, env in good])
            snaps = [s for _, env in good if env.id in fresh and (s := _snapshot(env.data))]
            await repo.upsert_incidents(conn, snaps)
            await repo.outbox.add(
                conn, [kafka.dead_letter_message(b, CONSUMER, runtime.prefix) for b in bad]
            )


def _snapshot(event: Any) -> dict[str, Any] | None:
    """The incident JSON after the event; events without one (suppressions) change nothing."""
    if (
        isinstance(event, IncidentEvent)
        and isinstance(event.incident, dict)
        and "id" in event.incident
    ):
        return event.incident
    return None
