"""One service process: database pool and migrations, Kafka producer, FastStream broker with
batch subscribers, the outbox relay, and an orderly drain on shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from interventions_eventstore import CORE, OutboxRelay, create_pool, migrate, prune_inbox

from . import auth, commits, kafka, logs, metrics, tracing
from .config import InboxSection, load_raw, section
from .env import RuntimeEnv

log = logging.getLogger(__name__)


class Runtime:
    """Everything a service process shares; built in `start()`, never at import time."""

    def __init__(
        self,
        service: str,
        *,
        schema: str | None = None,
        migrations: Sequence[str] = (),
        relay: bool = True,
        env: RuntimeEnv | None = None,
        raw_config: dict[str, Any] | None = None,
    ):
        self.service = service
        self.schema = schema or service.replace("-", "_")
        self.migrations = list(migrations)
        self.with_relay = relay
        self.env = env or RuntimeEnv()
        self.raw_config = (
            load_raw(self.env.interventions_config) if raw_config is None else raw_config
        )
        self.inbox = section(InboxSection, self.raw_config, "inbox")
        self.prefix = self.env.kafka_topic_prefix
        self.broker = KafkaBroker(
            self.env.kafka_bootstrap_servers,
            logger=None,
            apply_types=False,  # handlers take the message (see kafka.undecoded)
            enable_idempotence=False,
            client_id=f"interventions-{service}",
        )
        self.pool: asyncpg.Pool | None = None
        self.kafka: AIOKafkaProducer | None = None
        self.publisher: kafka.Publisher | None = None
        self.relay: OutboxRelay | None = None
        self.tokens: auth.TokenStore | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self.started = asyncio.Event()

    @property
    def db(self) -> asyncpg.Pool:
        assert self.pool is not None, "runtime not started"
        return self.pool

    @property
    def pub(self) -> kafka.Publisher:
        assert self.publisher is not None, "runtime not started"
        return self.publisher

    def spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        """Run a background loop for the life of the process; a crash is logged loudly."""
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(_report)
        self._tasks.append(task)
        return task

    async def start(self, *, consume: bool = True) -> None:
        commits.reopen()
        logs.setup(self.service, self.env.interventions_log_level)
        tracing.setup(self.service)
        self.pool = await create_pool(self.env.database_url, min_size=1, max_size=10)
        await migrate(self.pool, self.schema, CORE)
        if self.migrations:
            await migrate(self.pool, self.schema, self.migrations, component=self.service)
        await migrate(self.pool, "auth", auth.AUTH_MIGRATIONS, component="auth")
        self.tokens = auth.TokenStore(
            admin_token=(
                self.env.interventions_admin_token.get_secret_value()
                if self.env.interventions_admin_token
                else None
            ),
            entries=section(auth.AuthSection, self.raw_config, "auth").tokens,
            pool=self.pool,
        )
        await kafka.ensure_topics(self.env.kafka_bootstrap_servers, self.prefix)
        self.kafka = kafka.producer(self.env.kafka_bootstrap_servers)
        await self.kafka.start()
        self.publisher = kafka.Publisher(self.kafka, f"interventions/{self.service}", self.prefix)
        if self.with_relay:
            self.relay = OutboxRelay(self.pool, self.schema, self.kafka)
            self.spawn(self.relay.run(), "outbox-relay")
            self.spawn(self._watch_backlog(), "outbox-backlog")
        self.spawn(self._watch_lag(), "consumer-lag")
        self.spawn(self._prune_inbox(), "inbox-retention")
        kafka.wait_for_records(self.broker)
        if consume:
            await self.broker.start()
        self.started.set()
        log.info(
            "%s started (kafka %s, prefix %r)",
            self.service,
            self.env.kafka_bootstrap_servers,
            self.prefix,
        )

    async def stop(self) -> None:
        """Drain: stop consuming (in-flight batches finish and commit), flush the relay and the
        producer, then close the pool."""
        await commits.close_all()  # what was handled is committed before the consumers stop
        with contextlib.suppress(Exception):
            await self.broker.stop()
        if self.relay is not None:
            self.relay.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.relay is not None and self.pool is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.relay.publish_once(), 5)
        if self.kafka is not None:
            with contextlib.suppress(Exception):
                await self.kafka.stop()
        if self.pool is not None:
            await self.pool.close()
        log.info("%s stopped", self.service)

    async def _watch_backlog(self) -> None:
        counted = 0  # the relay's late rows already added to the counter
        while True:
            await asyncio.sleep(5)
            if self.relay is not None and self.relay.late > counted:
                metrics.OUTBOX_LATE.labels(self.schema).inc(self.relay.late - counted)
                counted = self.relay.late
            with contextlib.suppress(Exception):
                n = await self.db.fetchval(f"SELECT count(*) FROM {self.schema}.outbox")
                metrics.OUTBOX_BACKLOG.labels(self.schema).set(n or 0)

    async def _prune_inbox(self) -> None:
        """Every `inbox.prune_every` (the first time after a random part of it, so replicas
        started together spread out), delete inbox ids older than `inbox.retention`."""
        every = self.inbox.prune_every.total_seconds()
        await asyncio.sleep(random.uniform(0, every))
        while True:
            try:
                n = await prune_inbox(self.db, self.schema, self.inbox.retention)
            except (asyncpg.PostgresError, OSError) as exc:  # the next round tries again
                log.warning("inbox pruning in %s failed: %s", self.schema, exc)
            else:
                metrics.INBOX_PRUNED.labels(self.schema).inc(n)
                if n:
                    log.info("pruned %d inbox ids older than %s", n, self.inbox.retention)
            await asyncio.sleep(every)

    async def _watch_lag(self, every_s: float = 5.0) -> None:
        """Consumer lag per group and topic for this replica's partitions (high-water mark
        minus position), from what the consumers already know: no extra broker requests."""
        while True:
            await asyncio.sleep(every_s)
            with contextlib.suppress(Exception):
                for group, topic, lag in await consumer_lags(self.broker):
                    metrics.CONSUMER_LAG.labels(group, topic).set(lag)

    async def db_ready(self) -> bool:
        return bool(self.pool is not None and await self.pool.fetchval("SELECT 1") == 1)

    async def kafka_ready(self) -> bool:
        return self.started.is_set() and self.kafka is not None

    def lifespan(self, *hooks: Any) -> Any:
        """A FastAPI lifespan that starts the runtime, then each hook's `start()`; stops in
        reverse order."""

        @asynccontextmanager
        async def span(app: FastAPI) -> AsyncIterator[None]:
            app.state.runtime = self
            await self.start(consume=False)
            app.state.tokens = self.tokens
            for hook in hooks:
                await hook.start()
            await self.broker.start()
            try:
                yield
            finally:
                for hook in reversed(hooks):
                    with contextlib.suppress(Exception):
                        await hook.stop()
                await self.stop()

        return span


async def consumer_lags(broker: KafkaBroker) -> list[tuple[str, str, int]]:
    """(group, topic, records behind) for every running subscriber of the broker."""
    out: list[tuple[str, str, int]] = []
    for sub in broker.subscribers:
        consumer = getattr(sub, "consumer", None)
        group = getattr(sub, "group_id", None)
        if consumer is None or group is None:
            continue
        per_topic: dict[str, int] = {}
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            if high is None:
                continue
            behind = max(0, high - await consumer.position(tp))
            per_topic[tp.topic] = per_topic.get(tp.topic, 0) + behind
        out.extend((str(group), topic, lag) for topic, lag in per_topic.items())
    return out


def _report(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background task %s crashed", task.get_name(), exc_info=task.exception())


def serve(app: FastAPI, port: int, host: str | None = None) -> None:
    """Run the app with uvicorn (uvloop), exiting 0 on SIGTERM/SIGINT after draining."""
    import uvicorn

    # containers set INTERVENTIONS_BIND_HOST=0.0.0.0; local runs stay on loopback
    host = host or RuntimeEnv().interventions_bind_host
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=10,
        lifespan="on",
    )
    # uvicorn re-raises the stop signal after draining; a no-op handler turns that into exit 0
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    uvicorn.Server(config).run()
