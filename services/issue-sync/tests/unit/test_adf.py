"""Markdown -> ADF: every construct our templates use becomes a valid ADF node."""

from __future__ import annotations

from typing import Any

from interventions_testkit.standins.jira import adf_problems
from issue_sync.adapters.adf import to_adf


def first(md: str) -> dict[str, Any]:
    doc = to_adf(md)
    assert adf_problems(doc) == []
    node: dict[str, Any] = doc["content"][0]
    return node


def test_heading_keeps_its_level() -> None:
    assert first("### Runbook") == {
        "type": "heading",
        "attrs": {"level": 3},
        "content": [{"type": "text", "text": "Runbook"}],
    }


def test_inline_bold_code_and_links_become_marks() -> None:
    para = first("**Done** with `rerun_dbt`, see [console](http://c/1)")
    assert para["content"] == [
        {"type": "text", "text": "Done", "marks": [{"type": "strong"}]},
        {"type": "text", "text": " with "},
        {"type": "text", "text": "rerun_dbt", "marks": [{"type": "code"}]},
        {"type": "text", "text": ", see "},
        {
            "type": "text",
            "text": "console",
            "marks": [{"type": "link", "attrs": {"href": "http://c/1"}}],
        },
    ]


def test_code_inside_bold_keeps_only_the_code_mark() -> None:
    para = first("**`x`**")
    assert para["content"] == [{"type": "text", "text": "x", "marks": [{"type": "code"}]}]


def test_lists_nest_list_items_with_paragraphs() -> None:
    bullet = first("- a\n- b\n")
    ordered = first("3. c\n4. d\n")
    assert [i["content"][0]["type"] for i in bullet["content"]] == ["paragraph", "paragraph"]
    assert ordered["type"] == "orderedList" and ordered["attrs"] == {"order": 3}


def test_fenced_code_keeps_language_and_text() -> None:
    assert first("```sql\nselect 1\n```") == {
        "type": "codeBlock",
        "attrs": {"language": "sql"},
        "content": [{"type": "text", "text": "select 1"}],
    }


def test_tables_have_header_and_cell_paragraphs() -> None:
    table = first("| a | b |\n|---|---|\n| 1 | **2** |\n")
    assert [c["type"] for c in table["content"][0]["content"]] == ["tableHeader", "tableHeader"]
    cell = table["content"][1]["content"][1]
    assert cell == {
        "type": "tableCell",
        "content": [
            {
                "type": "paragraph",
                "content": [{"type": "text", "text": "2", "marks": [{"type": "strong"}]}],
            }
        ],
    }


def test_html_comments_are_dropped_and_empty_markdown_is_an_empty_doc() -> None:
    assert to_adf("<!-- interventions:incident:1 -->\n") == {
        "type": "doc",
        "version": 1,
        "content": [],
    }


def test_blockquote_rule_and_hard_break() -> None:
    doc = to_adf("> note  \nline two\n\n---\n")
    assert adf_problems(doc) == []
    assert [n["type"] for n in doc["content"]] == ["blockquote", "rule"]
    assert {"type": "hardBreak"} in doc["content"][0]["content"][0]["content"]
