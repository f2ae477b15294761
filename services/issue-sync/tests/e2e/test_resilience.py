"""Crashes, rate limits and outages never lose, duplicate or reorder ticket updates."""

from __future__ import annotations

import time
from pathlib import Path

from interventions_events import incidents as inc
from interventions_events import issues
from interventions_testkit.standins.github import GitHubStandIn
from interventions_testkit.standins.gitlab import GitLabStandIn
from interventions_testkit.standins.jira import JiraStandIn

from .harness import Bus, eventually, lifecycle, opened, service, settings_yaml, sync_state

CREATE = r"/repos/acme/ops/issues"


async def test_crash_between_create_and_link_still_leaves_one_ticket_after_restart(
    bus: Bus, tmp_path: Path, kafka_bootstrap: str, database_url: str, topic_prefix: str
) -> None:
    config = settings_yaml(tmp_path / "s.yaml", "jira")
    with JiraStandIn() as standin:
        args = dict(bootstrap=kafka_bootstrap, db=database_url, prefix=topic_prefix)
        doomed = service(
            config, "jira", standin, **args, INTERVENTIONS_TEST_CRASH_AFTER_CREATE="1"
        ).start()
        doomed.wait_ready()
        await bus.publish(opened(5))
        assert doomed.proc is not None
        await eventually(lambda: doomed.proc.poll() is not None, what="the crash")  # type: ignore[union-attr]
        assert doomed.proc.returncode == 137 and len(standin.issues) == 1
        again = service(config, "jira", standin, **args).start()
        try:
            again.wait_ready()
            await bus.publish(lifecycle(5, inc.IncidentAcknowledged, "acknowledged"))
            issue = standin.issues["OPS-1"]
            await eventually(lambda: issue.comments, what="comment after restart")
            got = await bus.issue_events(
                lambda evs: any(isinstance(e.data, issues.IssueLinked) for e in evs)
            )
        finally:
            again.stop()
    assert len(standin.issues) == 1
    assert standin.calls_to("GET", r"/rest/api/3/search/jql"), "restart looked for the marker"
    linked = [e.data for e in got if isinstance(e.data, issues.IssueLinked)]
    assert [(x.external_id, x.found_by_marker) for x in linked] == [("OPS-1", True)]


async def test_429_with_retry_after_twice_succeeds_after_waiting(
    bus: Bus, tmp_path: Path, kafka_bootstrap: str, database_url: str, topic_prefix: str
) -> None:
    with GitHubStandIn() as standin:
        proc = service(
            settings_yaml(tmp_path / "s.yaml", "github"),
            "github",
            standin,
            bootstrap=kafka_bootstrap,
            db=database_url,
            prefix=topic_prefix,
        ).start()
        try:
            proc.wait_ready()
            standin.fail_next(
                2, 429, headers={"Retry-After": "1"}, body={"message": "API rate limit exceeded"}
            )
            await bus.publish(opened(3))
            await eventually(lambda: standin.issues, what="ticket after the rate limit")
        finally:
            proc.stop()
    limited = [c for c in standin.calls if c.status == 429]
    created = standin.calls_to("POST", CREATE)
    assert len(limited) == 2 and len(standin.issues) == 1
    assert limited[1].at - limited[0].at >= 0.95, "waited Retry-After before the second try"
    assert created[-1].at - limited[1].at >= 0.95, "waited Retry-After before succeeding"


async def test_provider_down_queues_updates_and_syncs_them_in_order_when_back(
    bus: Bus, tmp_path: Path, kafka_bootstrap: str, database_url: str, topic_prefix: str
) -> None:
    with GitLabStandIn() as standin:
        proc = service(
            settings_yaml(tmp_path / "s.yaml", "gitlab"),
            "gitlab",
            standin,
            bootstrap=kafka_bootstrap,
            db=database_url,
            prefix=topic_prefix,
        ).start()
        try:
            proc.wait_ready()
            standin.go_down()
            await bus.publish(
                opened(1),
                lifecycle(1, inc.IncidentAcknowledged, "acknowledged"),
                opened(2),
                lifecycle(1, inc.IncidentMitigated, "mitigated"),
                lifecycle(2, inc.IncidentResolved, "resolved", resolution="fixed"),
            )
            state = await eventually(lambda: _queued(proc, 1, 3), what="3 queued ops")
            failed = await bus.issue_events(
                lambda evs: any(isinstance(e.data, issues.IssueSyncFailed) for e in evs)
            )
            time.sleep(1.5)  # stay down through a few back-off rounds
            standin.come_back()
            await eventually(
                lambda: (
                    len(standin.issues) == 2
                    and [len(i.history) for i in standin.issues.values()] == [3, 3]
                ),
                what="catch-up",
            )
        finally:
            proc.stop()
    assert all(op["status"] == "pending" for op in state["ops"])
    msg = next(e.data for e in failed if isinstance(e.data, issues.IssueSyncFailed))
    assert "unavailable" in msg.error and "sync in order" in msg.error
    by_title = {
        i.description.split("interventions:incident:")[1][:1]: i for i in standin.issues.values()
    }
    assert by_title["1"].history == ["opened", "comment", "comment"]
    assert "Acknowledged" in by_title["1"].notes[0] and "Mitigated" in by_title["1"].notes[1]
    assert by_title["2"].history == ["opened", "comment", "closed"]
    assert len(standin.calls_to("POST", r"/api/v4/projects/77/issues")) >= 3, "retried"
    assert standin.violations == []


def _queued(proc: object, incident_id: int, n: int) -> dict[str, object] | None:
    state = sync_state(proc, incident_id)  # type: ignore[arg-type]
    return state if state and len(state["ops"]) == n else None
