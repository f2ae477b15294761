"""Each provider's adapter wired to its stand-in over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from interventions_testkit.standins.github import GitHubStandIn, StandIn
from interventions_testkit.standins.gitlab import GitLabStandIn
from interventions_testkit.standins.jira import JiraStandIn
from issue_sync.adapters.base import IssueTracker
from issue_sync.adapters.factory import build_tracker
from issue_sync.settings import GitHubConfig, GitLabConfig, JiraConfig, ProviderConfig
from pydantic import SecretStr


@dataclass
class Pair:
    name: str
    standin: Any
    tracker: IssueTracker

    def history(self, external_id: str) -> list[str]:
        issues = self.standin.issues
        key: Any = external_id if self.name == "jira" else int(external_id)
        return list(issues[key].history)


def config_for(name: str, standin: StandIn, **override: str) -> ProviderConfig:
    if name == "github":
        return GitHubConfig(
            api_url=standin.url,
            token=SecretStr(override.get("token", "ghp-test")),
            owner="acme",
            repo=override.get("repo", "ops"),
        )
    if name == "gitlab":
        return GitLabConfig(
            url=standin.url,
            token=SecretStr(override.get("token", "glpat-test")),
            project_id=override.get("project", "77"),
        )
    return JiraConfig(
        url=standin.url,
        email="bot@example.com",
        api_token=SecretStr(override.get("token", "jira-test")),
        project_key=override.get("project", "OPS"),
    )


def standin_for(name: str) -> StandIn:
    return {"github": GitHubStandIn, "gitlab": GitLabStandIn, "jira": JiraStandIn}[name]()


@pytest.fixture(params=["github", "gitlab", "jira"])
def provider_standin(request: pytest.FixtureRequest) -> Iterator[tuple[str, StandIn]]:
    standin = standin_for(request.param).start()
    yield request.param, standin
    standin.stop()


@pytest.fixture
async def pair(provider_standin: tuple[str, StandIn]) -> AsyncIterator[Pair]:
    name, standin = provider_standin
    tracker = build_tracker(config_for(name, standin), timeout=5)
    yield Pair(name, standin, tracker)
    await tracker.aclose()
    assert standin.violations == [], standin.violations
