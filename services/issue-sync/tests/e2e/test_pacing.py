"""A burst of incidents is paced under the tracker's content-creating limit: nothing is
refused, nothing is dropped, and the queued remainder survives a restart and drains."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import httpx
from interventions_events import incidents as inc
from interventions_testkit.oracles import Verdict, check_vendor_rate_limits, max_per_window
from interventions_testkit.standins.github import GitHubStandIn

from .harness import Bus, eventually, lifecycle, opened, service, settings_yaml

INCIDENTS = range(101, 116)  # 15 incidents x (create + comment) = 30 content-creating calls
WINDOW, LIMIT = 10.0, 20  # the stand-in refuses the 21st write within 10 s
PACING = "  pacing_per_minute: 60\n    pacing_burst: 5\n"  # at most 5 + 10 writes per 10 s


async def _pending(db: str) -> int:
    conn = await asyncpg.connect(db)
    try:
        return int(
            await conn.fetchval("SELECT count(*) FROM issue_sync.ops WHERE status = 'pending'")
        )
    finally:
        await conn.close()


async def test_a_burst_is_paced_under_the_limit_durably_and_in_order_per_incident(
    bus: Bus, tmp_path: Path, kafka_bootstrap: str, database_url: str, topic_prefix: str
) -> None:
    config = settings_yaml(tmp_path / "s.yaml", "github")
    config.write_text(config.read_text().replace("  auth_retry:", PACING + "    auth_retry:"))
    args = dict(bootstrap=kafka_bootstrap, db=database_url, prefix=topic_prefix)
    with GitHubStandIn(secondary_limit=LIMIT, secondary_window=WINDOW) as standin:
        first = service(config, "github", standin, **args).start()
        try:
            first.wait_ready()
            for i in INCIDENTS:
                await bus.publish(opened(i))
                await bus.publish(lifecycle(i, inc.IncidentAcknowledged, "acknowledged"))
            await eventually(lambda: len(standin.writes) >= 8, what="the first paced writes")
            async with httpx.AsyncClient(timeout=5) as http:
                metrics = (await http.get(f"{first.url}/metrics")).text
        finally:
            first.stop()
        queued = await _pending(database_url)
        assert queued > 0, "the remainder waits in the durable queue"
        assert len(standin.writes) + queued == 2 * len(INCIDENTS), "nothing was dropped"
        again = service(config, "github", standin, **args).start()
        try:
            again.wait_ready()
            await eventually(
                lambda: len(standin.writes) == 2 * len(INCIDENTS), 60, "the queue to drain"
            )
        finally:
            again.stop()
    assert await _pending(database_url) == 0
    v = Verdict()
    check_vendor_rate_limits(standin, v, window=WINDOW)
    assert v.problems == [] and standin.rate_limited == 0
    assert max_per_window(standin.writes, WINDOW) <= 5 + 10 + 1  # burst + refill (+ jitter)
    assert len(standin.issues) == len(INCIDENTS)
    assert all(issue.history == ["opened", "comment"] for issue in standin.issues.values())
    assert "interventions_issue_sync_paced_waits_total" in metrics
    paced = [
        line
        for line in metrics.splitlines()
        if line.startswith("interventions_issue_sync_paced_waits_total{")
    ]
    assert paced and float(paced[0].split()[-1]) > 0
