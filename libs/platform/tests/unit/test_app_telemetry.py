"""create_app: FastAPI's own per-request telemetry only when spans are exported."""

from __future__ import annotations

import pytest
from interventions_platform.http import create_app


def test_without_an_exporter_fastapi_telemetry_is_off_and_cheap_to_ask(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("INTERVENTIONS_TRACE_FILE", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    app = create_app("probe", lifespan=None)
    assert not app._native_telemetry.enabled()
    assert (app._telemetry["tracing"], app._telemetry["metrics"], app._telemetry["logs"]) == (
        False,
        False,
        False,
    )


@pytest.mark.parametrize("name", ["INTERVENTIONS_TRACE_FILE", "OTEL_EXPORTER_OTLP_ENDPOINT"])
def test_with_an_exporter_configured_its_request_spans_stay_on(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.delenv("INTERVENTIONS_TRACE_FILE", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.setenv(name, "/tmp/unused-spans.jsonl" if "FILE" in name else "http://127.0.0.1:1")
    app = create_app("probe", lifespan=None)
    assert app._telemetry["tracing"] is True
    assert app._telemetry["metrics"] is False
