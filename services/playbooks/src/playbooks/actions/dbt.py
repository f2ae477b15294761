"""rerun_dbt and refresh_dbt_dependencies: the dbt CLI in the configured project."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ..adapters.dbt import as_output
from ..domain import dbt_estimate, human_duration, money
from ..errors import ActionError
from ..registry import AbstractAction, ActionContext, DryRun, Outcome, register_action

# a dbt node name; never a flag, a path or shell syntax
ModelName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.]{0,199}$")]


class RerunDbtParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    models: list[ModelName] = Field(min_length=1, max_length=100)
    full_refresh: bool = False
    upstream: bool = False
    threads: int = Field(default=4, ge=1, le=32)

    def selectors(self) -> list[str]:
        return [f"+{m}" if self.upstream else m for m in self.models]


class RefreshDepsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    project_path: str | None = Field(
        default=None, description="must be the configured DBT_PROJECT_DIR if given"
    )


@register_action
class RerunDbt(AbstractAction[RerunDbtParams]):
    name = "rerun_dbt"
    params_model = RerunDbtParams
    description = "dbt run --select the given models (+upstream) in the configured dbt project"
    approval_rule = "required when full_refresh is true"

    def requires_approval(self, params: RerunDbtParams) -> str | None:
        return "full_refresh rebuilds the tables from scratch" if params.full_refresh else None

    async def dry_run(self, params: RerunDbtParams, ctx: ActionContext) -> DryRun:
        models = await ctx.targets.dbt.list_models(params.selectors())
        if not models:
            return DryRun(
                False,
                human_duration(0),
                money(0),
                [f"No dbt model matches {' '.join(params.selectors())}"],
            )
        seconds, cost = dbt_estimate(len(models), params.full_refresh)
        mode = "full refresh of" if params.full_refresh else "re-run"
        changes = [
            f"Will {mode} {len(models)} dbt model{'s' if len(models) != 1 else ''}: "
            + ", ".join(models[:20]),
            f"Estimated {human_duration(seconds)} execution time",
        ]
        return DryRun(True, human_duration(seconds), money(cost), changes)

    async def execute(self, params: RerunDbtParams, ctx: ActionContext) -> Outcome:
        args = ["run", "--select", *params.selectors(), "--threads", str(params.threads)]
        if params.full_refresh:
            args.append("--full-refresh")
        result = await ctx.targets.dbt.run(args)
        return Outcome({"models": params.models, **as_output(result)})


@register_action
class RefreshDbtDependencies(AbstractAction[RefreshDepsParams]):
    name = "refresh_dbt_dependencies"
    params_model = RefreshDepsParams
    description = "dbt deps, then dbt compile, in the configured dbt project"

    def validate(self, params: RefreshDepsParams, ctx: ActionContext) -> list[str]:
        configured = ctx.targets.dbt.cfg.project()
        if params.project_path and (configured is None or params.project_path != str(configured)):
            return [
                f"project_path must be the configured dbt project ({configured}); targets "
                "come from settings, not from requests"
            ]
        return []

    async def dry_run(self, params: RefreshDepsParams, ctx: ActionContext) -> DryRun:
        project = ctx.targets.dbt.project_dir()
        models = await ctx.targets.dbt.list_models([])
        has_packages = (project / "packages.yml").exists() or (
            project / "dependencies.yml"
        ).exists()
        changes = [
            f"Will run dbt deps in {project.name}"
            + ("" if has_packages else " (no packages.yml: nothing to install)"),
            f"Will run dbt compile for {len(models)} models (no tables are built)",
        ]
        return DryRun(True, human_duration(60 + 2 * len(models)), money(0), changes)

    async def execute(self, params: RefreshDepsParams, ctx: ActionContext) -> Outcome:
        deps = await ctx.targets.dbt.run(["deps"])
        try:
            compiled = await ctx.targets.dbt.run(["compile"])
        except ActionError as exc:
            raise ActionError(str(exc), {"deps": as_output(deps), "compile": exc.output}) from exc
        return Outcome({"deps": as_output(deps), "compile": as_output(compiled)})
