"""Command probes: an exit code, or a value a regex finds in the output."""

from __future__ import annotations

import re

from harness.commands import run_command
from harness.probes import PROBES, Observation
from harness.provision.backend import Stack
from harness.provision.templates import TemplateContext
from harness.scenario.model import CommandProbe

__all__: list[str] = []


@PROBES.register("command")
def _command(probe: CommandProbe, stack: Stack, context: TemplateContext) -> Observation:
    outcome = run_command(
        probe.command, probe.env, context, timeout_s=probe.timeout_s, where="probe"
    )
    if outcome.error is not None:
        return Observation(None, error=outcome.error)
    output = outcome.output
    detail = f"{outcome.line} -> exit {outcome.returncode}: {output[-300:]}"
    if probe.regex is None:
        return Observation(outcome.returncode, detail)
    match = re.search(probe.regex, output)
    if match is None:
        return Observation(None, detail, error=f"output does not match {probe.regex!r}")
    return Observation(match[1] if match.groups() else match[0], detail)
