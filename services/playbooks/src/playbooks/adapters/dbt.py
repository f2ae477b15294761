"""The dbt CLI in the configured project: argv lists only, a timeout, output captured."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import ActionError
from ..settings import DbtTarget


@dataclass(frozen=True)
class CliResult:
    argv: list[str]
    returncode: int
    output: str
    duration_s: float


class DbtRunner:
    """Runs `dbt <command>` with --project-dir/--profiles-dir from settings (never from a request)."""

    def __init__(self, cfg: DbtTarget, output_limit: int = 8000):
        self.cfg = cfg
        self.output_limit = output_limit

    def project_dir(self) -> Path:
        project = self.cfg.project()
        if project is None or not (project / "dbt_project.yml").exists():
            raise ActionError(
                f"no dbt project configured (DBT_PROJECT_DIR / playbooks.dbt.project_dir"
                f" = {str(project) if project else 'unset'} has no dbt_project.yml)"
            )
        return project

    def argv(self, args: list[str]) -> list[str]:
        argv = [self.cfg.binary(), *args, "--project-dir", str(self.project_dir())]
        profiles = self.cfg.profiles()
        if profiles is not None:
            argv += ["--profiles-dir", str(profiles)]
        if self.cfg.target:
            argv += ["--target", self.cfg.target]
        return argv

    async def run(self, args: list[str], *, check: bool = True) -> CliResult:
        """Run one dbt command; ActionError on timeout, or on a non-zero exit when `check`."""
        argv = self.argv(args)
        started = time.monotonic()
        env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DBT_USE_COLORS": "false"}
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=str(self.project_dir()),
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        timeout = self.cfg.timeout.total_seconds()
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise ActionError(f"dbt {args[0]} timed out after {timeout:g}s") from None
        result = CliResult(
            argv,
            proc.returncode or 0,
            self._tail(out.decode(errors="replace")),
            time.monotonic() - started,
        )
        if check and result.returncode != 0:
            raise ActionError(f"dbt {args[0]} exited with {result.returncode}", _as_output(result))
        return result

    async def list_models(self, selectors: list[str]) -> list[str]:
        """`dbt ls --select ... --resource-type model` (read-only): the models that would run."""
        args = ["ls", "--resource-type", "model", "--output", "name", "--quiet"]
        if selectors:
            args += ["--select", *selectors]
        result = await self.run(args)
        return [line.strip() for line in result.output.splitlines() if _is_name(line.strip())]

    def _tail(self, text: str) -> str:
        return (
            text
            if len(text) <= self.output_limit
            else "...(truncated)\n" + text[-self.output_limit :]
        )


def _is_name(line: str) -> bool:
    return bool(line) and all(c.isalnum() or c in "_." for c in line)


def _as_output(result: CliResult) -> dict[str, object]:
    return {
        "argv": result.argv[:3],
        "returncode": result.returncode,
        "output": result.output,
        "duration_s": round(result.duration_s, 2),
    }


def as_output(result: CliResult) -> dict[str, object]:
    """The part of a CLI result kept in an execution's result."""
    return _as_output(result)
