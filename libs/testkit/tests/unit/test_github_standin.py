"""The GitHub stand-in's secondary rate limit for content-creating requests, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from interventions_testkit import oracles
from interventions_testkit.standins.github import GitHubStandIn

HEADERS = {
    "Authorization": "Bearer ghp-test",
    "Accept": "application/vnd.github+json",
    "X-GitHub-Api-Version": "2022-11-28",
    "User-Agent": "test",
}


@pytest.fixture
def github() -> Iterator[GitHubStandIn]:
    standin = GitHubStandIn(secondary_limit=3, secondary_window=2.0).start()
    yield standin
    standin.stop()


def _create(g: GitHubStandIn, n: int) -> httpx.Response:
    return httpx.post(
        f"{g.url}/repos/acme/ops/issues", json={"title": f"t{n}", "body": "b"}, headers=HEADERS
    )


def test_more_content_creating_requests_than_the_limit_get_a_secondary_rate_limit_403(
    github: GitHubStandIn,
) -> None:
    assert [_create(github, i).status_code for i in range(3)] == [201, 201, 201]
    reads = httpx.get(f"{github.url}/repos/acme/ops/issues", headers=HEADERS)
    assert reads.status_code == 200, "reads do not count toward the content-creating limit"
    refused = _create(github, 4)
    assert refused.status_code == 403
    assert "secondary rate limit" in refused.json()["message"]
    assert 1 <= int(refused.headers["retry-after"]) <= 3
    assert len(github.issues) == 3 and len(github.writes) == 3 and github.rate_limited == 1
    v = oracles.Verdict()
    oracles.check_vendor_rate_limits(github, v, window=2.0)
    assert v.problems and "1 rate-limit" in v.problems[0]


def test_the_window_slides(github: GitHubStandIn) -> None:
    for i in range(3):
        assert _create(github, i).status_code == 201
    github.writes[:] = [t - 2.5 for t in github.writes]  # as if they were sent 2.5 s ago
    assert _create(github, 9).status_code == 201
    v = oracles.Verdict()
    oracles.check_vendor_rate_limits(github, v, window=2.0)
    assert v.problems == []
