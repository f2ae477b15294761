"""Issue-sync settings: the guide's `issue_provider` block, the provider env vars, tuning."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from interventions_platform.config import ConfigError, IssueProviderSection, section
from interventions_platform.durations import Duration, parse_duration
from pydantic import BaseModel, ConfigDict, Field, SecretStr

# Test-only hook (see docs/issue-sync.md): exit right after a tracker create returns.
CRASH_AFTER_CREATE_ENV = "INTERVENTIONS_TEST_CRASH_AFTER_CREATE"


# Per provider (tokens per minute, burst); any 60 s carry at most burst + per_minute writes.
# GitHub documents a secondary limit of 80 content-creating requests per minute (and 500 per
# hour): 60 + 15 = 75, a margin for clocks and a window edge. GitLab.com and Jira Cloud publish no fixed per-minute number for
# issue writes, so they get a conservative 60/min.
PACING_DEFAULTS: dict[str, tuple[float, int]] = {
    "github": (60.0, 15),
    "gitlab": (60.0, 10),
    "jira": (60.0, 10),
}


class SyncSection(BaseModel):
    """`interventions.issue_sync`: worker pacing and back-off."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    poll_interval: Duration = parse_duration("2s")
    retry_initial: Duration = parse_duration("2s")
    retry_max: Duration = parse_duration("5m")
    auth_retry: Duration = parse_duration("15m")
    request_timeout: Duration = parse_duration("15s")
    max_rate_limit_wait: Duration = parse_duration("1h")
    # Proactive pacing of content-creating tracker calls (create, comment, close, reopen),
    # shared by all replicas; unset = the provider's default in PACING_DEFAULTS.
    pacing_per_minute: float | None = Field(default=None, gt=0)
    pacing_burst: int | None = Field(default=None, ge=1)
    # Kafka group session: shorter means faster failover and a faster first join (the
    # embedded Tansu broker holds a new group's first join for about half of it).
    session_timeout: Duration = parse_duration("15s")

    def pacing(self, provider: str) -> tuple[float, int]:
        """(tokens per minute, burst) for `provider`."""
        rate, burst = PACING_DEFAULTS.get(provider, (60.0, 10))
        return (self.pacing_per_minute or rate, self.pacing_burst or burst)

    def subscriber_overrides(self) -> dict[str, int]:
        """Session and heartbeat settings for the FastStream subscriber."""
        session_ms = max(int(self.session_timeout.total_seconds() * 1000), 1000)
        return {
            "session_timeout_ms": session_ms,
            "heartbeat_interval_ms": max(session_ms // 5, 100),
        }


@dataclass(frozen=True, slots=True)
class GitHubConfig:
    api_url: str
    token: SecretStr
    owner: str
    repo: str


@dataclass(frozen=True, slots=True)
class GitLabConfig:
    url: str
    token: SecretStr
    project_id: str


@dataclass(frozen=True, slots=True)
class JiraConfig:
    url: str
    email: str
    api_token: SecretStr
    project_key: str
    issue_type: str = "Task"
    close_transitions: tuple[str, ...] = ("Done", "Closed", "Resolved")
    reopen_transitions: tuple[str, ...] = ("Reopen", "Reopened", "To Do", "Open", "In Progress")


ProviderConfig = GitHubConfig | GitLabConfig | JiraConfig


@dataclass(frozen=True, slots=True)
class IssueSyncSettings:
    provider: ProviderConfig | None
    severities: frozenset[str]
    sync: SyncSection
    console_url: str


def load(raw: Mapping[str, Any], env: Mapping[str, str] | None = None) -> IssueSyncSettings:
    """Build settings from the parsed `interventions:` block and the environment."""
    env = os.environ if env is None else env
    block = section(IssueProviderSection, dict(raw), "issue_provider")
    provider = _provider(block.provider or "", block.config, env)
    return IssueSyncSettings(
        provider=provider,
        severities=frozenset(block.severities),
        sync=section(SyncSection, dict(raw), "issue_sync"),
        console_url=env.get("INTERVENTIONS_CONSOLE_URL", "http://127.0.0.1:8000").rstrip("/"),
    )


def _provider(name: str, cfg: Mapping[str, Any], env: Mapping[str, str]) -> ProviderConfig | None:
    if name == "github":
        return _github(cfg, env)
    if name == "gitlab":
        return _gitlab(cfg, env)
    if name == "jira":
        return _jira(cfg, env)
    return None


def _pick(
    cfg: Mapping[str, Any],
    key: str,
    env: Mapping[str, str],
    var: str | None = None,
    default: str = "",
) -> str:
    value = cfg.get(key)
    if value in (None, ""):
        value = env.get(var, default) if var else default
    return str(value).strip()


def _need(provider: str, **values: str) -> None:
    missing = [k for k, v in values.items() if not v]
    if missing:
        raise ConfigError(
            f"settings.yaml: interventions.issue_provider.config: {provider} needs "
            f"{', '.join(missing)} (in config or the matching environment variable)"
        )


def _github(cfg: Mapping[str, Any], env: Mapping[str, str]) -> GitHubConfig:
    owner, repo = _pick(cfg, "owner", env), _pick(cfg, "repo", env)
    if not (owner and repo) and "/" in env.get("GITHUB_REPOSITORY", ""):
        owner, repo = env["GITHUB_REPOSITORY"].strip().split("/", 1)
    token = _pick(cfg, "token", env, "GITHUB_TOKEN")
    url = _pick(cfg, "api_url", env, "GITHUB_API_URL", "https://api.github.com")
    _need("github", token=token, owner=owner, repo=repo)
    return GitHubConfig(api_url=url.rstrip("/"), token=SecretStr(token), owner=owner, repo=repo)


def _gitlab(cfg: Mapping[str, Any], env: Mapping[str, str]) -> GitLabConfig:
    token = _pick(cfg, "token", env, "GITLAB_TOKEN")
    project = _pick(cfg, "project_id", env, "GITLAB_PROJECT_ID")
    url = _pick(cfg, "url", env, "GITLAB_URL", "https://gitlab.com")
    _need("gitlab", token=token, project_id=project)
    return GitLabConfig(url=url.rstrip("/"), token=SecretStr(token), project_id=project)


def _jira(cfg: Mapping[str, Any], env: Mapping[str, str]) -> JiraConfig:
    url = _pick(cfg, "url", env, "JIRA_URL")
    email = _pick(cfg, "email", env, "JIRA_EMAIL")
    token = _pick(cfg, "api_token", env, "JIRA_API_TOKEN") or _pick(cfg, "token", env)
    key = _pick(cfg, "project_key", env, "JIRA_PROJECT_KEY")
    _need("jira", url=url, email=email, api_token=token, project_key=key)
    extra: dict[str, Any] = {}
    if cfg.get("issue_type"):
        extra["issue_type"] = str(cfg["issue_type"])
    if cfg.get("close_transitions"):
        extra["close_transitions"] = tuple(str(x) for x in cfg["close_transitions"])
    return JiraConfig(
        url=url.rstrip("/"), email=email, api_token=SecretStr(token), project_key=key, **extra
    )
