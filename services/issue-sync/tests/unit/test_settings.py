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
