"""Ticket text: every kind renders its evidence, playbooks, runbook and the hidden marker."""

from __future__ import annotations

from typing import Any

import pytest
from interventions_testkit.standins.jira import adf_problems
from issue_sync import content
from issue_sync.adapters.adf import to_adf

CONSOLE = "https://console.example"


def incident(kind: str, details: dict[str, Any], severity: str = "sev1") -> dict[str, Any]:
    return {
        "id": 42,
        "kind": kind,
        "key": "K",
        "severity": severity,
        "status": "open",
        "summary": "Something broke",
        "details": details,
        "playbooks": ["rerun_eval"],
        "owner_team": "data-platform",
        "created_at": "2026-11-26T21:00:00Z",
    }


CASES = {
    "invariant": (
        {
            "invariant": {
                "id": "data_freshness_inbox",
                "name": "Data freshness",
                "threshold": 300,
                "actual": 1800,
                "unit": "seconds",
            },
            "agent": "inbox.triage",
        },
        ["| Data freshness | 300 | **1800** | seconds |", "Check dbt run logs"],
    ),
    "budget": (
        {
            "violation": {"budget_type": "latency_p95", "threshold": 1000, "actual": 1850},
            "agent": "inbox.triage",
            "current_metrics": {"p95_latency_ms": 1850},
        },
        [
            "| latency_p95 | 1000 | **1850** |",
            "| `p95_latency_ms` | 1850 |",
            "clear the Elasticsearch query cache",
        ],
    ),
    "planner": (
        {
            "regression": {"metric": "accuracy", "baseline": 0.92, "current": 0.79, "drop": 0.13},
            "version": "v1.2.3-canary",
        },
        ["| accuracy | 0.92 | **0.79** | 0.13 |", "**Do not** execute a rerun"],
    ),
    "gate": (
        {
            "gate": "nightly",
            "source": "gate",
            "violations": [
                {"budget_type": "quality", "threshold": 90, "actual": 82, "severity": "critical"}
            ],
        },
        ["Gate `nightly` failed", "| quality | 90 | **82** | critical |"],
    ),
    "mystery": ({"anything": 1}, ['"anything": 1']),
}


@pytest.mark.parametrize("kind", list(CASES))
def test_each_kind_renders_its_evidence_and_the_shared_sections(kind: str) -> None:
    details, expected = CASES[kind]
    body = content.ticket_body(
        incident("budget" if kind == "gate" else kind, details),
        marker="interventions:incident:42",
        console=CONSOLE,
    )
    for text in expected:
        assert text in body, text
    assert (
        f"[dry-run and run it from the console]({CONSOLE}/incidents/42?playbook=rerun_eval)" in body
    )
    assert "acknowledge within 5 minutes" in body and "post-mortem" in body
    assert body.rstrip().endswith("<!-- interventions:incident:42 -->")
    assert adf_problems(to_adf(body)) == []


def test_sev3_gets_its_own_sla_and_no_post_mortem() -> None:
    body = content.ticket_body(
        incident("invariant", {}, severity="sev3"), marker="m", console=CONSOLE
    )
    assert "acknowledge within 1 hour" in body and "post-mortem" not in body


def test_title_carries_the_severity() -> None:
    assert content.ticket_title(incident("budget", {})) == "[SEV1] Something broke"


def test_comment_for_a_resolution_names_it_and_links_the_console() -> None:
    text = content.comment_body(
        "IncidentResolved",
        {
            "incident_id": 42,
            "by": "ana",
            "at": "t",
            "resolution": "false_positive",
            "notes": "noise",
        },
        console=CONSOLE,
    )
    assert "**Resolved** (false positive) by ana" in text and "> noise" in text
    assert f"({CONSOLE}/incidents/42)" in text
