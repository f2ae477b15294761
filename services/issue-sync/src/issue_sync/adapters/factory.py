"""Build the tracker adapter for the configured provider."""

from __future__ import annotations

from ..settings import GitHubConfig, GitLabConfig, ProviderConfig
from .base import IssueTracker
from .github import GitHubTracker
from .gitlab import GitLabTracker
from .jira import JiraTracker


def build_tracker(cfg: ProviderConfig, *, timeout: float = 15.0) -> IssueTracker:
    if isinstance(cfg, GitHubConfig):
        return GitHubTracker(cfg, timeout=timeout)
    if isinstance(cfg, GitLabConfig):
        return GitLabTracker(cfg, timeout=timeout)
    return JiraTracker(cfg, timeout=timeout)
