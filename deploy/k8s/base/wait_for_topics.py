"""Init container: wait until every pinned topic exists before a service starts.

Without it a service that starts before Strimzi's topic operator has created the topics
would create them itself with the platform defaults (a third of the partitions, one
replica), which the KafkaTopic resources cannot fix afterwards (the replication factor cannot
be changed in place). Exits 0 once all topics exist; the pod's restart policy covers everything else.
"""

from __future__ import annotations

import asyncio
import os

from aiokafka.admin import AIOKafkaAdminClient
from interventions_events import topics


async def missing_topics(bootstrap: str, wanted: set[str]) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    try:
        await admin.start()
        return wanted - set(await admin.list_topics())
    finally:
        await admin.close()


async def main() -> None:
    bootstrap = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    prefix = os.environ.get("KAFKA_TOPIC_PREFIX", topics.DEFAULT_PREFIX)
    interval = float(os.environ.get("WAIT_INTERVAL_S", "5"))
    wanted = {topics.full(name, prefix) for name in topics.ALL_TOPICS}
    while True:
        try:
            missing = await missing_topics(bootstrap, wanted)
        except Exception as exc:  # broker not up yet: keep waiting
            print(f"waiting for Kafka at {bootstrap}: {exc}", flush=True)
        else:
            if not missing:
                print("all topics present", flush=True)
                return
            print(f"waiting for topics: {', '.join(sorted(missing))}", flush=True)
        await asyncio.sleep(interval)


if __name__ == "__main__":
    asyncio.run(main())
