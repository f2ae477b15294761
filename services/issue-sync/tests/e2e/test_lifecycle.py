"""The running service keeps one ticket per incident in step with the incident, per provider."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from interventions_events import incidents as inc
from interventions_events import issues
from interventions_testkit.standins.github import GitHubStandIn, StandIn
from interventions_testkit.standins.gitlab import GitLabStandIn
from interventions_testkit.standins.jira import JiraStandIn, adf_problems

from .harness import (
    Bus,
    action_succeeded,
    eventually,
    lifecycle,
    opened,
    service,
    settings_yaml,
    sync_state,
)

EXPECTED = [
    "opened",
    "comment",
    "comment",
    "comment",
    "comment",
    "closed",
    "reopened",
    "comment",
    "comment",
    "closed",
]


@pytest.fixture(params=["github", "gitlab", "jira"])
def vendor(request: pytest.FixtureRequest) -> Iterator[tuple[str, StandIn]]:
    cls = {"github": GitHubStandIn, "gitlab": GitLabStandIn, "jira": JiraStandIn}[request.param]
    with cls() as standin:
        yield request.param, standin


def only_issue(standin: Any) -> Any:
    issues_ = list(standin.issues.values())
    return issues_[0] if len(issues_) == 1 else None


def comments_of(issue: Any) -> list[str]:
    raw = getattr(issue, "comments", None) or getattr(issue, "notes", [])
    return [c if isinstance(c, str) else str(c) for c in raw]


async def test_full_lifecycle_one_create_comments_in_order_close_and_reopen(
    vendor: tuple[str, StandIn],
    bus: Bus,
    tmp_path: Path,
    kafka_bootstrap: str,
    database_url: str,
    topic_prefix: str,
) -> None:
    name, standin = vendor
    proc = service(
        settings_yaml(tmp_path / "settings.yaml", name),
        name,
        standin,
        bootstrap=kafka_bootstrap,
        db=database_url,
        prefix=topic_prefix,
    ).start()
    try:
        proc.wait_ready()
        await bus.publish(opened(7), lifecycle(7, inc.IncidentAcknowledged, "acknowledged"))
        issue = await eventually(lambda: only_issue(standin), what="ticket")
        await eventually(lambda: len(issue.history) == 2, what="ack comment")
        await bus.publish(action_succeeded(7))
        await eventually(lambda: len(issue.history) == 3, what="action comment")
        await bus.publish(
            lifecycle(7, inc.IncidentMitigated, "mitigated", notes="cache cleared"),
            lifecycle(7, inc.IncidentResolved, "resolved", notes="fixed", resolution="fixed"),
            lifecycle(7, inc.IncidentReopened, "open", notes="back again"),
            lifecycle(7, inc.IncidentResolved, "resolved", resolution="false_positive"),
            lifecycle(7, inc.IncidentClosed, "closed"),
        )
        await eventually(lambda: len(issue.history) == len(EXPECTED), what="all updates")
        state = await eventually(lambda: sync_state(proc, 7), what="sync state")
    finally:
        proc.stop()
    assert issue.history == EXPECTED
    texts = comments_of(issue)
    for i, word in enumerate(
        ["Acknowledged", "rerun_dbt", "Mitigated", "Resolved", "Reopened", "false positive"]
    ):
        assert word in texts[i], (i, texts[i])
    assert len(standin.issues) == 1 and standin.violations == []
    assert state["link"]["state"] == "closed"
    assert all(op["status"] == "done" for op in state["ops"])
    if name == "github":
        assert issue.state_reason == "not_planned"
        assert {"severity:sev1", "kind:invariant", "team:data-platform"} <= set(issue.labels)
    if name == "jira":
        assert issue.status == "Done"
        assert all(adf_problems(c) == [] for c in issue.comments)


async def test_issue_linked_reaches_the_issues_topic_with_the_ticket_url(
    bus: Bus, tmp_path: Path, kafka_bootstrap: str, database_url: str, topic_prefix: str
) -> None:
    with GitHubStandIn() as standin:
        proc = service(
            settings_yaml(tmp_path / "s.yaml", "github", "[sev1, sev2]"),
            "github",
            standin,
            bootstrap=kafka_bootstrap,
            db=database_url,
            prefix=topic_prefix,
        ).start()
        try:
            proc.wait_ready()
            await bus.publish(opened(9, severity="sev4"), opened(11))
            got = await bus.issue_events(
                lambda evs: any(isinstance(e.data, issues.IssueSynced) for e in evs)
            )
        finally:
            proc.stop()
    linked = [e.data for e in got if isinstance(e.data, issues.IssueLinked)]
    assert [(x.incident_id, x.url, x.provider) for x in linked] == [
        (11, standin.html_url(1), "github")
    ]
    assert len(standin.issues) == 1, "sev4 is outside the configured severities"
