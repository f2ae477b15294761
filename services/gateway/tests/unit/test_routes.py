"""Route table: which service serves a path and which role the edge demands."""

from __future__ import annotations

import pytest
from gateway import routes


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/api/incidents", ("incidents", "viewer")),
        ("GET", "/api/incidents/12/events", ("incidents", "viewer")),
        ("POST", "/api/incidents/12/resolve", ("incidents", "responder")),
        ("POST", "/api/playbooks/incidents/3/actions/execute", ("playbooks", "responder")),
        ("GET", "/api/sse/events", ("notifier", "viewer")),
        ("GET", "/api/metrics/summary", ("incidents", "viewer")),
        ("POST", "/api/playbooks/approvals/9/approve", ("playbooks", "responder")),
        ("POST", "/api/signals", ("gateway", "producer")),
    ],
)
def test_each_path_goes_to_its_owner_with_its_role(
    method: str, path: str, expected: tuple[str, str]
) -> None:
    assert routes.resolve(method, path) == expected


def test_a_path_that_only_shares_a_prefix_string_is_not_routed() -> None:
    assert routes.resolve("GET", "/api/incidentsX") is None
    assert routes.resolve("GET", "/api/unknown") is None
