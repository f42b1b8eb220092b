"""Run a scenario's command (argv and env with ``${...}`` references) and capture what it said."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from harness.provision.templates import TemplateContext, resolve

__all__ = ["CommandOutcome", "last_words", "run_command"]


@dataclass(frozen=True)
class CommandOutcome:
    argv: list[str]
    returncode: int | None  # None: it could not start or did not finish
    output: str  # stdout then stderr, stripped
    error: str | None = None
    stdout: str = ""  # alone, for output that is parsed (JSON)
    #: False when the program could not be started at all (not installed, not executable)
    started: bool = True

    @property
    def line(self) -> str:
        return " ".join(self.argv)


def run_command(
    command: Sequence[str],
    env: Mapping[str, str],
    context: TemplateContext,
    *,
    timeout_s: float,
    where: str,
) -> CommandOutcome:
    """Resolve and run ``command``; never raises for the command's own failure."""
    argv = [resolve(a, context, where=f"{where}.command") for a in command]
    extra = {k: resolve(v, context, where=f"{where}.env.{k}") for k, v in env.items()}
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
            env={**os.environ, **extra},
        )
    except FileNotFoundError:
        return CommandOutcome(
            argv, None, "", f"{argv[0]!r} is not installed or not on PATH", started=False
        )
    except subprocess.TimeoutExpired:
        return CommandOutcome(argv, None, "", f"{' '.join(argv)} still ran after {timeout_s:g} s")
    except OSError as exc:
        return CommandOutcome(argv, None, "", f"{' '.join(argv)}: {exc}", started=False)
    return CommandOutcome(
        argv, done.returncode, (done.stdout + done.stderr).strip(), stdout=done.stdout
    )


def last_words(text: str) -> str:
    """The last line that says something (rich draws boxes around CLI errors)."""
    for raw in reversed(text.splitlines()):
        line = raw.strip(" │╭╮╰╯─|+-")
        if any(c.isalnum() for c in line):
            return line[:300]
    return "no output"
