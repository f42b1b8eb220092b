"""Command actions: run a program; it must exit with the expected code."""

from __future__ import annotations

from harness.actions import ACTIONS, ActionResult
from harness.commands import run_command
from harness.provision.backend import Stack
from harness.provision.templates import TemplateContext
from harness.scenario.model import CommandAction

__all__: list[str] = []


@ACTIONS.register("command")
def _command(
    action: CommandAction, stack: Stack, context: TemplateContext, key: str
) -> ActionResult:
    outcome = run_command(
        action.command, action.env, context, timeout_s=action.timeout_s, where="action"
    )
    if outcome.error is not None:
        return ActionResult(False, outcome.error, errored=not outcome.started)
    ok = outcome.returncode == action.exit_code
    detail = f"{outcome.line} -> exit {outcome.returncode}"
    if not ok:
        detail += f" (expected {action.exit_code})"
    return ActionResult(ok, f"{detail}: {outcome.output[-500:]}")
