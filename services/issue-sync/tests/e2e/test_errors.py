"""Vendor errors: bad credentials are reported and not hammered; a deleted ticket is recorded
and skipped without stopping other incidents."""

from __future__ import annotations

import asyncio
from pathlib import Path

from interventions_events import incidents as inc
from interventions_events import issues
from interventions_testkit.standins.github import GitHubStandIn

from .harness import Bus, eventually, lifecycle, opened, service, settings_yaml, sync_state


async def test_401_reports_check_token_waits_and_a_deleted_ticket_is_skipped_not_fatal(
    bus: Bus, tmp_path: Path, kafka_bootstrap: str, database_url: str, topic_prefix: str
) -> None:
    config = settings_yaml(tmp_path / "s.yaml", "github", auth_retry="3s")
    with GitHubStandIn() as standin:
        proc = service(
            config,
            "github",
            standin,
            bootstrap=kafka_bootstrap,
            db=database_url,
            prefix=topic_prefix,
        ).start()
        try:
            proc.wait_ready()
            standin.fail_next(1, 401, body={"message": "Bad credentials"})
            await bus.publish(opened(1))
            await eventually(lambda: standin.calls, what="first call")
            await asyncio.sleep(1.5)
            calls_while_parked = len(standin.calls)
            await eventually(lambda: standin.issues, what="ticket after auth_retry")
            del standin.issues[1]  # someone deleted the ticket by hand
            await bus.publish(
                lifecycle(1, inc.IncidentAcknowledged, "acknowledged"),
                lifecycle(1, inc.IncidentMitigated, "mitigated"),
                opened(2),
            )
            await eventually(lambda: 2 in standin.issues, what="next incident's ticket")
            state = await eventually(
                lambda: (s := sync_state(proc, 1)) and s["ops"][-1]["status"] != "pending" and s,
                what="incident 1 settled",
            )
            got = await bus.issue_events(
                lambda evs: sum(isinstance(e.data, issues.IssueSyncFailed) for e in evs) >= 2
            )
        finally:
            proc.stop()
    assert calls_while_parked == 1, "a 401 is not retried in a loop"
    failures = [e.data for e in got if isinstance(e.data, issues.IssueSyncFailed)]
    assert "check token/permissions" in failures[0].error and failures[0].status_code == 401
    assert "no longer exists" in failures[1].error and failures[1].status_code == 404
    assert [op["status"] for op in state["ops"]] == ["done", "failed", "skipped"]
    assert state["link"]["state"] == "missing"
