"""Pure rules: approval reasons, rate limit, circuit breaker, approvals that expire, estimates,
and params validation that keeps targets and shell syntax out of requests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playbooks import domain
from playbooks.errors import CircuitOpen, Conflict, RateLimited
from playbooks.registry import discover
from pydantic import ValidationError

NOW = datetime(2026, 11, 26, 21, 0, tzinfo=UTC)
REGISTRY = discover()
BUILTINS = (
    "rerun_eval",
    "rerun_dbt",
    "refresh_dbt_dependencies",
    "clear_cache",
    "refresh_synonyms",
    "rollback_planner",
    "adjust_canary_split",
)


def parse(action: str, params: dict[str, Any]) -> Any:
    found = REGISTRY.get(action)
    assert found is not None
    return found.parse(params)


def needs_approval(action: str, params: dict[str, Any]) -> bool:
    found = REGISTRY.get(action)
    assert found is not None
    return found.requires_approval(found.parse(params)) is not None


def test_every_builtin_is_registered_with_a_params_schema() -> None:
    for name in BUILTINS:
        action = REGISTRY.get(name)
        assert action is not None, name
        assert action.params_model.model_json_schema()["type"] == "object"


@pytest.mark.parametrize(
    ("action", "params", "expected"),
    [
        ("rerun_dbt", {"models": ["a"]}, False),
        ("rerun_dbt", {"models": ["a"], "full_refresh": True}, True),
        ("rollback_planner", {"from_version": "v2"}, False),
        ("rollback_planner", {"from_version": "v2", "immediate": True}, True),
        ("adjust_canary_split", {"target_percent": 10}, False),
        ("adjust_canary_split", {"target_percent": 10.5}, True),
        ("refresh_synonyms", {"index_name": "kb"}, False),
        ("refresh_synonyms", {"index_name": "kb", "reindex": True}, True),
        ("clear_cache", {}, False),
    ],
)
def test_approval_rules_from_the_reference(
    action: str, params: dict[str, Any], expected: bool
) -> None:
    assert needs_approval(action, params) is expected


def test_sev1_policy_adds_an_approval_reason_on_top_of_the_action_rule() -> None:
    assert domain.approval_reasons(None, "sev2", ["sev1"]) == []
    reasons = domain.approval_reasons("full_refresh", "sev1", ["sev1"])
    assert reasons[0] == "full_refresh" and "sev1" in reasons[1]


@pytest.mark.parametrize(
    ("action", "params"),
    [
        ("rerun_dbt", {"models": ["--vars"]}),
        ("rerun_dbt", {"models": ["a; rm -rf /"]}),
        ("rerun_dbt", {"models": []}),
        ("rerun_dbt", {"models": ["a"], "threads": 0}),
        ("clear_cache", {"index_name": "../_all"}),
        ("clear_cache", {"index_name": "emails/_doc"}),
        ("clear_cache", {"cache_types": ["everything"]}),
        ("refresh_synonyms", {"index_name": "http://evil"}),
        ("clear_cache", {"url": "http://elsewhere:9200"}),
        ("adjust_canary_split", {"target_percent": 101}),
        ("rerun_eval", {"agent": "$(id)"}),
    ],
)
def test_params_reject_flags_paths_urls_and_shell_syntax(
    action: str, params: dict[str, Any]
) -> None:
    with pytest.raises(ValidationError):
        parse(action, params)


def test_upstream_selects_with_a_plus_prefix() -> None:
    assert parse("rerun_dbt", {"models": ["a", "b"], "upstream": True}).selectors() == ["+a", "+b"]


def test_rate_limit_refuses_at_the_limit_with_a_clear_message() -> None:
    domain.check_rate("clear_cache", 7, 1, 2, timedelta(hours=1))
    with pytest.raises(RateLimited, match=r"already ran 2 time.*incident 7.*1 hour.*limit 2"):
        domain.check_rate("clear_cache", 7, 2, 2, timedelta(hours=1))


def test_breaker_opens_after_k_consecutive_failures_and_a_success_closes_it() -> None:
    b = domain.Breaker("rerun_dbt")
    b = b.after_failure("boom", 2)
    b.check()
    b = b.after_failure("boom again", 2)
    with pytest.raises(
        CircuitOpen, match=r"disabled after 2 consecutive failures.*boom again.*reset"
    ):
        b.check()
    assert not b.after_success().open
    assert (
        domain.Breaker("x").after_failure("e", 3).after_success().after_failure("e", 3).failures
        == 1
    )


def test_pending_approval_is_usable_only_before_it_expires() -> None:
    assert domain.check_approvable(domain.PENDING, NOW + timedelta(seconds=1), NOW) is True
    with pytest.raises(Conflict, match="expired"):
        domain.check_approvable(domain.PENDING, NOW, NOW)
    with pytest.raises(Conflict, match="expired"):
        domain.check_approvable(domain.EXPIRED, NOW + timedelta(hours=1), NOW)


def test_a_repeated_approval_is_a_no_op() -> None:
    for status in (domain.RUNNING, domain.SUCCEEDED, domain.FAILED):
        assert domain.check_approvable(status, NOW, NOW) is False


def test_rollback_needs_a_succeeded_execution_of_a_rollbackable_action() -> None:
    domain.check_rollback(domain.SUCCEEDED, True, "rollback_planner")
    with pytest.raises(Conflict, match="cannot be rolled back"):
        domain.check_rollback(domain.SUCCEEDED, False, "clear_cache")
    with pytest.raises(Conflict, match="only a succeeded"):
        domain.check_rollback(domain.FAILED, True, "rollback_planner")


def test_dbt_estimates_follow_the_reference() -> None:
    assert domain.dbt_estimate(2, False) == (240.0, 0.1)
    seconds, cost = domain.dbt_estimate(2, True)
    assert seconds == 600.0 and cost == pytest.approx(0.3)
    assert domain.human_duration(600) == "10 minutes"
    assert domain.human_duration(60) == "1 minute"
    assert domain.money(0.1) == "$0.10"


def test_a_custom_action_cannot_take_a_builtin_name() -> None:
    from playbooks import AbstractAction, NoParams, register_action
    from playbooks.registry import RegistryError

    class Impostor(AbstractAction[NoParams]):
        name = "rerun_dbt"

        async def dry_run(self, params: NoParams, ctx: Any) -> Any: ...

        async def execute(self, params: NoParams, ctx: Any) -> Any: ...

    with pytest.raises(RegistryError, match="'rerun_dbt' is taken"):
        register_action(Impostor)
