"""Every adapter against its vendor stand-in over real HTTP: the port's operations, the
documented request formats, and vendor failures turned into our errors."""

from __future__ import annotations

import pytest
from issue_sync.adapters.base import AuthError, NewTicket, NotFound, RateLimited, Unavailable
from issue_sync.adapters.factory import build_tracker

from .conftest import Pair, config_for

BODY = """## SEV1 · Data freshness

| Check | Threshold | Actual |
|---|---|---|
| freshness | 300 | **1800** |

1. Acknowledge
2. Dry-run `rerun_dbt`

```sql
select 1
```

<!-- interventions:incident:7 -->
"""


def ticket(incident: int = 7) -> NewTicket:
    return NewTicket(
        title="[SEV1] Data freshness",
        body=BODY.replace(":7", f":{incident}"),
        marker=f"interventions:incident:{incident}",
        labels=("severity:sev1", "kind:invariant", "team:data-platform"),
    )


async def test_open_comment_close_reopen_follow_the_documented_api(pair: Pair) -> None:
    t = await pair.tracker.open(ticket())
    assert t.url.endswith(t.external_id)
    await pair.tracker.comment(t.external_id, "**Acknowledged** by ana")
    await pair.tracker.close(t.external_id, "completed")
    await pair.tracker.reopen(t.external_id)
    assert pair.history(t.external_id) == ["opened", "comment", "closed", "reopened"]


async def test_find_by_marker_finds_only_the_ticket_carrying_that_marker(pair: Pair) -> None:
    await pair.tracker.open(ticket(41))
    mine = await pair.tracker.open(ticket(4))
    assert await pair.tracker.find_by_marker("interventions:incident:4") == mine
    assert await pair.tracker.find_by_marker("interventions:incident:5") is None


async def test_429_becomes_rate_limited_with_the_retry_after_delay(pair: Pair) -> None:
    pair.standin.fail_next(1, 429, headers={"Retry-After": "1"})
    with pytest.raises(RateLimited) as err:
        await pair.tracker.open(ticket())
    assert err.value.retry_after == 1.0


async def test_5xx_and_refused_connections_are_unavailable(pair: Pair) -> None:
    pair.standin.fail_next(1, 503)
    with pytest.raises(Unavailable):
        await pair.tracker.open(ticket())
    pair.standin.stop()
    with pytest.raises(Unavailable, match="cannot reach"):
        await pair.tracker.open(ticket())


async def test_401_is_an_auth_error_that_says_check_token(pair: Pair) -> None:
    bad = build_tracker(config_for(pair.name, pair.standin, token="wrong"), timeout=5)
    with pytest.raises(AuthError, match="check token/permissions"):
        await bad.open(ticket())
    await bad.aclose()


async def test_comment_on_a_deleted_ticket_is_not_found(pair: Pair) -> None:
    missing = "OPS-999" if pair.name == "jira" else "999"
    with pytest.raises(NotFound):
        await pair.tracker.comment(missing, "hello")


async def test_verify_says_ok_for_good_settings(pair: Pair) -> None:
    assert (await pair.tracker.verify()).startswith("OK")


async def test_verify_names_an_unknown_repository_or_project(pair: Pair) -> None:
    other = build_tracker(
        config_for(pair.name, pair.standin, repo="nope", project="NOPE"), timeout=5
    )
    with pytest.raises(NotFound, match=r"unknown (repository|project)"):
        await other.verify()
    await other.aclose()
    pair.standin.violations.clear()  # the unknown GitHub repo path is not a route
