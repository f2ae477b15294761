"""`interventions simulate`: recorded detections replayed through another policy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from incidents import commands as c

STORM_KEYS = ("inbox.triage", "knowledge.search", "warehouse.x")


async def record_storm(script: Any, kit: Any, suppressed: Any = None) -> dict[str, int]:
    """A storm under the default policy (3 per key per hour); returns incident ids by name.
    `suppressed`: the detection the rate limit suppresses (default: like the others)."""
    ids: dict[str, int] = {}

    async def detect(name: str, data: Any, minutes: float) -> None:
        await script.detect(data, minutes)
        ids[name] = await script.last_id()

    async def resolve(name: str, minutes: float) -> None:
        await script.do(c.Resolve(ids[name], "ann@example.com"), minutes)

    await detect("a1", kit.latency("inbox.triage"), 0)
    await detect("b1", kit.latency("knowledge.search"), 0)
    await detect("c1", kit.freshness(), 0)
    await detect("d1", kit.latency("warehouse.x"), 0)
    await script.detect(kit.latency("knowledge.search"), 1)  # deduplicated into b1
    await resolve("a1", 1)
    await resolve("d1", 1)
    await detect("a2", kit.latency("inbox.triage"), 2)
    await resolve("a2", 3)
    await detect("a3", kit.latency("inbox.triage"), 4)
    await resolve("a3", 5)
    await script.detect(suppressed or kit.latency("inbox.triage"), 6)  # suppressed: 3 an hour
    await resolve("b1", 10)
    await detect("b2", kit.latency("knowledge.search"), 30)
    await resolve("b2", 31)
    await detect("d2", kit.latency("warehouse.x"), 70)
    assert len(set(ids.values())) == len(ids)
    return ids


def settings(tmp_path: Path, incidents: str) -> str:
    path = tmp_path / "new.yaml"
    path.write_text(f"interventions:\n  incidents: {incidents}\n")
    return str(path)


async def test_a_limit_of_one_names_exactly_the_incidents_that_would_not_have_opened(
    script: Any, kit: Any, tmp_path: Path
) -> None:
    ids = await record_storm(script, kit)
    new = settings(tmp_path, "{max_incidents_per_window: 1, rate_limit_window: 1h}")
    args = ["simulate", "--settings", new, "--from", "2026-11-26T20:00:00Z"]
    done = script.cli(*args, "--to", "2026-11-26T23:00:00Z", "--format", "json")
    out = json.loads(done.stdout)
    assert out["would_not_have_opened"] == [ids["a2"], ids["a3"], ids["b2"]]
    assert out["would_have_opened"] == []
    assert out["counts"]["original"] == {"opened": 8, "deduplicated": 1, "suppressed": 1}
    assert out["counts"]["simulated"] == {"opened": 5, "deduplicated": 1, "suppressed": 4}
    assert out["assessment_changes"] == []
    table = script.cli(*args, "--to", "2026-11-26T23:00:00Z").stdout
    assert f"would not have opened: #{ids['a2']}, #{ids['a3']}, #{ids['b2']}" in table


async def test_a_looser_limit_reports_the_detection_that_would_have_opened(
    script: Any, kit: Any, tmp_path: Path
) -> None:
    await record_storm(script, kit)
    new = settings(tmp_path, "{max_incidents_per_window: 5}")
    done = script.cli(
        "simulate", "--settings", new, "--from", "2026-11-26T20:00:00Z", "--format", "json"
    )
    out = json.loads(done.stdout)
    assert out["would_not_have_opened"] == []
    assert len(out["would_have_opened"]) == 1
    change = out["decision_changes"][0]
    assert (change["key"], change["original"], change["simulated"]) == (
        "BUDGET_inbox.triage_latency_p95",
        "suppressed",
        "opened",
    )


async def test_a_severity_rule_change_lists_each_incident_whose_severity_would_differ(
    script: Any, kit: Any, tmp_path: Path
) -> None:
    ids = await record_storm(script, kit)
    new = settings(tmp_path, "{policy: {budget_severity: {latency_p95: sev1}}}")
    done = script.cli(
        "simulate", "--settings", new, "--from", "2026-11-26T20:00:00Z", "--format", "json"
    )
    out = json.loads(done.stdout)
    changed = {d["incident_id"]: d["changes"] for d in out["assessment_changes"]}
    latency = [ids[n] for n in ("a1", "b1", "d1", "a2", "a3", "b2", "d2")]
    assert sorted(changed) == sorted(latency)
    assert all(ch == {"severity": ["sev2", "sev1"]} for ch in changed.values())
    assert out["decision_changes"] == []


async def test_a_bad_settings_file_is_a_clear_error(script: Any, tmp_path: Path) -> None:
    new = settings(tmp_path, "{max_incidents_per_window: 0}")
    done = script.cli("simulate", "--settings", new, "--from", "1h", check=False)
    assert done.returncode == 2 and "max_incidents_per_window" in done.stderr


def slower(kit: Any) -> Any:
    """The suppressed detection, slower (2400 ms) than the ones that opened incidents."""
    data = kit.latency("inbox.triage")
    evidence = {**data.evidence, "violation": {**data.evidence["violation"], "actual": 2400}}
    return data.model_copy(update={"evidence": evidence})


async def test_a_suppressed_detection_that_would_have_opened_is_assessed_from_its_own_evidence(
    script: Any, kit: Any, tmp_path: Path
) -> None:
    await record_storm(script, kit, suppressed=slower(kit))
    new = settings(tmp_path, "{max_incidents_per_window: 5}")
    args = ["simulate", "--settings", new, "--from", "2026-11-26T20:00:00Z"]
    out = json.loads(script.cli(*args, "--format", "json").stdout)
    [opened] = out["would_have_opened_as"]
    assert (opened["key"], opened["kind"], opened["severity"]) == (
        "BUDGET_inbox.triage_latency_p95",
        "budget",
        "sev2",
    )
    assert opened["summary"] == "P95 latency 2400ms exceeds budget 1000ms"
    assert out["borrowed_evidence"] == 0
    assert "P95 latency 2400ms exceeds budget 1000ms" in script.cli(*args).stdout


async def test_decisions_recorded_without_kind_and_evidence_fall_back_to_the_keys_evidence(
    script: Any, kit: Any, tmp_path: Path
) -> None:
    ids = await record_storm(script, kit, suppressed=slower(kit))
    # decisions as stored before DetectionDecided carried kind and evidence
    await script.pool.execute(
        "UPDATE incidents.events SET data = (data::jsonb - 'kind' - 'evidence')::json "
        "WHERE type = 'DetectionDecided'"
    )
    loose = settings(tmp_path, "{max_incidents_per_window: 5}")
    out = json.loads(
        script.cli(
            "simulate", "--settings", loose, "--from", "2026-11-26T20:00:00Z", "--format", "json"
        ).stdout
    )
    [opened] = out["would_have_opened_as"]
    assert (opened["kind"], opened["summary"]) == (
        "budget",
        "P95 latency 1850ms exceeds budget 1000ms",  # borrowed from the key's incidents
    )
    assert out["borrowed_evidence"] == 1
    strict = settings(tmp_path, "{max_incidents_per_window: 1, rate_limit_window: 1h}")
    out = json.loads(
        script.cli(
            "simulate", "--settings", strict, "--from", "2026-11-26T20:00:00Z", "--format", "json"
        ).stdout
    )
    assert out["would_not_have_opened"] == [ids["a2"], ids["a3"], ids["b2"]]
