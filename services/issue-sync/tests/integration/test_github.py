"""GitHub specifics: the marker is found among the newest issues or, for older ones, by search."""

from __future__ import annotations

from interventions_testkit.standins.github import GitHubStandIn
from issue_sync.adapters.github import GitHubTracker
from issue_sync.settings import GitHubConfig
from pydantic import SecretStr

from .test_trackers import ticket


async def test_an_old_ticket_beyond_the_newest_page_is_found_by_search() -> None:
    with GitHubStandIn() as standin:
        cfg = GitHubConfig(
            api_url=standin.url, token=SecretStr("ghp-test"), owner="acme", repo="ops"
        )
        tracker = GitHubTracker(cfg, timeout=5)
        old = await tracker.open(ticket(1000))
        for n in range(55):
            await tracker.open(ticket(n))
        assert await tracker.find_by_marker("interventions:incident:1000") == old
        assert await tracker.find_by_marker("interventions:incident:54") is not None
        await tracker.aclose()
        assert len(standin.calls_to("GET", r"/search/issues")) == 1
        assert standin.violations == []
