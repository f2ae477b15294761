"""tracing.record_span: no span at all without an exporter; a continued trace with one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from interventions_platform import tracing

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
SCRIPT = """
from interventions_platform import tracing
tracing.setup("probe")
with tracing.record_span("", "{parent}", destination="t.detections", message_id="m-1"):
    print(tracing.current_traceparent())
"""


def test_without_an_exporter_record_span_is_a_shared_no_op() -> None:
    assert not tracing.exporting()
    one = tracing.record_span("x", PARENT, destination="t.signals.eval")
    assert one is tracing.record_span("y", None, destination="t.detections")
    with one:
        assert tracing.current_traceparent() is None


def test_with_a_trace_file_the_span_continues_the_trace_with_messaging_attributes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "spans.jsonl"
    env = {**os.environ, "INTERVENTIONS_TRACE_FILE": str(path)}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(parent=PARENT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-")
    span = json.loads(path.read_text().splitlines()[0])
    assert span["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert span["parent_id"] == "00f067aa0ba902b7"
    assert span["attributes"] == {
        "messaging.system": "kafka",
        "messaging.destination.name": "t.detections",
        "messaging.operation": "process",
        "messaging.message.id": "m-1",
    }
