"""What-if replay of recorded detections through another policy, in memory. Pure: the
recorded decisions, the original incidents and a settings object in, the differences out.

Each DetectionDecided records the detection's kind and evidence, so every detection is
assessed from its own facts. Assumptions (printed by the command): a simulated incident stays
active until the key's next recorded resolution (people resolved the underlying problem
then); a decision recorded before kind and evidence were stored, whose detection opened no
incident (it was suppressed), borrows its key's evidence."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from incidents.decisions import Limits
from incidents.policy import Facts, PolicyConfig, assess

KINDS = {
    "InvariantViolated": "invariant",
    "BudgetExceeded": "budget",
    "PlannerRegressed": "planner",
    "PlatformAlertRaised": "platform",
}


@dataclass(frozen=True, slots=True)
class Recorded:
    """One stored DetectionDecided, as the original run decided it."""

    detection_id: str
    detection_type: str
    key: str
    subject: str
    hint: str | None
    at: datetime
    decision: str
    incident_id: int | None
    report: bool = True  # False for warm-up history before --from
    kind: str | None = None  # None on decisions recorded before these two were stored
    evidence: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Original:
    """What an original IncidentOpened said."""

    incident_id: int
    key: str
    kind: str
    severity: str
    owner_team: str
    playbooks: tuple[str, ...]
    summary: str


@dataclass(frozen=True, slots=True)
class Diff:
    detection_id: str
    key: str
    at: datetime
    original: str
    simulated: str
    incident_id: int | None
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)


@dataclass
class Outcome:
    diffs: list[Diff] = field(default_factory=list)
    not_opened: list[int] = field(default_factory=list)
    newly_opened: list[str] = field(default_factory=list)
    reassessed: list[Diff] = field(default_factory=list)
    new_incidents: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    borrowed_evidence: int = 0

    def to_json(self) -> dict[str, Any]:
        def diff(d: Diff) -> dict[str, Any]:
            return {
                "detection_id": d.detection_id,
                "key": d.key,
                "at": d.at.isoformat(),
                "original": d.original,
                "simulated": d.simulated,
                "incident_id": d.incident_id,
                "changes": {k: list(v) for k, v in d.changes.items()},
            }

        return {
            "would_not_have_opened": self.not_opened,
            "would_have_opened": self.newly_opened,
            "would_have_opened_as": self.new_incidents,
            "decision_changes": [diff(d) for d in self.diffs],
            "assessment_changes": [diff(d) for d in self.reassessed],
            "counts": self.counts,
            "borrowed_evidence": self.borrowed_evidence,
        }


@dataclass
class _Key:
    opened: list[datetime] = field(default_factory=list)
    active_until: datetime | None = None
    active: bool = False


@dataclass
class History:
    """The original run: incidents by id, evidence by detection id, resolutions by key."""

    originals: dict[int, Original]
    evidence: dict[str, dict[str, Any]]
    resolved: dict[str, list[datetime]]
    key_evidence: dict[str, dict[str, Any]] = field(default_factory=dict)


def simulate(
    recorded: list[Recorded], history: History, limits: Limits, policy: PolicyConfig
) -> Outcome:
    """Decide every recorded detection again under `limits` and `policy`."""
    out = Outcome(counts={"original": {}, "simulated": {}})
    keys: dict[str, _Key] = {}
    for r in recorded:
        if r.detection_type == "SignalRecovered":
            continue
        k = keys.setdefault(r.key, _Key())
        decision = _decide(k, r, history, limits)
        if not r.report:
            continue
        _count(out, "original", r.decision)
        _count(out, "simulated", decision)
        _compare(out, r, decision, history, policy)
    return out


def _decide(k: _Key, r: Recorded, history: History, limits: Limits) -> str:
    if k.active and (k.active_until is None or r.at < k.active_until):
        return "deduplicated"
    start = r.at - limits.window
    if sum(1 for t in k.opened if t > start) >= limits.max_per_window:
        k.active = False
        return "suppressed"
    k.opened.append(r.at)
    k.active = True
    times = history.resolved.get(r.key, [])
    i = bisect.bisect_left(times, r.at)
    k.active_until = times[i] if i < len(times) else None
    return "opened"


def _count(out: Outcome, which: str, decision: str) -> None:
    out.counts[which][decision] = out.counts[which].get(decision, 0) + 1


def _compare(
    out: Outcome, r: Recorded, decision: str, history: History, policy: PolicyConfig
) -> None:
    original = r.decision if r.decision != "ignored" else "suppressed"
    if original != decision:
        d = Diff(r.detection_id, r.key, r.at, r.decision, decision, r.incident_id)
        out.diffs.append(d)
        if r.decision == "opened" and r.incident_id is not None:
            out.not_opened.append(r.incident_id)
        if decision == "opened":
            out.newly_opened.append(r.detection_id)
            out.new_incidents.append(_new_incident(out, history, r, policy))
    if decision == "opened" and r.decision == "opened" and r.incident_id in history.originals:
        orig = history.originals[r.incident_id]
        kind = r.kind or orig.kind
        a = assess(Facts(kind, r.key, r.subject, r.hint, _evidence(out, history, r)), policy)
        changes = {
            name: (old, new)
            for name, old, new in (
                ("severity", orig.severity, a.severity),
                ("owner_team", orig.owner_team, a.owner_team),
                ("playbooks", list(orig.playbooks), list(a.playbooks)),
                ("summary", orig.summary, a.summary),
            )
            if old != new
        }
        if changes:
            out.reassessed.append(
                Diff(r.detection_id, r.key, r.at, "opened", "opened", r.incident_id, changes)
            )


def _new_incident(
    out: Outcome, history: History, r: Recorded, policy: PolicyConfig
) -> dict[str, Any]:
    """What an incident the original run never opened would have looked like."""
    kind = r.kind or KINDS.get(r.detection_type, "")
    a = assess(Facts(kind, r.key, r.subject, r.hint, _evidence(out, history, r)), policy)
    return {
        "detection_id": r.detection_id,
        "key": r.key,
        "at": r.at.isoformat(),
        "kind": kind,
        "severity": a.severity,
        "owner_team": a.owner_team,
        "playbooks": list(a.playbooks),
        "summary": a.summary,
    }


def _evidence(out: Outcome, history: History, r: Recorded) -> dict[str, Any]:
    """The evidence recorded with the decision; for older decisions the incident's, else the
    key's (same key = same check)."""
    if r.evidence is not None:
        return r.evidence
    found = history.evidence.get(r.detection_id)
    if found is not None:
        return found
    out.borrowed_evidence += 1
    return history.key_evidence.get(r.key, {})
