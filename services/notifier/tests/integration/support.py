"""What the in-process notifier tests share."""

from __future__ import annotations

import asyncpg
from interventions_platform.kafka import Publisher


class Runtime:
    """What the service and the sender use of the runtime: pool, schema, prefix, publisher."""

    def __init__(self, pool: asyncpg.Pool, schema: str):
        self.db = pool
        self.schema = schema
        self.prefix = "t."
        self.pub = Publisher(None, "test/notifier", "t.")  # type: ignore[arg-type]
