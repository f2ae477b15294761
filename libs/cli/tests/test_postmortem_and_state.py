"""Post-mortem draft, timeline and state-as-of, from a scripted incident with controlled
clocks, through the real `interventions` command against a real PostgreSQL."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

from incidents import commands as c


async def scripted_incident(script: Any, kit: Any) -> int:
    """Open at T0, page, ticket, ack +3m, action +5..8m, mitigate +20m, resolve +40m."""
    await script.detect(kit.freshness(), 0)
    iid = int(await script.last_id())
    await script.record(c.RecordNotification(iid, "sent", sink="pagerduty", detail="trigger"), 0.5)
    await script.record(c.LinkIssue(iid, "github", "https://github.com/o/r/issues/7"), 1)
    await script.do(c.Acknowledge(iid, "ann@example.com", notes="looking"), 3)
    await script.record(c.RecordAction(iid, "ex-1", "rerun_dbt", "started", "ann"), 5)
    await script.record(c.RecordAction(iid, "ex-1", "rerun_dbt", "succeeded", "ann", "ok"), 8)
    await script.do(c.Mitigate(iid, "ann@example.com", notes="fresh data"), 20)
    await script.do(c.Resolve(iid, "ann@example.com", notes="done", resolution="fixed"), 40)
    return iid


async def test_postmortem_reports_mtta_mttr_and_every_step_in_order(script: Any, kit: Any) -> None:
    iid = await scripted_incident(script, kit)
    text = script.cli("postmortem", str(iid)).stdout
    assert re.search(r"\| MTTA \(time to acknowledge\) \| 3m00s \| 5m00s \| yes \|", text), text
    assert re.search(r"\| Time to mitigate \| 20m00s \| 30m00s \| yes \|", text), text
    assert re.search(r"\| MTTR \(time to resolve\) \| 40m00s \| 4h00m00s \| yes \|", text), text
    steps = [
        ("+0m00s", "opened as sev1: Data freshness violation for inbox.triage"),
        ("+0m30s", "notification sent via pagerduty"),
        ("+1m00s", "github issue linked: https://github.com/o/r/issues/7"),
        ("+3m00s", "acknowledged"),
        ("+5m00s", "action rerun_dbt started"),
        ("+8m00s", "action rerun_dbt succeeded"),
        ("+20m00s", "mitigated"),
        ("+40m00s", "resolved (fixed)"),
    ]
    rows = [line for line in text.splitlines() if re.match(r"\| \+\d", line)]
    assert len(rows) == len(steps), rows
    for row, (rel, what) in zip(rows, steps, strict=True):
        assert row.startswith(f"| {rel} |") and row.endswith(f"| {what} |"), (row, rel, what)
    assert "| rerun_dbt | started -> succeeded | succeeded: ok | ann |" in text
    assert "https://github.com/o/r/issues/7" in text.split("## Ticket")[1]
    assert "- Duration: 20m00s" in text
    for section in ("## Root cause", "## Prevention", "## Notifications and escalations"):
        assert section in text


async def test_postmortem_writes_the_draft_to_the_output_file(
    script: Any, kit: Any, tmp_path: Any
) -> None:
    iid = await scripted_incident(script, kit)
    out = tmp_path / "pm.md"
    script.cli("postmortem", str(iid), "--output", str(out))
    assert out.read_text().startswith(f"# Post-mortem: incident {iid}:")


async def test_state_as_of_returns_the_state_at_three_instants(script: Any, kit: Any) -> None:
    iid = await scripted_incident(script, kit)
    expected = {1: "open", 10: "acknowledged", 30: "mitigated", 45: "resolved"}
    for minutes, status in expected.items():
        instant = (kit.T0 + timedelta(minutes=minutes)).isoformat()
        state = json.loads(script.cli("state", str(iid), "--as-of", instant).stdout)
        assert state["status"] == status, (minutes, state)
    early = script.cli("state", str(iid), "--as-of", "2026-11-26T20:00:00Z", check=False)
    assert early.returncode == 1 and "did not exist yet" in early.stderr


async def test_unknown_incident_is_a_clear_error(script: Any) -> None:
    done = script.cli("timeline", "999", check=False)
    assert done.returncode == 1 and "incident 999 has no events" in done.stderr


async def test_timeline_lists_events_relative_to_the_opening(script: Any, kit: Any) -> None:
    iid = await scripted_incident(script, kit)
    text = script.cli("timeline", str(iid)).stdout
    assert text.index("+3m00s") < text.index("+40m00s")
    assert "acknowledged" in text and "resolved (fixed)" in text
