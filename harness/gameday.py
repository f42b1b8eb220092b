"""Game days: a scenario's incident run live, with people in the loop.

The harness provisions the stack, shows the steady state, injects the scenario's faults when the
facilitator says so (or on a schedule), and then does *not* resolve anything: responders follow
the runbook at the console — run a step's commands (judged like a drill's), mark steps done or
skipped, run any command through the console's shell — while the console shows live status and
watches the system. The incident is detected when the drill's ``detected`` check first holds,
resolved when its ``recovered`` check holds after it had failed. A maximum duration and an
``abort`` command roll everything back; so does Ctrl-C. The record is the drill's
(:class:`RunbookRecord`, ``mode: gameday``), in the same journal and report as automated runs.

:class:`GameDay` is the facilitator's console and the run's strategy
(:class:`~harness.run.RunStrategy`): the runner asks it before the method (the go), whether the
harness runs the runbook's phases (never: people do), and when the method is over (resolved,
aborted or out of time).
"""

from __future__ import annotations

import shlex
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
from rich.console import Console
from rich.table import Table
from rich.text import Text

from harness import httpclient
from harness.commands import run_command
from harness.errors import HarnessError
from harness.journal import CheckRecord, MetricSeries, RunbookCommandRecord
from harness.run.state import RunState
from harness.runbooks.verify import excerpt
from harness.scenario.model import RunbookDrill, Scenario

__all__ = ["GameDay", "GameDayAborted", "GameDayOptions", "gameday_scenario"]

HELP = """\
commands:
  steps                 the runbook's steps and their state
  run STEP              run the step's commands (judged against the runbook's expectations)
  done STEP [NOTE]      mark a step done (what a person did)
  skip STEP [WHY]       mark a step skipped
  exec COMMAND...       run any command with the runbook's environment (recorded)
  status                the live status now
  as NAME               who is at the keyboard (recorded with each mark and command)
  abort                 roll back now and end the game day
  help                  this list"""


class GameDayAborted(HarnessError):
    """The facilitator aborted (``abort``, end of input): everything was rolled back."""


@dataclass(frozen=True)
class GameDayOptions:
    """How a game day runs.

    Attributes:
        responder: who is at the keyboard first (``as NAME`` changes it).
        inject_after_s: inject the faults this long after the steady state, without asking;
            None: when the facilitator presses Enter.
        max_duration_s: from the fault on; then everything is rolled back.
        status_every_s: how often the live status is printed (also on every change).
    """

    responder: str
    inject_after_s: float | None = None
    max_duration_s: float = 3600.0
    status_every_s: float = 10.0


@dataclass
class _Watch:
    seen_failing: bool = False
    recovered: CheckRecord | None = None
    detected_shown: bool = False
    last_status: str = ""
    ended_by: str = ""


def gameday_scenario(scenario: Scenario, compress: float | None) -> Scenario:
    """The scenario as a game day runs it: its drill's target compressed by ``compress``
    (default 1, the real target: the scenario's own is for automated drills), and without its
    assertions — people follow the runbook; the automated timeline checks are not theirs.

    Raises:
        ValueError: the scenario drills no runbook.
    """
    drill = scenario.runbook
    if not isinstance(drill, RunbookDrill):
        raise ValueError(
            "a game day needs a scenario that drills a runbook (runbook: {path, recovered, "
            "...}); this one does not"
        )
    drill = drill.model_copy(update={"compress": compress if compress is not None else 1.0})
    return scenario.model_copy(update={"runbook": drill, "assertions": []})


@dataclass
class GameDay:
    """The facilitator's console for one scenario.

    Parameters:
        options: see :class:`GameDayOptions`.
        lines: the console's input, one command per line (stdin, or a test's script).
        console: where prompts and status go.
    """

    options: GameDayOptions
    lines: Iterator[str]
    console: Console
    _watch: _Watch = field(default_factory=_Watch)
    _stop: threading.Event = field(default_factory=threading.Event)
    _aborted: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _who: str = ""

    # -- the run's strategy ---------------------------------------------------------------

    #: people follow the runbook at the console; the harness runs none of its phases
    runs_runbook_phases = False

    def before_method(self, state: RunState) -> None:
        """Show the steady state; wait for the go (Enter, or the schedule)."""
        record = state.record
        table = Table("steady state", "ok", "observed", title="before the fault")
        for check in record.steady_state_before:
            table.add_row(check.name, "yes" if check.ok else "NO", str(check.observed))
        self.console.print(table)
        if self.options.inject_after_s is not None:
            self.console.print(
                f"the fault is injected in {self.options.inject_after_s:g} s (scheduled)"
            )
            time.sleep(self.options.inject_after_s)
            return
        self.console.print("Press Enter to inject the fault (or type abort).")
        line = self._read()
        if line is None or line.strip() == "abort":
            self._aborted = f"aborted by {self.options.responder} before the fault"
            raise GameDayAborted(self._aborted + "; nothing was injected, services stopped")

    def method_started(self, state: RunState) -> None:
        """The method has started: watch the system, print the status, take commands."""
        drill, spec = state.drill, state.scenario.runbook
        assert drill is not None  # made by the timeline for a drill
        assert isinstance(spec, RunbookDrill)  # gameday_scenario checked it
        self._drill, self._spec, self._state = drill, spec, state
        self._record, self._now = state.record, state.now
        self._began = state.now()
        self._who = self.options.responder
        drill.record.mode = "gameday"
        drill.record.responders = [self._who]
        self.console.print(
            f"fault injected at +{self._began:.1f} s — the incident is yours. "
            f"Runbook {drill.runbook.path} (target {drill.record.target_s:g} s). "
            "Type help for commands.",
            highlight=False,
        )
        self._print_steps()
        for target, name in (
            (self._watch_system, "cg-gameday-watch"),
            (self._commands, "cg-gameday-console"),
            (self._status_loop, "cg-gameday-status"),
        ):
            threading.Thread(target=target, name=name, daemon=True).start()

    def method_over(self, busy: bool) -> bool:
        """Whether the incident is over: resolved, aborted, or out of time (whatever the
        timeline still holds is then not injected)."""
        if self._aborted or self._drill.record.recovered_at_s is not None:
            return True
        if self._now() - self._began > self.options.max_duration_s:
            self._watch.ended_by = (
                f"the maximum duration {self.options.max_duration_s:g} s passed: rolled back"
            )
            return True
        return False

    def close(self) -> None:
        """Stop the console's threads (idempotent)."""
        self._stop.set()

    def method_ending(self) -> None:
        """The incident is over: stop the console's threads, record how it ended."""
        self.close()
        rec = self._drill.record
        if self._aborted:
            rec.ended_by = self._aborted
        elif rec.recovered_at_s is not None:
            rec.ended_by = "recovered"
        else:
            rec.ended_by = self._watch.ended_by or "ended"

    def method_ended(self) -> None:
        """After the drill is decided: print the summary; an abort raises
        :class:`GameDayAborted`, so the run reports it (exit 2) after rolling back."""
        self.console.print(self._summary(), highlight=False)
        if self._aborted:
            raise GameDayAborted(self._aborted + ": faults reverted, rollbacks run")

    # -- the console -------------------------------------------------------------------------

    def _read(self) -> str | None:
        try:
            return next(self.lines)
        except StopIteration:
            return None

    def _commands(self) -> None:
        while not self._stop.is_set():
            self.console.print("gameday> ", end="", highlight=False)
            line = self._read()
            if self._stop.is_set():
                return
            if line is None:  # end of input: nobody is at the console any more
                self._abort("the console's input ended")
                return
            try:
                self._command(line.strip())
            except Exception as exc:  # a typo must never end the game day
                self.console.print(f"error: {exc}", highlight=False)

    def _command(self, line: str) -> None:
        if not line:
            return
        word, _, rest = line.partition(" ")
        rest = rest.strip()
        who = self._who
        if word == "help":
            self.console.print(HELP, highlight=False)
        elif word == "steps":
            self._print_steps()
        elif word == "status":
            self._print_status(force=True)
        elif word == "as" and rest:
            self._who = rest
            if rest not in self._drill.record.responders:
                self._drill.record.responders.append(rest)
            self.console.print(f"now at the keyboard: {rest}", highlight=False)
        elif word == "abort":
            self._abort(f"aborted by {who}")
        elif word in ("run", "done", "skip") and rest:
            step_id, _, note = rest.partition(" ")
            self._mark(word, step_id, note.strip(), who)
        elif word == "exec" and rest:
            self._exec(rest, who)
        else:
            self.console.print(f"unknown command {line!r}; type help", highlight=False)

    def _abort(self, why: str) -> None:
        self._aborted = why
        self.console.print(Text(why, style="bold red"), ": rolling back", sep="", highlight=False)

    def _mark(self, verb: str, step_id: str, note: str, who: str) -> None:
        drill = self._drill
        step = drill.step(step_id)  # raises naming the known ids
        rec = drill.step_record(step_id)
        at = round(self._now(), 3)
        if verb == "run":
            if step.kind == "human":
                self.console.print(
                    f"step {step_id} is a person's step: mark it done or skip it",
                    highlight=False,
                )
                return
            drill.run_step(step_id)  # judged as in a drill: passed (done here) or failed
            if rec.verdict == "passed":
                rec.verdict = "done"
        else:
            rec.verdict = "done" if verb == "done" else "skipped"
            rec.started_s = at
            rec.why = note
        rec.marked_by, rec.marked_at_s = who, at
        shown = rec.why or ("ok" if rec.verdict == "done" else "")
        self.console.print(
            f"[+{at:.1f} s] {who}: {step_id} {rec.verdict}" + (f" — {shown}" if shown else ""),
            highlight=False,
        )
        for command in rec.commands:
            self.console.print(
                f"  $ {command.command}  (exit {command.exit_code})\n{command.output}",
                highlight=False,
            )

    def _exec(self, command: str, who: str) -> None:
        at = round(self._now(), 3)
        argv = shlex.split(command)
        started = time.monotonic()
        outcome = run_command(
            argv, self._spec.env, self._state.context(), timeout_s=120, where="gameday exec"
        )
        output = excerpt(outcome.output or outcome.error or "")
        record = RunbookCommandRecord(
            command,
            0,
            outcome.returncode,
            output,
            round(time.monotonic() - started, 3),
            by=who,
            at_s=at,
        )
        with self._lock:
            self._drill.record.commands.append(record)
        self.console.print(f"$ {command}  (exit {outcome.returncode})\n{output}", highlight=False)

    # -- watching ----------------------------------------------------------------------------

    def _watch_system(self) -> None:
        """Sample ``recovered`` until it holds after having failed: the incident is resolved.
        (The drill samples ``detected`` from the incident's start.)"""
        rec = self._drill.record
        interval = self._spec.interval_s * self._drill.time_scale
        while not self._stop.is_set():
            start = rec.incident_started_s if rec.incident_started_s is not None else self._began
            recovered = self._watch.recovered = self._drill.sample_recovered()
            if not recovered.ok:
                self._watch.seen_failing = True
            elif self._watch.seen_failing:
                rec.recovered_at_s = recovered.at_s
                rec.time_to_resolve_s = round(recovered.at_s - start, 3)
                self.console.print(
                    f"resolved at +{recovered.at_s:.1f} s: "
                    f"{recovered.name} (time to resolve {rec.time_to_resolve_s:g} s, "
                    f"target {rec.target_s:g} s)",
                    highlight=False,
                )
                return
            self._stop.wait(interval)

    def _status_loop(self) -> None:
        last = self._now()
        while not self._stop.wait(0.5):
            rec = self._drill.record
            if rec.detected_at_s is not None and not self._watch.detected_shown:
                self._watch.detected_shown = True
                self.console.print(
                    f"detected at +{rec.detected_at_s:.1f} s: "
                    f"{self._spec.detected.name if self._spec.detected else ''} "
                    f"(time to detect {rec.time_to_detect_s:g} s)",
                    highlight=False,
                )
            if self._now() - last >= self.options.status_every_s:
                last = self._now()
                self._print_status(force=False)

    def _status_lines(self) -> list[str]:
        now = self._now()
        rec = self._drill.record
        ends = self._began + self.options.max_duration_s
        lines = [f"+{now:.1f} s into the game day (rolled back at +{ends:.0f} s at the latest)"]
        for step in self._record.steps:
            if step.kind not in ("fault", "load"):
                continue
            state = f"active since +{step.started_s:.1f} s"
            if step.ended_s is not None:
                state = f"+{step.started_s:.1f} s to +{step.ended_s:.1f} s, over"
            lines.append(f"{step.kind}: {step.name} — {state}")
        if rec.detected_at_s is not None:
            lines.append(f"detected at +{rec.detected_at_s:.1f} s (TTD {rec.time_to_detect_s} s)")
        elif self._spec.detected is not None:
            lines.append(f"not detected yet ({self._spec.detected.name})")
        channels = self._alerts_by_channel()
        if channels:
            lines.append(
                "alerts sent: " + ", ".join(f"{c} {n}" for c, n in sorted(channels.items()))
            )
        metrics = [_latest(m) for m in self._record.metrics]
        if metrics:
            lines.append(" · ".join(m for m in metrics if m))
        counts: dict[str, int] = {}
        for marked in rec.steps:
            counts[marked.verdict] = counts.get(marked.verdict, 0) + 1
        lines.append("steps: " + ", ".join(f"{n} {v}" for v, n in sorted(counts.items())))
        if self._watch.recovered is not None:
            r = self._watch.recovered
            lines.append(
                f"recovered: {'yes' if rec.recovered_at_s else 'no'} — {r.name}: {r.observed}"
            )
        return lines

    def _print_status(self, *, force: bool) -> None:
        lines = self._status_lines()
        key = "\n".join(lines[1:])
        with self._lock:
            due = force or key != self._watch.last_status
            self._watch.last_status = key
        if due:
            self.console.print(
                Text("status", style="dim"), "\n       ".join(lines), highlight=False
            )

    def _alerts_by_channel(self) -> dict[str, int]:
        """Messages the notification capture services received, by channel."""
        found: dict[str, int] = {}
        for service in self._state.services.services.values():
            if service.kind != "notify-capture":
                continue
            try:
                answer = httpclient.request(
                    "GET", service.endpoint.url + "/_capture/messages", timeout=1
                ).json()
            except (httpx.HTTPError, ValueError):
                continue
            messages = answer.get("messages", []) if isinstance(answer, dict) else []
            for message in messages:
                channel = str(message.get("channel", "?")) if isinstance(message, dict) else "?"
                found[channel] = found.get(channel, 0) + 1
        return found

    def _print_steps(self) -> None:
        table = Table("step", "section", "state", "command / instruction", "expects")
        for step, rec in zip(self._drill.runbook.steps, self._drill.record.steps, strict=True):
            what = "\n".join(command for _, command in step.commands) or step.text
            table.add_row(step.id, step.section.value, rec.verdict, what, rec.expectation)
        self.console.print(table)

    def _summary(self) -> str:
        rec = self._drill.record
        done = [s.id for s in rec.steps if s.verdict in ("done", "passed")]
        skipped = [s.id for s in rec.steps if s.verdict == "skipped"]
        ttd = f"{rec.time_to_detect_s:g} s" if rec.time_to_detect_s is not None else "not detected"
        ttr = (
            f"{rec.time_to_resolve_s:g} s (target {rec.target_s:g} s)"
            if rec.time_to_resolve_s is not None
            else "not resolved"
        )
        return (
            f"game day over ({rec.ended_by}): time to detect {ttd}, time to resolve {ttr}; "
            f"steps done {done or 'none'}, skipped {skipped or 'none'}"
        )


def _latest(series: MetricSeries) -> str:
    if not series.points:
        return ""
    value = series.points[-1][1]
    shown = f"{value:g}" if isinstance(value, float) else str(value)
    return f"{series.name} {shown}{(' ' + series.unit) if series.unit else ''}"
