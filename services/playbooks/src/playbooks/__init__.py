"""Interventions playbooks service: action registry, dry-runs, approval-gated execution.

Custom actions: subclass `AbstractAction`, decorate with `@register_action`, and expose the
module (or class) in the `interventions.actions` entry-point group.
"""

from .errors import ActionError
from .registry import (
    AbstractAction,
    ActionContext,
    Command,
    DryRun,
    IncidentView,
    NoParams,
    Outcome,
    register_action,
)

__all__ = [
    "AbstractAction",
    "ActionContext",
    "ActionError",
    "Command",
    "DryRun",
    "IncidentView",
    "NoParams",
    "Outcome",
    "register_action",
]
