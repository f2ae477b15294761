"""The Kubernetes init container (deploy/k8s/base/wait_for_topics.py) against a real broker:
it keeps a service from starting until every pinned topic exists, then exits 0."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from interventions_platform import kafka

from .conftest import ROOT

SCRIPT = ROOT / "deploy" / "k8s" / "base" / "wait_for_topics.py"


async def test_waits_while_topics_are_missing_and_exits_0_once_they_exist(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "KAFKA_TOPIC_PREFIX": topic_prefix,
        "WAIT_INTERVAL_S": "0.2",
    }
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        await asyncio.sleep(2)
        assert proc.poll() is None, "it must wait while the topics are missing"
        await kafka.ensure_topics(kafka_bootstrap, topic_prefix)
        assert proc.wait(30) == 0
        out = proc.stdout.read().decode() if proc.stdout else ""
        assert f"{topic_prefix}dlq" in out and "all topics present" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
