"""Execute a runbook under a scenario's fault: run each step's commands as the on-call would,
judge them against the runbook's own expectations, and time the incident.

A :class:`DrillRunner` runs phases in order — ``diagnose`` (Symptoms and Diagnosis), ``resolve``
(Resolution, then wait for recovery), ``rollback`` — each when the scenario's timeline says. A
failed step is reported at its file and line: the command's line for a command that could not
run or exited wrongly, the step's fence for an expectation about its output. Diagnosis runs every
step (drift shows all at once); resolution stops at the first failure, as a person would.
Human steps are reported, never run.
"""

from __future__ import annotations

import json
import re
import shlex
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.clock import Clock
from harness.commands import CommandOutcome, last_words, run_command
from harness.errors import HarnessError
from harness.journal import (
    CheckRecord,
    RunbookCommandRecord,
    RunbookRecord,
    RunbookStepRecord,
)
from harness.provision.templates import TemplateContext, resolve
from harness.runbooks.model import Runbook, Section, Step

__all__ = ["PHASES", "DrillRunner", "excerpt", "expand_vars", "shell_words"]

#: ``$NAME`` or ``${NAME}`` in a runbook command: the drill's environment, as a reader's shell
_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
#: what only a shell understands; runbook commands run without one
_SHELL = {"|", "||", "&&", ";", ">", ">>", "<", "&", "2>&1"}


def expand_vars(word: str, env: Mapping[str, str]) -> str:
    """``$NAME`` and ``${NAME}`` replaced by the drill environment's values; other text (and
    a name the environment lacks) as it is."""

    def one(match: re.Match[str]) -> str:
        name = match[1] or match[2]
        return env.get(name, match[0])

    return _VAR.sub(one, word)


def shell_words(words: list[str]) -> str | None:
    """Why ``words`` need a shell (a pipe, a redirection, ``sh -c``), or None."""
    if words and Path(words[0]).name in {"sh", "bash", "dash", "zsh"} and "-c" in words:
        return f"{words[0]} -c runs a shell"
    found = [w for w in words if w in _SHELL]
    if found:
        return f"{' '.join(found)} needs a shell"
    return None


PHASES: dict[str, tuple[Section, ...]] = {
    "diagnose": (Section.SYMPTOMS, Section.DIAGNOSIS),
    "resolve": (Section.RESOLUTION,),
    "rollback": (Section.ROLLBACK,),
}

_EXCERPT_LINES = 20
_EXCERPT_CHARS = 2000


def excerpt(text: str) -> str:
    """The last lines of an output, short enough for a journal."""
    lines = text.strip().splitlines()
    kept = "\n".join(lines[-_EXCERPT_LINES:])
    if len(kept) > _EXCERPT_CHARS:
        kept = kept[-_EXCERPT_CHARS:]
    return ("…\n" if len(lines) > _EXCERPT_LINES or len(kept) < len(text.strip()) else "") + kept


@dataclass(frozen=True)
class _Judged:
    ok: bool
    why: str
    line: int  # where the failure points


class DrillRunner:
    """One runbook executed during one scenario run.

    Parameters:
        runbook: the parsed runbook.
        record: where results go (the scenario's journal entry holds it).
        env: the on-call's environment (resolved lazily with the context, ``${...}``).
        context: returns the scenario's current template context.
        recovered: samples the drill's recovery check: (ok, observed, why).
        detected: samples its detection check, from the incident's start (optional).
        time_scale: multiplies ``within`` and the recovery target.
        clock: waits and threads go through it (virtual in tests).
        now: the scenario's time (seconds since the scenario started).
        stop: set on Ctrl-C; steps not yet run are reported ``not run``.
    """

    def __init__(
        self,
        runbook: Runbook,
        record: RunbookRecord,
        *,
        env: Mapping[str, str],
        context: Callable[[], TemplateContext],
        recovered: Callable[[], tuple[bool, object, str]],
        recovered_name: str,
        detected: Callable[[], tuple[bool, object, str]] | None = None,
        interval_s: float,
        time_scale: float,
        clock: Clock,
        now: Callable[[], float],
        stop: threading.Event,
    ) -> None:
        self.runbook = runbook
        self.record = record
        self._env = dict(env)
        self._context = context
        self._recovered = recovered
        self._recovered_name = recovered_name
        self._detected = detected
        self._interval_s = interval_s
        self._scale = time_scale
        self._clock = clock
        self._now = now
        self._stop = stop
        self._failed_resolution = False
        for step in runbook.steps:
            record.steps.append(
                RunbookStepRecord(
                    step.id,
                    step.section.value,
                    _phase_of(step.section),
                    f"{runbook.path}:{step.line}",
                    step.kind,
                    step.expectation,
                    text=step.text,
                )
            )

    # -- phases ------------------------------------------------------------------------------

    def run_phase(self, phase: str) -> None:
        """Run one phase's steps; while ``resolve`` runs, and after it until the target, the
        recovered check is sampled: the incident is over at its first sample that holds."""
        sections = PHASES[phase]
        steps_done = self._clock.event()
        watcher = None
        if phase == "resolve":
            watcher = self._clock.spawn(
                lambda: self._watch_recovery(steps_done), "cg-runbook-recovery"
            )
        try:
            for step, step_record in zip(self.runbook.steps, self.record.steps, strict=True):
                if step.section not in sections:
                    continue
                if self._stop.is_set():
                    step_record.why = "not run: the run was interrupted"
                    continue
                if phase == "resolve" and self._failed_resolution:
                    step_record.why = "not run: an earlier resolution step failed"
                    continue
                self._run_step(step, step_record)
                if phase == "resolve" and step_record.verdict == "failed":
                    self._failed_resolution = True
        finally:
            steps_done.set()
            if watcher is not None:
                self._clock.join(watcher)

    @property
    def time_scale(self) -> float:
        return self._scale

    def mark_incident(self, at_s: float) -> None:
        """The incident starts: time to detect and to resolve run from here."""
        if self.record.incident_started_s is not None:
            return
        self.record.incident_started_s = at_s
        if self._detected is not None:
            self._clock.spawn(self._watch_detection, "cg-runbook-detection")

    def _watch_detection(self) -> None:
        assert self._detected is not None
        rec = self.record
        start = rec.incident_started_s if rec.incident_started_s is not None else self._now()
        while not self._stop.is_set():
            ok, _, _ = self._detected()
            if ok:
                rec.detected_at_s = round(self._now(), 3)
                rec.time_to_detect_s = round(rec.detected_at_s - start, 3)
                return
            self._wait(self._interval_s * self._scale)

    def _wait(self, seconds: float) -> bool:
        return self._clock.wait(self._stop, seconds)

    # -- one step at a time (game days) ------------------------------------------------------

    def step(self, step_id: str) -> Step:
        """The runbook's step ``step_id``, or a ``KeyError`` naming the known ids."""
        for step in self.runbook.steps:
            if step.id == step_id:
                return step
        known = ", ".join(s.id for s in self.runbook.steps)
        raise KeyError(f"no step {step_id!r} in {self.runbook.path} (steps: {known})")

    def step_record(self, step_id: str) -> RunbookStepRecord:
        self.step(step_id)
        return next(r for r in self.record.steps if r.id == step_id)

    def run_step(self, step_id: str) -> RunbookStepRecord:
        """Run one step now, judged as in a drill (``passed`` or ``failed`` at its line)."""
        rec = self.step_record(step_id)
        rec.attempts = 0
        self._run_step(self.step(step_id), rec)
        return rec

    def finish(self) -> None:
        """Decide the drill from its steps and its recovery (after every phase ran). A game
        day is decided by its recovery alone: people may skip steps, and the report says which.
        """
        rec = self.record
        if rec.mode == "gameday":
            self._finish_gameday()
            return
        failed = next((s for s in rec.steps if s.verdict == "failed"), None)
        missed = next(
            (s for s in rec.steps if s.verdict == "not run" and s.kind == "commands"), None
        )
        if failed is not None:
            rec.status, rec.why = "failed", failed.why
        elif rec.recovered_at_s is None:
            rec.status = "failed"
            rec.why = rec.why or f"{self.runbook.path}: the incident never recovered"
        elif rec.time_to_resolve_s is not None and rec.time_to_resolve_s > rec.target_s:
            rec.status = "failed"
            rec.why = (
                f"{self.runbook.path}: time to resolve {rec.time_to_resolve_s:.1f} s is over the "
                f"target {rec.target_s:.1f} s ({rec.target}, scaled)"
            )
        elif missed is not None:
            rec.status = "failed"
            rec.why = f"{missed.location}: step {missed.id} never ran ({missed.why or 'no phase'})"
        else:
            rec.status, rec.why = "passed", ""

    def _finish_gameday(self) -> None:
        rec = self.record
        if rec.recovered_at_s is None:
            rec.status = "failed"
            rec.why = f"{self.runbook.path}: the incident was not resolved ({rec.ended_by})"
        elif rec.time_to_resolve_s is not None and rec.time_to_resolve_s > rec.target_s:
            rec.status = "failed"
            rec.why = (
                f"{self.runbook.path}: time to resolve {rec.time_to_resolve_s:.1f} s is over the "
                f"target {rec.target_s:.1f} s ({rec.target}, scaled)"
            )
        else:
            rec.status, rec.why = "passed", ""

    # -- steps -------------------------------------------------------------------------------

    def _run_step(self, step: Step, rec: RunbookStepRecord) -> None:
        rec.started_s = round(self._now(), 3)
        if step.kind == "human":
            rec.verdict, rec.why = "human", "a person's step: reported, not run"
            return
        deadline = self._now() + (step.within_s or 0.0) * self._scale
        while True:
            rec.attempts += 1
            try:
                outcomes = self._run_commands(step)
            except HarnessError as exc:  # e.g. a ${...} in the environment that does not resolve
                rec.verdict = "failed"
                rec.why = f"{self.runbook.path}:{step.line}: step {step.id}: {exc}"
                return
            judged = self._judge(step, outcomes)
            rec.commands = [
                RunbookCommandRecord(
                    command, line, o.returncode, excerpt(o.output or o.error or ""), round(d, 3)
                )
                for (line, command), (o, d) in zip(step.commands, outcomes, strict=False)
            ]
            if judged.ok or self._now() >= deadline or self._stop.is_set():
                break
            self._wait(min(self._interval_s, max(0.0, deadline - self._now())))
        rec.duration_s = round(self._now() - rec.started_s, 3)
        if judged.ok:
            rec.verdict, rec.why = "passed", ""
            return
        rec.verdict = "failed"
        tries = f" (after {rec.attempts} tries in {rec.duration_s:g} s)" if rec.attempts > 1 else ""
        rec.why = f"{self.runbook.path}:{judged.line}: step {step.id}: {judged.why}{tries}"

    def _run_commands(self, step: Step) -> list[tuple[CommandOutcome, float]]:
        """Run the step's commands in order; stop at the first that exits unexpectedly."""
        done: list[tuple[CommandOutcome, float]] = []
        context = self._context()
        # The on-call's shell has the drill's environment: $NAME in a command is its value.
        env = {
            k: resolve(v, context, where=f"{self.runbook.path} env.{k}")
            for k, v in self._env.items()
        }
        for _line, command in step.commands:
            started = time.monotonic()
            outcome = run_command(
                [expand_vars(word, env) for word in shlex.split(command)],
                self._env,
                context,
                timeout_s=step.timeout_s,
                where=f"{self.runbook.path} step {step.id}",
            )
            done.append((outcome, time.monotonic() - started))
            if outcome.returncode != step.expect_exit:
                break
        return done

    @staticmethod
    def _judge(step: Step, outcomes: list[tuple[CommandOutcome, float]]) -> _Judged:
        for (line, command), (outcome, _) in zip(step.commands, outcomes, strict=False):
            if outcome.returncode is None:
                return _Judged(False, outcome.error or f"{command!r} did not finish", line)
            if outcome.returncode != step.expect_exit:
                return _Judged(
                    False,
                    f"{command!r} exited {outcome.returncode}, expected {step.expect_exit}: "
                    f"{last_words(outcome.output)}",
                    line,
                )
        last = outcomes[-1][0]
        at = step.line
        if step.expect_output is not None and not re.search(
            step.expect_output, last.output, re.MULTILINE
        ):
            return _Judged(
                False,
                f"expected output matching {step.expect_output!r}, got: {_short(last.output)}",
                at,
            )
        if step.expect_no_output is not None and (
            found := re.search(step.expect_no_output, last.output, re.MULTILINE)
        ):
            return _Judged(
                False,
                f"output matches {step.expect_no_output!r} ({found.group(0)!r}), expected not to",
                at,
            )
        if step.expect_count is not None:
            try:
                items = json.loads(last.stdout)
            except ValueError:
                return _Judged(False, f"expect-count needs JSON, got: {_short(last.output)}", at)
            if not isinstance(items, list):
                return _Judged(
                    False, f"expect-count needs a JSON list, got a {type(items).__name__}", at
                )
            if not step.expect_count.holds(len(items)):
                return _Judged(False, f"expected {step.expect_count} item(s), got {len(items)}", at)
        return _Judged(True, "", at)

    # -- recovery ----------------------------------------------------------------------------

    def sample_recovered(self) -> CheckRecord:
        """One sample of the recovered check, kept as the drill's latest (``recovery``)."""
        ok, observed, why = self._recovered()
        sample = CheckRecord(self._recovered_name, ok, observed, why, round(self._now(), 3))
        self.record.recovery = sample
        return sample

    def _watch_recovery(self, steps_done: threading.Event) -> None:
        """Sample the recovered check from the start of the resolution until it holds, the
        resolution fails, or its steps are done and the target has passed."""
        rec = self.record
        start = rec.incident_started_s if rec.incident_started_s is not None else self._now()
        deadline = start + rec.target_s
        while not self._stop.is_set():
            sample = self.sample_recovered()
            ok, why, now = sample.ok, sample.why, sample.at_s
            if ok:
                rec.recovered_at_s = round(now, 3)
                rec.time_to_resolve_s = round(now - start, 3)
                return
            if self._failed_resolution:
                return
            if steps_done.is_set() and now >= deadline:
                rec.why = (
                    f"{self.runbook.path}: not recovered within the target {rec.target_s:.1f} s "
                    f"({rec.target}, scaled) after the resolution steps: "
                    f"{self._recovered_name}: {why}"
                )
                return
            self._wait(self._interval_s * self._scale)


def _phase_of(section: Section) -> str:
    return next(phase for phase, sections in PHASES.items() if section in sections)


def _short(text: str) -> str:
    flat = " ".join(text.split())
    return (flat[:300] + "…") if len(flat) > 300 else (flat or "no output")
