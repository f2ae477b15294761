"""rerun_eval, rollback_planner and adjust_canary_split: command events for the systems being
remediated (`commands.eval`, `commands.planner`), plus an optional deployment endpoint."""

from __future__ import annotations

from typing import Annotated, Any

from interventions_events import topics
from interventions_events.commands import (
    CanarySplitChangeRequested,
    EvalRerunRequested,
    PlannerRollbackRequested,
)
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ..domain import human_duration, money
from ..errors import ActionError
from ..registry import AbstractAction, ActionContext, Command, DryRun, Outcome, register_action

Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:+-]{0,199}$")]


class RerunEvalParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agent: Name | None = Field(default=None, description="default: the incident's agent")
    task_id: Name | None = None


class RollbackParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    from_version: Name | None = Field(default=None, description="default: the incident's version")
    to_version: Name | None = Field(default=None, description="default: the baseline version")
    immediate: bool = False


class CanarySplitParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: Name | None = Field(default=None, description="default: the incident's version")
    target_percent: float = Field(ge=0, le=100)
    gradual: bool = True


def _detail(ctx: ActionContext, *names: str) -> str | None:
    for name in names:
        value = ctx.incident.details.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def _topic(ctx: ActionContext, name: str) -> str:
    return topics.full(name, ctx.targets.topic_prefix)


async def _deploy(ctx: ActionContext, payload: dict[str, Any]) -> dict[str, Any]:
    if ctx.targets.deployment is None:
        return {}
    return await ctx.targets.deployment.request(payload)


@register_action
class RerunEval(AbstractAction[RerunEvalParams]):
    name = "rerun_eval"
    params_model = RerunEvalParams
    description = "Ask the eval runner to run the agent's eval again (EvalRerunRequested)"

    def agent(self, params: RerunEvalParams, ctx: ActionContext) -> str | None:
        return params.agent or _detail(ctx, "agent", "subject")

    def validate(self, params: RerunEvalParams, ctx: ActionContext) -> list[str]:
        return (
            []
            if self.agent(params, ctx)
            else ["params.agent is required: the incident names no agent"]
        )

    async def dry_run(self, params: RerunEvalParams, ctx: ActionContext) -> DryRun:
        agent = self.agent(params, ctx)
        task = f" task {params.task_id}" if params.task_id else ""
        return DryRun(
            True,
            human_duration(300),
            money(0.01),
            [
                f"Will publish EvalRerunRequested for {agent}{task} on {_topic(ctx, topics.COMMANDS_EVAL)}"
            ],
        )

    async def execute(self, params: RerunEvalParams, ctx: ActionContext) -> Outcome:
        agent = self.agent(params, ctx)
        assert agent is not None  # validate() ran first
        cmd = EvalRerunRequested(
            agent=agent, task_id=params.task_id, incident_id=ctx.incident.id, requested_by=ctx.actor
        )
        return Outcome({"agent": agent, "task_id": params.task_id}, [Command(cmd, agent)])


@register_action
class RollbackPlanner(AbstractAction[RollbackParams]):
    name = "rollback_planner"
    params_model = RollbackParams
    description = "Roll the planner canary back (100% -> 0%), stepwise over 15 min or immediately"
    approval_rule = "required when immediate is true"
    can_rollback = True

    def versions(self, params: RollbackParams, ctx: ActionContext) -> tuple[str | None, str | None]:
        return (
            params.from_version or _detail(ctx, "version"),
            params.to_version or _detail(ctx, "baseline_version"),
        )

    def requires_approval(self, params: RollbackParams) -> str | None:
        return "an immediate rollback moves all traffic at once" if params.immediate else None

    def validate(self, params: RollbackParams, ctx: ActionContext) -> list[str]:
        return [] if self.versions(params, ctx)[0] else ["params.from_version is required"]

    async def dry_run(self, params: RollbackParams, ctx: ActionContext) -> DryRun:
        src, dst = self.versions(params, ctx)
        how = "immediately" if params.immediate else "stepwise over 15 minutes"
        return DryRun(
            True,
            human_duration(60 if params.immediate else 900),
            money(0),
            [
                f"Will publish PlannerRollbackRequested on {_topic(ctx, topics.COMMANDS_PLANNER)}",
                f"Planner {src} traffic goes to 0% {how}; {dst or 'the baseline'} takes over",
            ],
        )

    async def execute(self, params: RollbackParams, ctx: ActionContext) -> Outcome:
        src, dst = self.versions(params, ctx)
        assert src is not None
        cmd = PlannerRollbackRequested(
            from_version=src,
            to_version=dst,
            immediate=params.immediate,
            incident_id=ctx.incident.id,
            requested_by=ctx.actor,
        )
        out = await _deploy(ctx, {"action": "rollback", **cmd.model_dump(mode="json")})
        return Outcome(
            {
                "from_version": src,
                "to_version": dst,
                "immediate": params.immediate,
                "previous_percent": ctx.incident.details.get("canary_percent"),
                **out,
            },
            [Command(cmd, src)],
        )

    async def rollback(
        self, params: RollbackParams, result: dict[str, Any], ctx: ActionContext
    ) -> Outcome:
        """Undo = redeploy the canary at its previous split, gradually."""
        return await _restore_split(ctx, result.get("from_version"), result.get("previous_percent"))


@register_action
class AdjustCanarySplit(AbstractAction[CanarySplitParams]):
    name = "adjust_canary_split"
    params_model = CanarySplitParams
    description = "Change the planner canary's traffic share (CanarySplitChangeRequested)"
    approval_rule = "required when target_percent is above 10"
    can_rollback = True

    def requires_approval(self, params: CanarySplitParams) -> str | None:
        if params.target_percent > 10:
            return f"a canary split above 10% ({params.target_percent:g}%) needs approval"
        return None

    def version(self, params: CanarySplitParams, ctx: ActionContext) -> str | None:
        return params.version or _detail(ctx, "version")

    def validate(self, params: CanarySplitParams, ctx: ActionContext) -> list[str]:
        return [] if self.version(params, ctx) else ["params.version is required"]

    async def dry_run(self, params: CanarySplitParams, ctx: ActionContext) -> DryRun:
        now = ctx.incident.details.get("canary_percent", "unknown")
        how = "gradually" if params.gradual else "at once"
        return DryRun(
            True,
            human_duration(900 if params.gradual else 60),
            money(0),
            [
                f"Will publish CanarySplitChangeRequested on {_topic(ctx, topics.COMMANDS_PLANNER)}",
                f"Canary {self.version(params, ctx)}: {now}% -> {params.target_percent:g}% {how}",
            ],
        )

    async def execute(self, params: CanarySplitParams, ctx: ActionContext) -> Outcome:
        version = self.version(params, ctx)
        assert version is not None
        cmd = CanarySplitChangeRequested(
            version=version,
            target_percent=params.target_percent,
            gradual=params.gradual,
            incident_id=ctx.incident.id,
            requested_by=ctx.actor,
        )
        out = await _deploy(ctx, {"action": "canary_split", **cmd.model_dump(mode="json")})
        return Outcome(
            {
                "version": version,
                "target_percent": params.target_percent,
                "previous_percent": ctx.incident.details.get("canary_percent"),
                **out,
            },
            [Command(cmd, version)],
        )

    async def rollback(
        self, params: CanarySplitParams, result: dict[str, Any], ctx: ActionContext
    ) -> Outcome:
        return await _restore_split(ctx, result.get("version"), result.get("previous_percent"))


async def _restore_split(ctx: ActionContext, version: Any, percent: Any) -> Outcome:
    if not isinstance(version, str) or not isinstance(percent, int | float):
        raise ActionError("the previous canary split is unknown; cannot undo automatically")
    cmd = CanarySplitChangeRequested(
        version=version,
        target_percent=float(percent),
        gradual=True,
        incident_id=ctx.incident.id,
        requested_by=ctx.actor,
    )
    out = await _deploy(ctx, {"action": "canary_split", **cmd.model_dump(mode="json")})
    return Outcome(
        {"version": version, "restored_percent": percent, **out}, [Command(cmd, version)]
    )
