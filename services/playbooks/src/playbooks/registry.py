"""The action registry: `AbstractAction`, the `@register_action` decorator, and discovery of
custom actions through the `interventions.actions` entry-point group."""

from __future__ import annotations

import inspect
import logging
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, ClassVar, Generic, TypeVar

from interventions_events import Event
from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import ActionError
from .targets import Targets

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "interventions.actions"
P = TypeVar("P", bound=BaseModel)


class NoParams(BaseModel):
    """Params model of an action that takes none."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class IncidentView:
    """What the playbooks service knows about an incident (from its `incident` snapshots)."""

    id: int
    key: str
    kind: str
    severity: str
    status: str
    playbooks: tuple[str, ...]
    details: dict[str, Any]


@dataclass(frozen=True)
class ActionContext:
    """Everything an action may use: the incident, who acts, and the configured targets."""

    incident: IncidentView
    actor: str
    execution_id: str
    targets: Targets


@dataclass(frozen=True)
class DryRun:
    """The pinned dry-run answer: status, estimates and the changes it would make."""

    ok: bool
    estimated_duration: str
    estimated_cost: str
    changes: list[str]

    def status(self) -> str:
        return "dry_run_success" if self.ok else "dry_run_failed"


@dataclass(frozen=True)
class Command:
    """An outbound command event to publish (through the outbox) when the action succeeds."""

    event: Event
    key: str


@dataclass(frozen=True)
class Outcome:
    """What an execution (or rollback) did."""

    output: dict[str, Any] = field(default_factory=dict)
    commands: list[Command] = field(default_factory=list)


class AbstractAction(ABC, Generic[P]):
    """Base of every action. Subclasses set `name` and `params_model` and implement
    `dry_run` and `execute` (sync or async); `rollback` only when `can_rollback`."""

    name: ClassVar[str]
    params_model: type[P]
    description: ClassVar[str] = ""
    approval_rule: ClassVar[str] = "never required by the action itself"
    can_rollback: ClassVar[bool] = False

    def parse(self, params: Mapping[str, Any]) -> P:
        """Validate request params into the params model (raises pydantic ValidationError)."""
        return self.params_model.model_validate(dict(params))

    def requires_approval(self, params: P) -> str | None:
        """Why these params need approval, or None."""
        return None

    def validate(self, params: P, ctx: ActionContext) -> list[str]:
        """Problems that make the action impossible for this incident (empty: fine)."""
        return []

    @abstractmethod
    async def dry_run(self, params: P, ctx: ActionContext) -> DryRun: ...

    @abstractmethod
    async def execute(self, params: P, ctx: ActionContext) -> Outcome: ...

    async def rollback(self, params: P, result: dict[str, Any], ctx: ActionContext) -> Outcome:
        raise ActionError(f"{self.name} cannot be rolled back")


class RegistryError(RuntimeError):
    """A custom action could not be loaded or clashes with another."""


_DECORATED: dict[str, type[AbstractAction[Any]]] = {}


def register_action(cls: type[AbstractAction[Any]]) -> type[AbstractAction[Any]]:
    """Class decorator: make an action known to every registry built afterwards."""
    if not getattr(cls, "name", None):
        raise TypeError(f"{cls.__name__} needs a class attribute `name`")
    if not hasattr(cls, "params_model"):
        cls.params_model = NoParams
    known = _DECORATED.get(cls.name)
    if known is not None and known.__qualname__ != cls.__qualname__:
        raise RegistryError(
            f"action name {cls.name!r} is taken by {known.__module__}.{known.__qualname__}"
        )
    _DECORATED[cls.name] = cls
    return cls


class Registry:
    """The actions available in this process, by name."""

    def __init__(self, actions: Iterable[AbstractAction[Any]]):
        self._actions: dict[str, AbstractAction[Any]] = {}
        for action in actions:
            if action.name in self._actions:
                raise RegistryError(f"two actions are named {action.name!r}")
            self._actions[action.name] = action

    def get(self, name: str) -> AbstractAction[Any] | None:
        return self._actions.get(name)

    def names(self) -> list[str]:
        return sorted(self._actions)

    def __iter__(self) -> Any:
        return iter(self._actions[n] for n in self.names())


def discover(group: str = ENTRY_POINT_GROUP) -> Registry:
    """Built-ins, then every `interventions.actions` entry point (a class or a module whose
    import registers actions with the decorator)."""
    from . import actions  # noqa: F401  (importing registers the built-ins)

    for ep in entry_points(group=group):
        try:
            target = ep.load()
        except Exception as exc:
            raise RegistryError(
                f"entry point {ep.name!r} ({ep.value}) failed to load: {exc}"
            ) from exc
        if inspect.isclass(target) and issubclass(target, AbstractAction):
            register_action(target)
        log.info("loaded custom actions from entry point %s = %s", ep.name, ep.value)
    return Registry(cls() for cls in _DECORATED.values())


async def call(fn: Any, *args: Any) -> Any:
    """Call an action method that may be sync or async."""
    result = fn(*args)
    return await result if inspect.isawaitable(result) else result


def params_error(exc: ValidationError) -> str:
    """A readable 422 message from a params validation error."""
    parts = [
        f"params.{'.'.join(str(p) for p in e['loc']) or '?'}: {e['msg']}" for e in exc.errors()[:5]
    ]
    return "invalid params: " + "; ".join(parts)
