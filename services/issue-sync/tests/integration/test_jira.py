"""Jira specifics: ADF bodies that survive conversion, closing by transition name."""

from __future__ import annotations

from interventions_testkit.standins.jira import JiraStandIn, adf_problems
from issue_sync.adapters.base import NewTicket
from issue_sync.adapters.jira import JiraTracker
from issue_sync.settings import JiraConfig
from pydantic import SecretStr

from .test_trackers import ticket


def node_types(node: object) -> set[str]:
    if not isinstance(node, dict):
        return set()
    found = {str(node.get("type"))}
    for child in node.get("content", []):
        found |= node_types(child)
    return found


async def test_description_and_comments_are_valid_adf_with_tables_lists_and_code() -> None:
    with JiraStandIn() as standin:
        tracker = JiraTracker(_cfg(standin), timeout=5)
        t = await tracker.open(ticket())
        await tracker.comment(t.external_id, "**Resolved**\n\n- one\n- `two`\n\n> notes")
        await tracker.aclose()
        issue = standin.issues[t.external_id]
        assert standin.violations == []
        assert adf_problems(issue.description) == []
        assert adf_problems(issue.comments[0]) == []
        assert {"heading", "table", "tableHeader", "orderedList", "codeBlock"} <= node_types(
            issue.description
        )
        assert {"bulletList", "blockquote"} <= node_types(issue.comments[0])
        assert "interventions-incident-7" in issue.labels


def _cfg(standin: JiraStandIn) -> JiraConfig:
    return JiraConfig(
        url=standin.url,
        email="bot@example.com",
        api_token=SecretStr("jira-test"),
        project_key="OPS",
    )


async def test_close_uses_the_transition_whose_name_matches() -> None:
    with JiraStandIn() as standin:
        tracker = JiraTracker(_cfg(standin), timeout=5)
        t = await tracker.open(NewTicket(title="x", body="hi", marker="interventions:incident:1"))
        await tracker.close(t.external_id, "completed")
        posted = standin.calls_to("POST", r"/rest/api/3/issue/OPS-1/transitions")
        assert [c.json for c in posted] == [{"transition": {"id": "41"}}]
        assert standin.issues["OPS-1"].status == "Done"
        await tracker.close(t.external_id, "completed")  # already Done: no transition needed
        assert len(standin.calls_to("POST", r"/rest/api/3/issue/OPS-1/transitions")) == 1
        await tracker.aclose()
        assert standin.violations == []
