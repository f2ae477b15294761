"""Two-phase delivery against real PostgreSQL and the Slack stand-in (a real HTTP server): a
sender that dies after Slack answered but before recording it leaves the row `sending`; once
its lease is over another claim finds the message by its metadata (bot mode, posted once) or
sends it again (webhook mode, at least once); and a late outcome from an expired claim never
overwrites the newer claim's."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from interventions_events import Envelope, Event
from interventions_events import incidents as ev
from interventions_eventstore import CORE, create_pool, migrate
from interventions_testkit.standins.slack import SlackStandIn
from notifier.adapters import Outcome, Outgoing, Sink
from notifier.adapters.slack import Slack
from notifier.migrations import MIGRATIONS
from notifier.sender import Sender
from notifier.service import NotifierService
from notifier.settings import Settings, VendorEnv
from pydantic import SecretStr

from .support import Runtime

TEAM = "data-platform"
SCHEMA = "twophase"


class Crash(Exception):
    """The sender process dying, as seen from the code after it."""


class CrashAfter:
    """A sink that makes the real vendor call, then dies before the outcome is recorded."""

    def __init__(self, sink: Sink, *, before: bool = False):
        self.sink = sink
        self.before = before
        self.armed = True

    async def send(self, out: Outgoing) -> Outcome:
        if self.armed and self.before:
            self.armed = False
            raise Crash("before the vendor call")
        outcome = await self.sink.send(out)
        if self.armed:
            self.armed = False
            raise Crash("after the vendor answered")
        return outcome


def _snap(i: int, status: str = "open", version: int = 1) -> dict[str, Any]:
    return {
        "id": i,
        "kind": "invariant",
        "key": f"INV_twophase_{i}",
        "severity": "sev3",  # Slack only
        "status": status,
        "version": version,
        "summary": f"freshness {i}",
        "owner_team": TEAM,
    }


def _opened(i: int) -> Envelope[Event]:
    return Envelope(
        source="test/incidents",
        data=ev.IncidentOpened(
            incident_id=i,
            at=datetime.now(UTC),
            kind="invariant",
            key=f"INV_twophase_{i}",
            severity="sev3",
            summary=f"freshness {i}",
            owner_team=TEAM,
            detection_id=f"d{i}",
            rule="opened",
            incident=_snap(i),
        ),
    )


def _acked(i: int) -> Envelope[Event]:
    return Envelope(
        source="test/incidents",
        data=ev.IncidentAcknowledged(
            incident_id=i, at=datetime.now(UTC), by="al", incident=_snap(i, "acknowledged", 2)
        ),
    )


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    standin = SlackStandIn().start()
    yield standin
    standin.stop()


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(database_url)
    await migrate(p, SCHEMA, CORE)
    await migrate(p, SCHEMA, MIGRATIONS, component="notifier")
    yield p
    await p.close()


def _settings(slack: SlackStandIn, mode: str) -> Settings:
    vendors = (
        VendorEnv(
            slack_bot_token=SecretStr(slack.bot_token),
            slack_channel="C0INCIDENTS",
            slack_api_url=slack.api_url,
        )
        if mode == "bot"
        else VendorEnv(slack_webhook_url=SecretStr(slack.webhook_url))
    )
    raw = {"notifier": {"slack": {"coalesce_window": "0s", "retry": {"timeout": "2s"}}}}
    return Settings.load(raw, "http://console", vendors)


async def _setup(
    pool: asyncpg.Pool, slack: SlackStandIn, mode: str, client: httpx.AsyncClient
) -> tuple[NotifierService, Slack]:
    settings = _settings(slack, mode)
    service = NotifierService(Runtime(pool, SCHEMA), settings)  # type: ignore[arg-type]
    return service, Slack(client, settings)


def _later(service: NotifierService) -> datetime:
    """A moment past any claim's lease."""
    cfg = service.settings.notifier
    return datetime.now(UTC) + cfg.sender.lease(cfg.slack.retry) + timedelta(seconds=1)


async def _rows(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return await pool.fetch(
        f"SELECT d.*, t.slack_ts FROM {SCHEMA}.deliveries d JOIN {SCHEMA}.tracked t "
        "USING (incident_id) ORDER BY seq"
    )


async def _outbox_events(pool: asyncpg.Pool) -> list[str]:
    """The notification outcomes the sender recorded, in order (ce_type's last part)."""
    rows = await pool.fetch(
        f"SELECT h->>1 AS type FROM {SCHEMA}.outbox, json_array_elements(headers) h "
        "WHERE h->>0 = 'ce_type' ORDER BY position"
    )
    return [r["type"] for r in rows if "notification" in r["type"].lower()]


async def _drain(sender: Sender, now: datetime | None = None) -> None:
    for _ in range(20):
        if not await sender.send_one(now):
            return


@pytest.mark.parametrize("where", ["trigger", "update"])
async def test_bot_mode_crash_after_slack_answered_is_found_not_posted_again(
    pool: asyncpg.Pool, slack: SlackStandIn, where: str
) -> None:
    async with httpx.AsyncClient() as client:
        service, sink = await _setup(pool, slack, "bot", client)
        crashing = CrashAfter(sink)
        sender = Sender(service, {"slack": crashing if where == "trigger" else sink})
        await service.handle([_opened(1)], [])
        if where == "update":
            await _drain(sender)
            sender.sinks["slack"] = crashing
            await service.handle([_acked(1)], [])
        with pytest.raises(Crash):
            await _drain(sender, datetime.now(UTC) + timedelta(seconds=1))
        row = (await _rows(pool))[-1]
        assert row["status"] == "sending" and row["attempts"] == 1
        posted = len(slack.snapshot())
        # the lease is not over yet: no other claim takes it
        assert not await sender.send_one(datetime.now(UTC) + timedelta(seconds=1))
        await _drain(sender, _later(service))
    messages = slack.snapshot()
    assert len(messages) == posted == (1 if where == "trigger" else 2)
    assert [m.idempotency_key for m in messages] == [
        r["idempotency_key"] for r in await _rows(pool)
    ]
    row = (await _rows(pool))[-1]
    assert row["status"] == "sent" and row["attempts"] == 2 and row["claim_token"] is None
    assert row["slack_ts"] == messages[0].ts  # the trigger's ts, found or posted: threads hold
    reads = [c.path for c in slack.calls if c.path.startswith("/api/conversations")]
    method = "history" if where == "trigger" else "replies"
    assert reads == [f"/api/conversations.{method}"]
    if where == "update":
        assert messages[1].thread_ts == messages[0].ts


async def test_bot_mode_crash_before_the_call_posts_after_finding_nothing(
    pool: asyncpg.Pool, slack: SlackStandIn
) -> None:
    async with httpx.AsyncClient() as client:
        service, sink = await _setup(pool, slack, "bot", client)
        sender = Sender(service, {"slack": CrashAfter(sink, before=True)})
        await service.handle([_opened(1)], [])
        with pytest.raises(Crash):
            await _drain(sender)
        assert slack.snapshot() == []
        await _drain(sender, _later(service))
    (message,) = slack.snapshot()
    (row,) = await _rows(pool)
    assert row["status"] == "sent" and row["slack_ts"] == message.ts
    assert message.body["metadata"] == {
        "event_type": "interventions_notification",
        "event_payload": {"idempotency_key": row["idempotency_key"], "incident_id": 1},
    }
    assert [c.path for c in slack.calls] == [
        "/api/conversations.history",
        "/api/chat.postMessage",
    ]


async def test_webhook_mode_crash_after_slack_answered_is_resent_exactly_once(
    pool: asyncpg.Pool, slack: SlackStandIn
) -> None:
    async with httpx.AsyncClient() as client:
        service, sink = await _setup(pool, slack, "webhook", client)
        sender = Sender(service, {"slack": CrashAfter(sink)})
        await service.handle([_opened(1)], [])
        with pytest.raises(Crash):
            await _drain(sender)
        await _drain(sender, _later(service))
        await _drain(sender, _later(service))
    assert len(slack.snapshot()) == 2  # at least once: a webhook cannot be read back
    (row,) = await _rows(pool)
    assert row["status"] == "sent" and row["attempts"] == 2
    assert (await _outbox_events(pool)).count("NotificationSent") == 1


async def test_a_late_outcome_from_an_expired_claim_does_not_overwrite_the_newer_claim(
    pool: asyncpg.Pool, slack: SlackStandIn
) -> None:
    async with httpx.AsyncClient() as client:
        service, sink = await _setup(pool, slack, "webhook", client)
        sender = Sender(service, {"slack": sink})
        await service.handle([_opened(1)], [])
        first = await sender.claim(datetime.now(UTC) + timedelta(seconds=1))
        assert isinstance(first, tuple)
        # the first claim's lease runs out (its sender stalled); another claim takes the row
        second = await sender.claim(_later(service))
        assert isinstance(second, tuple) and second[1] != first[1]
        failed = Outcome(False, 400, "invalid_blocks")
        async with pool.acquire() as conn, conn.transaction():
            assert not await sender._record(conn, first[0], first[1], first[2], failed)
        (row,) = await _rows(pool)
        assert row["status"] == "sending" and row["claim_token"] == second[1]
        assert await _outbox_events(pool) == []
        ok = Outcome(True, 200, "ok", target="webhook")
        async with pool.acquire() as conn, conn.transaction():
            assert await sender._record(conn, second[0], second[1], second[2], ok)
        async with pool.acquire() as conn, conn.transaction():  # and it is recorded once
            assert not await sender._record(conn, second[0], second[1], second[2], ok)
    (row,) = await _rows(pool)
    assert row["status"] == "sent" and row["attempts"] == 2 and row["uncertain_since"] is not None
    assert await _outbox_events(pool) == ["NotificationSent"]


class LoseAnswer:
    """A sink whose first answer is lost on the way back (a read timeout after the post)."""

    def __init__(self, sink: Sink):
        self.sink = sink
        self.lost = False

    async def send(self, out: Outgoing) -> Outcome:
        outcome = await self.sink.send(out)
        if not self.lost:
            self.lost = True
            return Outcome(False, None, "ReadTimeout", retryable=True)
        return outcome


async def test_bot_mode_a_lost_answer_makes_the_retry_look_before_posting(
    pool: asyncpg.Pool, slack: SlackStandIn
) -> None:
    async with httpx.AsyncClient() as client:
        service, sink = await _setup(pool, slack, "bot", client)
        sender = Sender(service, {"slack": LoseAnswer(sink)})
        await service.handle([_opened(1)], [])
        await _drain(sender)
        (row,) = await _rows(pool)
        assert row["status"] == "pending" and row["uncertain_since"] is not None
        await _drain(sender, datetime.now(UTC) + timedelta(minutes=10))  # past the back-off
    (message,) = slack.snapshot()
    (row,) = await _rows(pool)
    assert row["status"] == "sent" and row["slack_ts"] == message.ts and row["attempts"] == 2
    assert [c.path for c in slack.calls] == [
        "/api/chat.postMessage",
        "/api/conversations.history",
    ]
