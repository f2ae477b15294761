"""`interventions reprocess --consumer <group> --from-time T`: move a consumer group's committed
offsets back (or forward) to the first record at or after T, so the group re-reads from there.
The group must be stopped: a running member would overwrite the new offsets on its next
commit. Consumers are idempotent (inbox), so re-reading is safe as far back as the inbox
keeps processed ids (`inbox.retention`, 7d by default); further back is refused unless
`--allow-repeats` says repeated effects are acceptable."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated

import typer
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata
from interventions_events import topics
from interventions_platform.config import InboxSection, load_raw, section
from interventions_platform.durations import format_duration
from interventions_platform.env import RuntimeEnv
from rich.console import Console
from rich.table import Table

from . import store


async def group_members(bootstrap: str, group: str) -> int | None:
    """Live members of the group (None when the broker cannot say)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        await admin.start()
        described = await admin.describe_consumer_groups([group])
    except (KafkaError, ValueError, OSError):  # brokers without DescribeGroups v0+ parsing
        return None
    finally:
        await admin.close()
    return sum(len(g[5]) for resp in described for g in getattr(resp, "groups", []))


async def targets(
    bootstrap: str, group: str, names: list[str], when: datetime, force: bool = False
) -> dict[TopicPartition, tuple[int | None, int]]:
    """New offset (and the committed one) per partition the group has committed on."""
    members = 0 if force else await group_members(bootstrap, group)
    if members:
        raise typer.BadParameter(
            f"consumer group {group!r} has {members} live member(s): stop it first"
        )
    if members is None:
        typer.echo(
            "warning: could not check the group's members; make sure it is stopped", err=True
        )
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        parts = [
            TopicPartition(t, p) for t in names for p in consumer.partitions_for_topic(t) or ()
        ]
        current = {tp: await consumer.committed(tp) for tp in parts}
        parts = [tp for tp in parts if current[tp] is not None]
        if not parts:
            raise typer.BadParameter(f"group {group!r} has no committed offsets on {names}")
        found = await consumer.offsets_for_times({tp: int(when.timestamp() * 1000) for tp in parts})
        ends = await consumer.end_offsets(parts)
    finally:
        await consumer.stop()
    return {
        tp: (current[tp], found[tp].offset if found[tp] is not None else ends[tp])
        for tp in sorted(parts)
    }


async def commit(
    bootstrap: str, group: str, offsets: dict[TopicPartition, int], within_s: float = 60
) -> None:
    """Join the (stopped) group as its only member, then commit the new offsets with a valid
    generation (brokers refuse generation-less commits while they still list old members)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
    )
    await consumer.start()
    try:
        consumer.subscribe(sorted({tp.topic for tp in offsets}))
        deadline = asyncio.get_running_loop().time() + within_s
        while not set(offsets) <= consumer.assignment():
            if asyncio.get_running_loop().time() > deadline:
                raise typer.BadParameter(f"could not take over group {group!r}: is it stopped?")
            await consumer.getmany(timeout_ms=200, max_records=1)
        await consumer.commit({tp: OffsetAndMetadata(o, "") for tp, o in offsets.items()})
    finally:
        await consumer.stop()


def reprocess(
    consumer: Annotated[str, typer.Option("--consumer", help="consumer group (= service name)")],
    from_time: Annotated[str, typer.Option("--from-time", help="RFC 3339, or `2h` (ago)")],
    topic: Annotated[
        list[str] | None,
        typer.Option("--topic", help="full topic name (default: every pinned topic)"),
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="show the new offsets, commit nothing")] = False,
    force: Annotated[
        bool, typer.Option(help="skip the live-member check (brokers that keep stale members)")
    ] = False,
    allow_repeats: Annotated[
        bool,
        typer.Option(help="go back further than the inbox retention (effects may repeat)"),
    ] = False,
) -> None:
    """Reset a STOPPED consumer group's offsets to the first record at or after --from-time."""
    env = RuntimeEnv()
    when = store.parse_time(from_time)
    if not allow_repeats:
        within_retention(when, section(InboxSection, load_raw(env.interventions_config), "inbox"))
    names = list(topic or [topics.full(t, env.kafka_topic_prefix) for t in topics.ALL_TOPICS])
    plan = asyncio.run(targets(env.kafka_bootstrap_servers, consumer, names, when, force))
    table = Table("topic", "partition", "current", "new")
    for tp, (old, new) in plan.items():
        table.add_row(tp.topic, str(tp.partition), "-" if old is None else str(old), str(new))
    Console(width=200).print(table)
    if dry_run:
        typer.echo("dry run: nothing committed")
        return
    asyncio.run(
        commit(env.kafka_bootstrap_servers, consumer, {tp: n for tp, (_, n) in plan.items()})
    )
    typer.echo(f"group {consumer} will re-read from {when.isoformat()} when it starts")


def within_retention(when: datetime, inbox: InboxSection, now: datetime | None = None) -> None:
    """Refuse a time before the inbox retention: the ids of events processed then may be
    pruned, so the group would take their effects (pages, tickets, actions) again."""
    oldest = (now or datetime.now(UTC)) - inbox.retention
    if when < oldest:
        raise typer.BadParameter(
            f"{when.isoformat()} is before {oldest.isoformat(timespec='seconds')}: the inbox "
            f"keeps processed event ids for {format_duration(inbox.retention)} "
            "(interventions.inbox.retention), so events from before then may be processed "
            "again, repeating their effects. Pick a later --from-time, or pass --allow-repeats."
        )


def register(app: typer.Typer) -> None:
    app.command("reprocess")(reprocess)
