"""`interventions check issue-provider` as a real process: one line, exit code 0 or 1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from interventions_platform.embedded import free_port
from interventions_testkit.standins.github import GitHubStandIn
from interventions_testkit.standins.gitlab import GitLabStandIn
from interventions_testkit.standins.jira import JiraStandIn
from issue_sync.cli import app
from typer.testing import CliRunner

GITHUB = """interventions:
  issue_provider:
    provider: github
    config:
      token: ${GITHUB_TOKEN}
      owner: acme
      repo: REPO
"""


def run(config: Path, **env: str) -> tuple[int, str]:
    """In-process through typer (fast); the wiring test below runs the real command."""
    result = CliRunner().invoke(
        app, ["issue-provider", "--timeout", "3"], env={"INTERVENTIONS_CONFIG": str(config), **env}
    )
    return result.exit_code, result.output.strip()


def test_the_interventions_command_runs_the_check_as_a_process(
    github: GitHubStandIn, tmp_path: Path
) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "interventions_cli.main", "check", "issue-provider"],
        env={
            **os.environ,
            "INTERVENTIONS_CONFIG": str(github_config(tmp_path)),
            "GITHUB_TOKEN": "nope",
            "GITHUB_API_URL": github.url,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("bad token: GitHub answered HTTP 401")


@pytest.fixture(scope="module")
def github() -> GitHubStandIn:
    with GitHubStandIn() as standin:
        yield standin  # type: ignore[misc]


def github_config(tmp_path: Path, repo: str = "ops") -> Path:
    path = tmp_path / "settings.yaml"
    path.write_text(GITHUB.replace("REPO", repo))
    return path


def test_good_github_settings_print_ok_and_exit_0(github: GitHubStandIn, tmp_path: Path) -> None:
    code, out = run(github_config(tmp_path), GITHUB_TOKEN="ghp-test", GITHUB_API_URL=github.url)
    assert (code, out) == (0, "OK: GitHub repository acme/ops reachable and writable")


def test_bad_token_is_named_in_one_line(github: GitHubStandIn, tmp_path: Path) -> None:
    code, out = run(github_config(tmp_path), GITHUB_TOKEN="nope", GITHUB_API_URL=github.url)
    assert code == 1 and out.startswith("bad token") and "\n" not in out


def test_unknown_repository_is_named(github: GitHubStandIn, tmp_path: Path) -> None:
    code, out = run(
        github_config(tmp_path, "missing"), GITHUB_TOKEN="ghp-test", GITHUB_API_URL=github.url
    )
    assert code == 1 and out.startswith("unknown repository acme/missing")
    github.violations.clear()


def test_unreachable_url_is_named(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, out = run(github_config(tmp_path), GITHUB_TOKEN="ghp-test", GITHUB_API_URL=url)
    assert code == 1 and out.startswith("unreachable URL") and url in out


def test_missing_scope_is_named(tmp_path: Path) -> None:
    with GitHubStandIn(scopes="read:org") as standin:
        code, out = run(
            github_config(tmp_path), GITHUB_TOKEN="ghp-test", GITHUB_API_URL=standin.url
        )
    assert code == 1 and out.startswith("missing scope") and "'repo'" in out


def test_missing_settings_say_which_key(tmp_path: Path) -> None:
    code, out = run(github_config(tmp_path), GITHUB_TOKEN="")
    assert code == 1 and "github needs token" in out


def test_gitlab_reporter_access_is_required(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("interventions:\n  issue_provider:\n    provider: gitlab\n")
    with GitLabStandIn(access_level=10) as standin:
        env = dict(GITLAB_URL=standin.url, GITLAB_TOKEN="glpat-test", GITLAB_PROJECT_ID="77")
        code, out = run(path, **env)
        assert code == 1 and out.startswith("missing scope")
        standin.access_level = 30
        assert run(path, **env) == (0, "OK: GitLab project acme/ops reachable and writable")


def test_jira_unknown_project_and_missing_permission(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("interventions:\n  issue_provider:\n    provider: jira\n")
    with JiraStandIn(permissions=("CREATE_ISSUES", "ADD_COMMENTS")) as standin:
        env = dict(
            JIRA_URL=standin.url,
            JIRA_EMAIL="bot@example.com",
            JIRA_API_TOKEN="jira-test",
            JIRA_PROJECT_KEY="OPS",
        )
        code, out = run(path, **env)
        assert code == 1 and out.startswith("missing scope") and "TRANSITION_ISSUES" in out
        code, out = run(path, **{**env, "JIRA_PROJECT_KEY": "NOPE"})
        assert code == 1 and out.startswith("unknown project NOPE")
        code, out = run(path, **{**env, "JIRA_API_TOKEN": "bad"})
        assert code == 1 and out.startswith("bad token")
