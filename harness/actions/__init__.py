"""Actions: what a scenario does to the system besides faults (set-up, the method, rollbacks).

Each action ``type`` is a module of this package that registers an implementation in
:data:`ACTIONS`: ``command.py``, ``http.py``, ``sql.py``, ``webhooks.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.provision.backend import Stack
from harness.provision.templates import TemplateContext, resolve
from harness.registry import Registry
from harness.scenario.model import Action

__all__ = ["ACTIONS", "ActionKind", "ActionResult", "resolve_json", "run_action"]


@dataclass(frozen=True)
class ActionResult:
    """What an action did. ``ok``: the system answered as the action expects; not ok and
    ``errored``: the harness could not do it (a program missing, a signer that is not a fake
    provider); not ok otherwise: the system's answer was wrong (the scenario fails)."""

    ok: bool
    detail: str
    captured: dict[str, str] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    errored: bool = False


def resolve_json(value: object, context: TemplateContext, where: str) -> object:
    if isinstance(value, str):
        return resolve(value, context, where=where)
    if isinstance(value, list):
        return [resolve_json(v, context, where) for v in value]
    if isinstance(value, dict):
        return {k: resolve_json(v, context, f"{where}.{k}") for k, v in value.items()}
    return value


class ActionKind(Protocol):
    """Runs one action ``type``; ``key`` names it for seeded choices."""

    def __call__(
        self, action: Any, stack: Stack, context: TemplateContext, key: str, /
    ) -> ActionResult: ...


#: every action type, by its YAML ``type``
ACTIONS: Registry[ActionKind] = Registry("action", __name__)


def run_action(
    action: Action,
    stack: Stack,
    context: TemplateContext,
    *,
    key: str = "action",
    kinds: Registry[ActionKind] = ACTIONS,
) -> ActionResult:
    """Run one action; ``key`` names it for seeded choices (the same key and seed, the same
    event ids and order)."""
    return kinds.get_kind(action.type)(action, stack, context, key)
