"""Command actions: run a program; it must exit with the expected code."""

from __future__ import annotations

import time

from harness.actions import ACTIONS, ActionResult
from harness.commands import run_command
from harness.history import key_of
from harness.provision.backend import Stack
from harness.provision.templates import TemplateContext
from harness.scenario.model import CommandAction

__all__: list[str] = []


@ACTIONS.register("command")
def _command(
    action: CommandAction, stack: Stack, context: TemplateContext, key: str
) -> ActionResult:
    invoked = time.time()
    outcome = run_command(
        action.command, action.env, context, timeout_s=action.timeout_s, where="action"
    )
    if outcome.error is not None:
        return ActionResult(False, outcome.error, errored=not outcome.started)
    ok = outcome.returncode == action.exit_code
    detail = f"{outcome.line} -> exit {outcome.returncode}"
    if not ok:
        detail += f" (expected {action.exit_code})"
    history = []
    if action.key is not None:  # an operation the invariants judge
        history.append(
            {
                "op": "command",
                "key": key_of(action.key, text=outcome.output),
                "result": "ok" if ok else "info",  # a wrong exit may or may not have written
                "status": outcome.returncode,
                "invoke_at": invoked,
                "complete_at": time.time(),
                "detail": detail[:200],
            }
        )
    return ActionResult(ok, f"{detail}: {outcome.output[-500:]}", history=history)
