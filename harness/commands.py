"""Run a scenario's command (argv and env with ``${...}`` references) and capture what it said."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from harness.provision.reaper import Reaper
from harness.provision.templates import TemplateContext, resolve

__all__ = ["CommandOutcome", "last_words", "run_bounded", "run_command"]


def run_bounded(
    argv: Sequence[str], *, env: Mapping[str, str], timeout_s: float
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` to its end, or kill it *and everything it started* after ``timeout_s``.

    ``subprocess.run`` kills only the program on a timeout: its children keep running, and keep
    its pipes open, so reading them blocks. Here the program leads a process group of its own,
    which is killed whole; the harness's reaper watches the group meanwhile.

    Raises:
        subprocess.TimeoutExpired: after the group was killed (as it is when the harness is
            interrupted meanwhile: KeyboardInterrupt then goes on).
        OSError: the program could not be started (FileNotFoundError when it is not installed).
    """
    with subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        env=dict(env),
        start_new_session=True,
    ) as proc:
        reaper = Reaper.shared()
        reaper.watch(proc.pid)
        try:
            stdout, stderr = proc.communicate(timeout=timeout_s)
        except BaseException:
            # the timeout, or Ctrl-C / SIGTERM while it ran: the group has its own session, so
            # no signal reached it, and Popen would leave it running once the reaper forgot it
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
        finally:
            reaper.forget(proc.pid)
        return subprocess.CompletedProcess(list(argv), proc.returncode, stdout, stderr)


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
        done = run_bounded(argv, env={**os.environ, **extra}, timeout_s=timeout_s)
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
