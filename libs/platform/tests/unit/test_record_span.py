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


CLIENT_SCRIPT = """
from interventions_platform import tracing
tracing.setup("probe")
with tracing.continued("{parent}"):
    with tracing.client_span("slack", "POST", tracing.redacted("{url}")) as span:
        tracing.set_status(span, 503)
"""


def test_without_an_exporter_no_provider_is_installed_and_helpers_are_no_ops() -> None:
    from opentelemetry import trace

    tracing.setup("probe")  # a provider would switch on FastAPI's per-request spans
    assert not isinstance(trace.get_tracer_provider(), tracing.TracerProvider)
    assert tracing.continued(PARENT) is tracing.client_span("pagerduty", "POST", "http://x")
    assert tracing.server_span("POST", "/api/signals", PARENT) is tracing.record_span(
        "x", None, destination="t"
    )


def test_a_vendor_call_joins_a_stored_trace_with_http_client_attributes_and_no_secret(
    tmp_path: Path,
) -> None:
    path = tmp_path / "spans.jsonl"
    url = "https://hooks.slack.com/services/T000/B000/SECRETSECRET"
    env = {**os.environ, "INTERVENTIONS_TRACE_FILE": str(path)}
    subprocess.run(
        [sys.executable, "-c", CLIENT_SCRIPT.format(parent=PARENT, url=url)],
        env=env,
        timeout=60,
        check=True,
    )
    span = json.loads(path.read_text().splitlines()[0])
    assert (span["trace_id"], span["parent_id"]) == (
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "00f067aa0ba902b7",
    )
    assert (span["name"], span["kind"]) == ("POST", "SpanKind.CLIENT")
    assert span["attributes"] == {
        "http.request.method": "POST",
        "url.full": "https://hooks.slack.com/REDACTED",
        "server.address": "hooks.slack.com",
        "peer.service": "slack",
        "http.response.status_code": 503,
        "error.type": "503",
    }
    assert "SECRET" not in path.read_text()
