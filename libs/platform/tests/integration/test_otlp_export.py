"""With OTEL_EXPORTER_OTLP_ENDPOINT set, spans leave the process over OTLP/HTTP (protobuf)
to the collector at that address (a local stand-in collector here)."""

from __future__ import annotations

import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SCRIPT = """
from opentelemetry import trace
from interventions_platform import tracing
tracing.setup("otlp-test")
with tracing.tracer().start_as_current_span("hello"):
    pass
trace.get_tracer_provider().shutdown()  # flushes the batch processor
"""


def test_spans_are_exported_over_otlp_http_when_an_endpoint_is_configured() -> None:
    received: list[tuple[str, str, int]] = []

    class Collector(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            return None

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            received.append((self.path, self.headers.get("content-type", ""), len(body)))
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{server.server_address[1]}",
            "PATH": "/usr/bin:/bin",
        }
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
    finally:
        server.shutdown()
    assert received, "no span reached the collector"
    path, content_type, size = received[0]
    assert path == "/v1/traces" and content_type == "application/x-protobuf" and size > 0
