"""Settings: the guide's block as printed, env fallbacks, errors naming what is missing."""

from __future__ import annotations

import httpx
import pytest
from interventions_platform.config import ConfigError
from issue_sync.adapters.base import retry_after_seconds
from issue_sync.settings import GitHubConfig, GitLabConfig, JiraConfig, load

GUIDE = {
    "issue_provider": {
        "provider": "github",
        "config": {"token": "t0k", "owner": "leok974", "repo": "ApplyLens"},
    }
}


def test_the_guides_block_configures_github_with_the_default_api_url() -> None:
    cfg = load(GUIDE, env={})
    assert isinstance(cfg.provider, GitHubConfig)
    assert (cfg.provider.owner, cfg.provider.repo) == ("leok974", "ApplyLens")
    assert cfg.provider.api_url == "https://api.github.com"
    assert cfg.severities == {"sev1", "sev2", "sev3", "sev4"}
    assert "t0k" not in repr(cfg.provider)


def test_github_repository_env_fills_owner_and_repo() -> None:
    cfg = load(
        {"issue_provider": {"provider": "github"}},
        env={"GITHUB_TOKEN": "t", "GITHUB_REPOSITORY": "acme/ops", "GITHUB_API_URL": "http://gh/"},
    )
    assert isinstance(cfg.provider, GitHubConfig)
    assert (cfg.provider.owner, cfg.provider.repo, cfg.provider.api_url) == (
        "acme",
        "ops",
        "http://gh",
    )


def test_gitlab_and_jira_come_from_their_env_vars() -> None:
    gl = load(
        {"issue_provider": {"provider": "gitlab"}},
        env={"GITLAB_TOKEN": "t", "GITLAB_PROJECT_ID": "5"},
    ).provider
    jira = load(
        {"issue_provider": {"provider": "jira"}},
        env={
            "JIRA_URL": "https://x.atlassian.net",
            "JIRA_EMAIL": "a@b",
            "JIRA_API_TOKEN": "t",
            "JIRA_PROJECT_KEY": "OPS",
        },
    ).provider
    assert isinstance(gl, GitLabConfig) and gl.url == "https://gitlab.com"
    assert isinstance(jira, JiraConfig) and jira.close_transitions[0] == "Done"


def test_missing_credentials_name_the_missing_keys() -> None:
    with pytest.raises(ConfigError, match="jira needs url, email, api_token, project_key"):
        load({"issue_provider": {"provider": "jira"}}, env={})


def test_no_provider_means_sync_disabled_and_unknown_provider_is_an_error() -> None:
    assert load({}, env={}).provider is None
    with pytest.raises(ConfigError, match="github, gitlab or jira"):
        load({"issue_provider": {"provider": "trello"}}, env={})


def test_retry_after_reads_seconds_dates_and_rate_limit_reset() -> None:
    assert retry_after_seconds(httpx.Headers({"Retry-After": "7"})) == 7
    date = httpx.Headers({"Retry-After": "Thu, 01 Jan 2026 00:00:30 GMT"})
    assert retry_after_seconds(date, now=1767225600.0) == 30
    reset = httpx.Headers({"X-RateLimit-Reset": "1767225660"})
    assert retry_after_seconds(reset, now=1767225600.0) == 60


def test_pacing_defaults_per_provider_and_overrides() -> None:
    cfg = load({}, env={}).sync
    assert cfg.pacing("github") == (60.0, 15)  # 15 + 60 < GitHub's 80 per minute
    assert cfg.pacing("jira") == (60.0, 10) and cfg.pacing("gitlab") == (60.0, 10)
    tuned = load({"issue_sync": {"pacing_per_minute": 30, "pacing_burst": 5}}, env={}).sync.pacing(
        "github"
    )
    assert tuned == (30.0, 5)
    with pytest.raises(ConfigError):
        load({"issue_sync": {"pacing_per_minute": 0}}, env={})


def test_github_secondary_rate_limit_403_is_a_rate_limit_not_an_auth_error() -> None:
    from issue_sync.adapters.base import AuthError, RateLimited, raise_for

    secondary = httpx.Response(
        403,
        headers={"retry-after": "7"},
        json={"message": "You have exceeded a secondary rate limit. Please wait."},
    )
    with pytest.raises(RateLimited) as limited:
        raise_for(secondary, "create issue", auth_hint="x")
    assert limited.value.retry_after == 7
    no_header = httpx.Response(403, json={"message": "You have exceeded a secondary rate limit"})
    with pytest.raises(RateLimited) as limited:
        raise_for(no_header, "create issue", auth_hint="x")
    assert limited.value.retry_after == 60  # GitHub: wait at least a minute without a header
    with pytest.raises(AuthError):
        raise_for(
            httpx.Response(403, json={"message": "Resource not accessible"}), "x", auth_hint="x"
        )
