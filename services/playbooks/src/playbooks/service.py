"""The playbooks use cases: dry-run, execute, approve, roll back, reset, expire. The only code
that touches the store (through `Repo`)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import asyncpg
from interventions_events import new_id, utcnow
from interventions_events.actions import (
    ActionApprovalExpired,
    ActionApprovalRequested,
    ActionApproved,
    ActionDryRunCompleted,
    ActionEvent,
    ActionExecutionRequested,
    ActionFailed,
    ActionRolledBack,
    ActionStarted,
    ActionSucceeded,
)
from interventions_platform.kafka import Publisher
from pydantic import BaseModel, ValidationError

from . import domain
from .domain import EXPIRED, FAILED, PENDING, ROLLED_BACK, RUNNING, SUCCEEDED
from .errors import ActionError, Conflict, Invalid, NotFound
from .registry import (
    AbstractAction,
    ActionContext,
    IncidentView,
    Outcome,
    Registry,
    call,
    params_error,
)
from .repo import Repo, Row
from .settings import Settings
from .targets import Targets
from .views import catalog_entry, describe, dry_run_failed, execution_view

log = logging.getLogger(__name__)
Prepared = tuple[AbstractAction[Any], BaseModel, IncidentView]


class PlaybookService:
    def __init__(
        self,
        *,
        db: Callable[[], asyncpg.Pool],
        pub: Callable[[], Publisher],
        schema: str,
        registry: Registry,
        settings: Settings,
        targets: Targets,
        clock: Callable[[], datetime] = utcnow,
    ):
        self._db, self._pub = db, pub
        self.repo = Repo(schema)
        self.registry = registry
        self.cfg = settings.playbooks
        self.ttl = settings.approval_ttl
        self.targets = targets
        self.clock = clock

    def _ctx(self, incident: IncidentView, actor: str, execution_id: str) -> ActionContext:
        return ActionContext(
            incident=incident, actor=actor, execution_id=execution_id, targets=self.targets
        )

    async def _prepare(
        self, incident_id: int, action_type: str, params: dict[str, Any], actor: str
    ) -> Prepared:
        action = self.registry.get(action_type)
        if action is None:
            raise Invalid(f"unknown action_type {action_type!r}; known: {self.registry.names()}")
        incident = await self.repo.incident(self._db(), incident_id)
        if incident is None:
            raise NotFound(f"incident {incident_id} is not known to the playbooks service")
        try:
            parsed = action.parse(params)
        except ValidationError as exc:
            raise Invalid(params_error(exc)) from None
        problems = action.validate(parsed, self._ctx(incident, actor, ""))
        if problems:
            raise Invalid("; ".join(problems))
        return action, parsed, incident

    def _event(self, cls: type[ActionEvent], row: Row, actor: str, **extra: Any) -> ActionEvent:
        return cls(
            execution_id=row["id"],
            incident_id=row["incident_id"],
            action_type=row["action_type"],
            params=row["params"],
            actor=actor,
            at=self.clock(),
            **extra,
        )

    async def dry_run(
        self, incident_id: int, action_type: str, params: dict[str, Any], actor: str
    ) -> dict[str, Any]:
        """Run the action's read-only dry-run and record it."""
        action, parsed, incident = await self._prepare(incident_id, action_type, params, actor)
        dry_id = "dry-" + new_id()
        try:
            result = await asyncio.wait_for(
                call(action.dry_run, parsed, self._ctx(incident, actor, dry_id)),
                self.cfg.execution_timeout.total_seconds(),
            )
        except (ActionError, TimeoutError) as exc:
            result = dry_run_failed(str(exc) or "dry-run timed out")
        reasons = domain.approval_reasons(
            action.requires_approval(parsed),
            incident.severity,
            self.cfg.approval_required_for_severities,
        )
        body = {
            "status": result.status(),
            "estimated_duration": result.estimated_duration,
            "estimated_cost": result.estimated_cost,
            "changes": result.changes,
        }
        row = {
            "id": dry_id,
            "incident_id": incident_id,
            "action_type": action_type,
            "params": parsed.model_dump(mode="json"),
        }
        event = self._event(
            ActionDryRunCompleted,
            row,
            actor,
            status=body["status"],
            estimated_duration=result.estimated_duration,
            estimated_cost=result.estimated_cost,
            changes=tuple(result.changes),
        )
        async with self._db().acquire() as conn, conn.transaction():
            await self.repo.emit(conn, self._pub(), [event])
        return {
            **body,
            "requires_approval": bool(reasons),
            "approval_reasons": reasons,
            "suggested": action_type in incident.playbooks,
        }

    async def execute(
        self,
        incident_id: int,
        action_type: str,
        params: dict[str, Any],
        *,
        actor: str,
        approved: bool,
        reason: str | None,
    ) -> tuple[int, dict[str, Any]]:
        """Request an execution: 202 pending approval, or run now and return the outcome."""
        action, parsed, incident = await self._prepare(incident_id, action_type, params, actor)
        if incident.status not in domain.ACTIVE_STATUSES:
            raise Conflict(f"incident {incident_id} is {incident.status}; reopen it before acting")
        reasons = domain.approval_reasons(
            action.requires_approval(parsed),
            incident.severity,
            self.cfg.approval_required_for_severities,
        )
        now = self.clock()
        row: Row = {
            "id": new_id(),
            "incident_id": incident_id,
            "action_type": action_type,
            "params": parsed.model_dump(mode="json"),
            "suggested": action_type in incident.playbooks,
            "needs_approval": bool(reasons),
            "approval_reasons": reasons,
            "requested_by": actor,
            "reason": reason,
            "requested_at": now,
        }
        requested = self._event(
            ActionExecutionRequested,
            row,
            actor,
            reason=reason,
            suggested=row["suggested"],
            needs_approval=bool(reasons),
            approval_reasons=tuple(reasons),
        )
        async with self._db().acquire() as conn, conn.transaction():
            await self.repo.lock_action(conn, action_type, incident_id)
            (await self.repo.breaker(conn, action_type)).check()
            if reasons and not approved:
                row.update(status=PENDING, expires_at=now + self.ttl)
                await self.repo.insert_execution(conn, row)
                asked = self._event(
                    ActionApprovalRequested,
                    row,
                    actor,
                    reason="; ".join(reasons),
                    expires_at=row["expires_at"],
                )
                await self.repo.emit(conn, self._pub(), [requested, asked])
                return 202, {
                    **execution_view(row),
                    "detail": "approval required: "
                    + "; ".join(reasons)
                    + "; an approver grants it with POST "
                    f"/api/playbooks/approvals/{row['id']}/approve before it expires",
                }
            await self._check_rate(conn, action_type, incident_id, now)
            row.update(status=RUNNING, started_at=now, approved_by=actor if reasons else None)
            await self.repo.insert_execution(conn, row)
            steps = [requested]
            if reasons:
                steps.append(
                    self._event(ActionApproved, row, actor, reason="approved_by the caller")
                )
            steps.append(self._event(ActionStarted, row, actor, reason=reason))
            await self.repo.emit(conn, self._pub(), steps)
        return 200, await self._run(action, parsed, row, self._ctx(incident, actor, row["id"]))

    async def _check_rate(
        self, conn: asyncpg.Connection, action_type: str, incident_id: int, now: datetime
    ) -> None:
        window = self.cfg.rate_limit.window
        recent = await self.repo.recent_runs(conn, action_type, incident_id, now - window)
        domain.check_rate(
            action_type, incident_id, recent, self.cfg.rate_limit.max_executions, window
        )

    async def _run(
        self, action: AbstractAction[Any], parsed: BaseModel, row: Row, ctx: ActionContext
    ) -> dict[str, Any]:
        started = time.monotonic()
        timeout = self.cfg.execution_timeout.total_seconds()
        try:
            outcome: Outcome = await asyncio.wait_for(call(action.execute, parsed, ctx), timeout)
        except Exception as exc:  # recorded as ActionFailed with the error, never swallowed
            return await self._failed(row, ctx.actor, exc, time.monotonic() - started)
        return await self._succeeded(row, ctx.actor, outcome, time.monotonic() - started)

    async def _succeeded(
        self, row: Row, actor: str, outcome: Outcome, secs: float
    ) -> dict[str, Any]:
        row.update(status=SUCCEEDED, finished_at=self.clock(), result=outcome.output)
        async with self._db().acquire() as conn, conn.transaction():
            await self.repo.update_execution(
                conn,
                row["id"],
                status=SUCCEEDED,
                finished_at=row["finished_at"],
                result=outcome.output,
            )
            breaker = await self.repo.breaker(conn, row["action_type"], lock=True)
            await self.repo.save_breaker(conn, breaker.after_success())
            done = self._event(
                ActionSucceeded,
                row,
                actor,
                result=outcome.output,
                duration_ms=round(secs * 1000, 1),
            )
            await self.repo.emit(conn, self._pub(), [done], outcome.commands)
        return execution_view(row)

    async def _failed(
        self, row: Row, actor: str, exc: BaseException, secs: float
    ) -> dict[str, Any]:
        error = describe(exc, self.cfg.execution_timeout.total_seconds())
        output = exc.output if isinstance(exc, ActionError) else {}
        if not isinstance(exc, ActionError):
            log.warning("action %s failed: %s", row["action_type"], error, exc_info=exc)
        row.update(status=FAILED, finished_at=self.clock(), result=output, error=error)
        async with self._db().acquire() as conn, conn.transaction():
            await self.repo.update_execution(
                conn,
                row["id"],
                status=FAILED,
                error=error,
                finished_at=row["finished_at"],
                result=output,
            )
            before = await self.repo.breaker(conn, row["action_type"], lock=True)
            after = before.after_failure(error, self.cfg.circuit_breaker.failure_threshold)
            await self.repo.save_breaker(conn, after)
            failed = self._event(
                ActionFailed,
                row,
                actor,
                error=error,
                result=output,
                duration_ms=round(secs * 1000, 1),
                circuit_opened=after.open and not before.open,
            )
            await self.repo.emit(conn, self._pub(), [failed])
        return execution_view(row)

    async def approve(self, execution_id: str, approver: str) -> dict[str, Any]:
        """Grant a pending approval and run it; a repeated approve returns the execution as is."""
        now = self.clock()
        async with self._db().acquire() as conn, conn.transaction():
            row = await self.repo.execution(conn, execution_id, lock=True)
            if row is None:
                raise NotFound(f"no execution {execution_id}")
            lapsed = row["status"] == PENDING and row["expires_at"] <= now
            if lapsed:  # committed before answering, so the expiry is never lost
                await self._expire(conn, row)
            elif not domain.check_approvable(row["status"], row["expires_at"], now):
                return {
                    **execution_view(row),
                    "detail": f"already approved by {row['approved_by']}",
                }
            else:
                prepared = await self._start_approved(conn, row, approver, now)
        if lapsed:
            domain.check_approvable(EXPIRED, None, now)
        action, parsed, incident = prepared
        return await self._run(action, parsed, row, self._ctx(incident, approver, execution_id))

    async def _start_approved(
        self, conn: asyncpg.Connection, row: Row, approver: str, now: datetime
    ) -> Prepared:
        prepared = await self._prepare(
            row["incident_id"], row["action_type"], row["params"], approver
        )
        await self.repo.lock_action(conn, row["action_type"], row["incident_id"])
        (await self.repo.breaker(conn, row["action_type"])).check()
        await self._check_rate(conn, row["action_type"], row["incident_id"], now)
        row.update(status=RUNNING, approved_by=approver, started_at=now)
        await self.repo.update_execution(
            conn, row["id"], status=RUNNING, approved_by=approver, started_at=now
        )
        await self.repo.emit(
            conn,
            self._pub(),
            [
                self._event(
                    ActionApproved, row, approver, reason="; ".join(row["approval_reasons"])
                ),
                self._event(ActionStarted, row, approver, reason=row["reason"]),
            ],
        )
        return prepared

    async def _expire(self, conn: asyncpg.Connection, row: Row) -> None:
        row["status"] = EXPIRED
        await self.repo.update_execution(conn, row["id"], status=EXPIRED, finished_at=self.clock())
        await self.repo.emit(
            conn,
            self._pub(),
            [
                self._event(
                    ActionApprovalExpired,
                    row,
                    "system",
                    reason=f"no approval within {domain.human_duration(self.ttl.total_seconds())}",
                )
            ],
        )

    async def expire_due(self) -> int:
        """Expire pending approvals past their TTL; fail runs a dead process left behind."""
        now = self.clock()
        async with self._db().acquire() as conn, conn.transaction():
            ids = await self.repo.due_ids(conn, now)
            for execution_id in ids:
                row = await self.repo.execution(conn, execution_id)
                assert row is not None
                await self._expire(conn, row)
        grace = self.cfg.execution_timeout * 2
        async with self._db().acquire() as conn, conn.transaction():
            for row in await self.repo.stale_running(conn, now - grace):
                await self.repo.update_execution(
                    conn,
                    row["id"],
                    status=FAILED,
                    finished_at=now,
                    error="interrupted: the service stopped mid-run",
                )
                await self.repo.emit(
                    conn,
                    self._pub(),
                    [
                        self._event(
                            ActionFailed,
                            row,
                            "system",
                            error="interrupted: the service stopped mid-run",
                        )
                    ],
                )
        return len(ids)

    async def expiry_loop(self) -> None:
        interval = self.cfg.expiry_check_interval.total_seconds()
        while True:
            try:
                expired = await self.expire_due()
                if expired:
                    log.info("expired %d pending approval(s)", expired)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("approval expiry sweep failed, retrying: %s", exc)
            await asyncio.sleep(interval)

    async def rollback(self, execution_id: str, actor: str, reason: str | None) -> dict[str, Any]:
        """Undo a succeeded execution when its action can roll back."""
        row = await self.repo.execution(self._db(), execution_id)
        if row is None:
            raise NotFound(f"no execution {execution_id}")
        action, parsed, incident = await self._prepare(
            row["incident_id"], row["action_type"], row["params"], actor
        )
        domain.check_rollback(row["status"], action.can_rollback, row["action_type"])
        ctx = self._ctx(incident, actor, execution_id)
        try:
            outcome = await call(action.rollback, parsed, row["result"], ctx)
        except ActionError as exc:
            raise Conflict(f"rollback failed: {exc}") from None
        async with self._db().acquire() as conn, conn.transaction():
            current = await self.repo.execution(conn, execution_id, lock=True)
            assert current is not None
            domain.check_rollback(current["status"], action.can_rollback, row["action_type"])
            await self.repo.update_execution(conn, execution_id, status=ROLLED_BACK)
            event = self._event(ActionRolledBack, row, actor, reason=reason, result=outcome.output)
            await self.repo.emit(conn, self._pub(), [event], outcome.commands)
        return {**execution_view({**row, "status": ROLLED_BACK}), "rollback": outcome.output}

    async def reset(self, action_type: str, admin: str) -> dict[str, Any]:
        if self.registry.get(action_type) is None:
            raise NotFound(f"unknown action {action_type!r}")
        async with self._db().acquire() as conn, conn.transaction():
            before = await self.repo.breaker(conn, action_type, lock=True)
            await self.repo.save_breaker(conn, before.after_success(), reset_by=admin)
        log.info("circuit breaker of %s reset by %s (was open=%s)", action_type, admin, before.open)
        return {
            "action_type": action_type,
            "circuit": "closed",
            "was_open": before.open,
            "reset_by": admin,
        }

    async def history(self, incident_id: int) -> dict[str, Any]:
        pool = self._db()
        return {
            "incident_id": incident_id,
            "executions": [
                execution_view(r) for r in await self.repo.executions(pool, incident_id)
            ],
            "events": await self.repo.log(pool, incident_id),
        }

    async def approvals(self) -> list[dict[str, Any]]:
        return [execution_view(r) for r in await self.repo.pending(self._db())]

    async def catalog(self) -> list[dict[str, Any]]:
        breakers = await self.repo.breakers(self._db())
        return [catalog_entry(a, breakers.get(a.name)) for a in self.registry]
