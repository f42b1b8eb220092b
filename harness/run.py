"""Run one scenario: provision → set up → steady state → method (faults, actions, assertions
sampled on one timeline) → steady state → revert faults → rollbacks → tear down.

Every step lands in the :class:`~harness.journal.ScenarioRecord`. Reverting faults, rollbacks
and teardown always run: after a failed assertion, an error, or Ctrl-C. A scenario *fails* when
the system misbehaves (an assertion or the steady state after the method does not hold, or a
fault never took hold); it *errors* when the harness could not run it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from harness.actions import run_action
from harness.errors import HarnessError, RunbookInvalid
from harness.faults import ActiveFault, apply_fault
from harness.invariants import check_invariant, describe
from harness.journal import (
    SERIES_CAP,
    AssertionRecord,
    CheckRecord,
    MetricSeries,
    RunbookRecord,
    ScenarioRecord,
    Status,
    StepRecord,
)
from harness.load import start_load
from harness.probes import judge, observe
from harness.provision.backend import Provisioner, Stack
from harness.provision.templates import TemplateContext
from harness.runbooks.model import Runbook
from harness.runbooks.parser import parse_runbook
from harness.runbooks.verify import DrillRunner
from harness.scenario.loader import LoadedScenario
from harness.scenario.model import Action, Assertion, Check, Metric, RunbookDrill, Scenario, Step

if TYPE_CHECKING:
    from harness.gameday import GameDay

__all__ = ["ScenarioInterrupted", "ScenarioRunner"]

log = logging.getLogger(__name__)

_POLL_S = 0.1  # how often the timeline looks at its assertion threads while nothing is due


@dataclass
class _AssertionState:
    spec: Assertion
    record: AssertionRecord
    next_at: float
    start: float
    end: float
    done: bool = False


@dataclass
class _Clocked:
    clock: Callable[[], float]
    sleep: Callable[[float], None]
    origin: float = field(default=0.0)

    def now(self) -> float:
        return self.clock() - self.origin


class ScenarioRunner:
    """Runs scenarios with one provisioner, seed and time scale.

    Parameters:
        provisioner: the backend.
        seed: the run's seed (``${run.seed}``; recorded).
        time_scale: multiplies every time of the method and assertions.
        clock, sleep: injectable for tests.
        on_event: called with a one-line description of each step (progress display).
        gameday: run the scenario as a game day: the fault waits for the facilitator, the
            runbook is followed by people at its console, the method lasts until recovery.
    """

    def __init__(
        self,
        provisioner: Provisioner,
        *,
        seed: int,
        time_scale: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        on_event: Callable[[str], None] = lambda _msg: None,
        gameday: GameDay | None = None,
    ) -> None:
        if time_scale <= 0:
            raise ValueError(f"time_scale={time_scale!r}: must be positive")
        self._provisioner = provisioner
        self._seed = seed
        self._scale = time_scale
        self._time = _Clocked(clock, sleep)
        self._event = on_event
        self._gameday = gameday

    def run(self, loaded: LoadedScenario, run_dir: Path) -> ScenarioRecord:
        scenario = loaded.scenario
        record = ScenarioRecord(
            scenario.id,
            scenario.title,
            str(loaded.path),
            scenario.runbook_path,
            started_at=time.time(),
        )
        self._time.origin = self._time.clock()
        stack: Stack | None = None
        interrupted = False
        faults: list[tuple[StepRecord, ActiveFault]] = []
        variables: dict[str, str] = {}
        try:
            runbook = self._runbook(scenario.runbook, record)
            self._backend_can(scenario)
            self._event(f"{scenario.id}: provisioning {len(scenario.services)} service(s)")
            stack = self._provisioner.start(scenario, run_dir)
            record.services = {n: str(s.log_path) for n, s in stack.services.items()}
            for i, action in enumerate(scenario.setup):
                step = self._action(f"setup {i + 1}", "setup", action, stack, run_dir, variables)
                record.steps.append(step)
                if step.status != "ok":
                    raise _Abort("errored", f"set-up action {i + 1} failed: {step.detail}")
            record.steady_state_before = self._checks(
                scenario.steady_state, stack, run_dir, variables
            )
            if not all(c.ok for c in record.steady_state_before):
                bad = next(c for c in record.steady_state_before if not c.ok)
                raise _Abort(
                    "errored", f"steady state not met before the method: {bad.name}: {bad.why}"
                )
            if self._gameday is not None:
                self._gameday.confirm(record)
            self._method(scenario, runbook, stack, run_dir, variables, record, faults)
            self._revert(faults, record)
            record.steady_state_after = self._checks(
                scenario.steady_state, stack, run_dir, variables
            )
            context = self._context(stack, run_dir, variables)
            for invariant in scenario.invariants:
                self._event(f"invariant: {invariant.name}")
                record.invariants.append(
                    check_invariant(
                        invariant,
                        record.steps,
                        stack,
                        context,
                        time_scale=self._scale,
                        clock=self._time.clock,
                        sleep=self._time.sleep,
                    )
                )
            record.status, record.reason = self._verdict(record)
        except _Abort as abort:
            record.status, record.reason = abort.status, abort.reason
        except KeyboardInterrupt:
            record.status, record.reason = "errored", "interrupted (Ctrl-C); rolled back"
            interrupted = True
        except HarnessError as exc:
            record.status, record.reason = "errored", str(exc)
        except Exception as exc:  # a bug in the harness must still roll back and tear down
            log.exception("scenario %s: unexpected error", scenario.id)
            record.status, record.reason = "errored", f"{type(exc).__name__}: {exc}"
        finally:
            self._revert(faults, record)
            if stack is not None:
                for i, action in enumerate(scenario.rollbacks):
                    record.rollbacks.append(
                        self._action(
                            f"rollback {i + 1}", "rollback", action, stack, run_dir, variables
                        )
                    )
                record.teardown_problems = self._provisioner.stop(stack)
                # Logs may move at teardown (PostgreSQL's is copied out of its data directory).
                record.services = {n: str(s.log_path) for n, s in stack.services.items()}
            record.duration_s = round(time.time() - record.started_at, 3)
            self._event(
                f"{scenario.id}: {record.status}" + (f" — {record.reason}" if record.reason else "")
            )
        if interrupted:
            raise ScenarioInterrupted(record)
        return record

    # -- pieces ------------------------------------------------------------------------------

    def _backend_can(self, scenario: Scenario) -> None:
        """Refuse, before anything starts, a fault this backend cannot apply."""
        unsupported: frozenset[str] = getattr(self._provisioner, "unsupported_faults", frozenset())
        for i, step in enumerate(scenario.method):
            if step.fault is not None and step.fault.type in unsupported:
                backend = getattr(self._provisioner, "name", "this")
                raise _Abort(
                    "errored",
                    f"method.{i} ({step.name}): fault {step.fault.type!r} cannot be applied by "
                    f"the {backend} backend; run the scenario with --env docker",
                )

    def _context(self, stack: Stack, run_dir: Path, variables: dict[str, str]) -> TemplateContext:
        return TemplateContext(
            {n: s.endpoint for n, s in stack.services.items()},
            stack.proxies,
            str(run_dir),
            self._seed,
            self._scale,
            dict(variables),
        )

    def _action(
        self,
        name: str,
        kind: str,
        action: Action,
        stack: Stack,
        run_dir: Path,
        variables: dict[str, str],
    ) -> StepRecord:
        step = StepRecord(name, kind, self._time.now())
        try:
            result = run_action(action, stack, self._context(stack, run_dir, variables), key=name)
        except HarnessError as exc:
            step.status, step.detail = "errored", str(exc)
        else:
            variables.update(result.captured)
            step.status = "ok" if result.ok else "failed"
            step.detail = result.detail
            step.history = result.history
        step.ended_s = self._time.now()
        return step

    def _checks(
        self, checks: list[Check], stack: Stack, run_dir: Path, variables: dict[str, str]
    ) -> list[CheckRecord]:
        context = self._context(stack, run_dir, variables)
        records = []
        for check in checks:
            observation = observe(check.probe, stack, context)
            ok, why = judge(check.expect, observation)
            records.append(CheckRecord(check.name, ok, observation.value, why, self._time.now()))
        return records

    def _runbook(self, spec: str | RunbookDrill | None, record: ScenarioRecord) -> Runbook | None:
        """Parse the drill's runbook before anything starts: a broken runbook errors the
        scenario with every problem at its line."""
        if not isinstance(spec, RunbookDrill):
            return None
        runbook = parse_runbook(Path(spec.path))
        if record.id not in runbook.front.scenarios:
            raise RunbookInvalid(
                spec.path,
                [
                    (
                        runbook.keys.get("scenarios"),
                        f"scenario {record.id!r} executes this runbook but is not in scenarios:",
                    )
                ],
            )
        target_s = runbook.front.time_to_resolve_s / spec.compress * self._scale
        record.runbook_drill = RunbookRecord(
            spec.path,
            runbook.front.id,
            runbook.front.severity,
            runbook.front.time_to_resolve,
            round(target_s, 3),
        )
        return runbook

    def _method(
        self,
        scenario: Scenario,
        runbook: Runbook | None,
        stack: Stack,
        run_dir: Path,
        variables: dict[str, str],
        record: ScenarioRecord,
        faults: list[tuple[StepRecord, ActiveFault]],
    ) -> None:
        s = self._scale
        steps = scenario.method
        begin = self._time.now()
        record.method_started_s = round(begin, 3)
        pending = sorted(enumerate(steps), key=lambda item: (item[1].at_s, item[0]))
        endings: list[tuple[float, StepRecord, ActiveFault]] = []
        states = [self._assertion_state(a, begin) for a in scenario.assertions]
        record.assertions = [st.record for st in states]
        # Each assertion is sampled on its own thread, so a slow probe (a command that takes a
        # second) never delays a fault, an action or another assertion's samples.
        snapshot = [self._context(stack, run_dir, variables)]
        stop = threading.Event()
        watchers = [
            threading.Thread(
                target=self._watch, args=(st, stack, snapshot, stop), name=f"cg-assert-{i}"
            )
            for i, st in enumerate(states)
        ]
        drill = self._drill(scenario, runbook, record, stack, snapshot, stop)
        phases: list[threading.Thread] = []
        samplers = []
        for i, metric in enumerate(scenario.metrics):
            series = MetricSeries(metric.name, metric.unit, "metric")
            record.metrics.append(series)
            samplers.append(
                threading.Thread(
                    target=self._measure,
                    args=(metric, series, stack, snapshot, stop),
                    name=f"cg-metric-{i}",
                )
            )
        incident = self._incident_step(scenario)
        for thread in [*watchers, *samplers]:
            thread.start()
        gameday = self._gameday
        if gameday is not None:
            assert drill is not None
            assert isinstance(scenario.runbook, RunbookDrill)
            gameday.begin(
                drill=drill,
                spec=scenario.runbook,
                stack=stack,
                snapshot=snapshot,
                record=record,
                now=self._time.now,
            )
        try:
            # The method ends when every step has run, every timed fault is reverted and every
            # assertion is decided; faults without a duration are reverted with the rollbacks.
            while True:
                now = self._time.now()
                while pending and begin + pending[0][1].at_s * s <= now:
                    index, step = pending.pop(0)
                    if drill is not None and step.name == incident:
                        drill.mark_incident(round(self._time.now(), 3))
                    if step.runbook is not None:
                        assert drill is not None  # the model requires a drill for these steps
                        if gameday is None:  # in a game day, people follow the runbook
                            phases.append(self._phase(drill, step, phases))
                        continue
                    self._run_step(
                        index, step, begin, stack, run_dir, variables, record, faults, endings
                    )
                    snapshot[0] = self._context(stack, run_dir, variables)
                now = self._time.now()
                for end_at, step_record, active in list(endings):
                    if end_at <= now:
                        endings.remove((end_at, step_record, active))
                        self._revert_one(step_record, active, record)
                waiting = [begin + st.at_s * s for _, st in pending] + [e for e, _, _ in endings]
                deciding = any(w.is_alive() for w in [*watchers, *phases])
                if gameday is not None:
                    # Live until recovered, aborted or out of time; then whatever the timeline
                    # still holds is not injected, and every fault is reverted.
                    waiting, deciding = ([], False) if gameday.over() else (waiting, True)
                if not waiting and not deciding:
                    if gameday is not None:
                        gameday.settle()
                    if drill is not None:
                        drill.finish()
                    record.method_ended_s = round(self._time.now(), 3)
                    if gameday is not None:
                        gameday.end()  # an abort raises here: the run rolls back
                    return
                wake = min(waiting) - self._time.now() if waiting else _POLL_S
                self._time.sleep(max(0.0, min(wake, _POLL_S)))
        finally:
            stop.set()
            if gameday is not None:
                gameday.stop()
            for thread in [*watchers, *phases, *samplers]:
                thread.join()

    def _measure(
        self,
        metric: Metric,
        series: MetricSeries,
        stack: Stack,
        snapshot: list[TemplateContext],
        stop: threading.Event,
    ) -> None:
        """Sample a metric for the report until the method ends; a failing probe is a gap."""
        try:
            while not stop.is_set() and len(series.points) < SERIES_CAP:
                value = observe(metric.probe, stack, snapshot[0]).value
                series.points.append([round(self._time.now(), 3), _number(value)])
                stop.wait(metric.interval_s * self._scale)
        except Exception:  # a chart is not worth a run: log it and stop sampling
            log.exception("metric %s: unexpected error", metric.name)

    def _drill(
        self,
        scenario: Scenario,
        runbook: Runbook | None,
        record: ScenarioRecord,
        stack: Stack,
        snapshot: list[TemplateContext],
        stop: threading.Event,
    ) -> DrillRunner | None:
        spec = scenario.runbook
        if runbook is None or record.runbook_drill is None:
            return None
        assert isinstance(spec, RunbookDrill)

        def sampler(check: Check) -> Callable[[], tuple[bool, object, str]]:
            def sample() -> tuple[bool, object, str]:
                observation = observe(check.probe, stack, snapshot[0])
                ok, why = judge(check.expect, observation)
                return ok, observation.value, why

            return sample

        return DrillRunner(
            runbook,
            record.runbook_drill,
            env=spec.env,
            context=lambda: snapshot[0],
            recovered=sampler(spec.recovered),
            recovered_name=spec.recovered.name,
            detected=sampler(spec.detected) if spec.detected is not None else None,
            interval_s=spec.interval_s,
            time_scale=self._scale,
            clock=self._time.now,
            stop=stop,
        )

    @staticmethod
    def _incident_step(scenario: Scenario) -> str | None:
        spec = scenario.runbook
        if not isinstance(spec, RunbookDrill):
            return None
        if spec.incident_starts is not None:
            return spec.incident_starts
        return next((st.name for st in scenario.method if st.fault or st.load), None)

    def _phase(
        self, drill: DrillRunner, step: Step, earlier: list[threading.Thread]
    ) -> threading.Thread:
        """Start a runbook phase on its own thread, after the phases before it."""
        assert step.runbook is not None
        phase = step.runbook
        previous = earlier[-1] if earlier else None

        def run() -> None:
            if previous is not None:
                previous.join()
            self._event(f"runbook: {step.name}")
            try:
                drill.run_phase(phase)
            except Exception:  # a bug in the drill must fail it, not hang the run
                log.exception("runbook phase %s: unexpected error", phase)
                drill.record.why = f"runbook phase {phase}: unexpected error (see the log)"

        thread = threading.Thread(target=run, name=f"cg-runbook-{phase}")
        thread.start()
        return thread

    def _run_step(
        self,
        index: int,
        step: Step,
        begin: float,
        stack: Stack,
        run_dir: Path,
        variables: dict[str, str],
        record: ScenarioRecord,
        faults: list[tuple[StepRecord, ActiveFault]],
        endings: list[tuple[float, StepRecord, ActiveFault]],
    ) -> None:
        s = self._scale
        now = self._time.now()
        if step.fault is not None:
            step_record = StepRecord(step.name, "fault", now)
            self._event(f"fault: {step.name}")
            active = apply_fault(step.fault, stack, f"cg_step_{index}")
            step_record.detail = active.description
            step_record.evidence, step_record.fired = active.evidence, active.fired
            record.steps.append(step_record)
            faults.append((step_record, active))
            if step.duration_s is not None:
                endings.append((begin + (step.at_s + step.duration_s) * s, step_record, active))
        elif step.load is not None:
            assert step.duration_s is not None  # the model requires it for load
            step_record = StepRecord(step.name, "load", now)
            self._event(f"load: {step.name}")
            active = start_load(
                step.load,
                step.duration_s * s,
                stack,
                self._context(stack, run_dir, variables),
                run_dir,
                f"step_{index}",
            )
            step_record.detail = active.description
            record.steps.append(step_record)
            faults.append((step_record, active))
            endings.append((begin + (step.at_s + step.duration_s) * s, step_record, active))
        else:
            assert step.action is not None
            self._event(f"action: {step.name}")
            record.steps.append(
                self._action(step.name, "action", step.action, stack, run_dir, variables)
            )

    def _watch(
        self,
        st: _AssertionState,
        stack: Stack,
        snapshot: list[TemplateContext],
        stop: threading.Event,
    ) -> None:
        try:
            while not st.done:
                delay = st.next_at - self._time.now()
                if delay > 0 and stop.wait(delay):
                    return
                if stop.is_set():
                    return
                self._sample(st, stack, snapshot[0], self._time.now())
        except Exception as exc:  # a bug in a probe must decide the assertion, not hang the run
            log.exception("assertion %s: unexpected error", st.spec.name)
            st.record.status, st.record.why, st.done = (
                "failed",
                f"{type(exc).__name__}: {exc}",
                True,
            )

    def _assertion_state(self, a: Assertion, begin: float) -> _AssertionState:
        s = self._scale
        start = begin + a.from_s * s
        end = begin + ((a.within_s or 0) if a.type == "eventually" else (a.until_s or 0)) * s
        expected = a.check.expect.model_dump(exclude_none=True)
        rec = AssertionRecord(a.name, a.type, expected)
        return _AssertionState(a, rec, start, start, end)

    def _sample(
        self, st: _AssertionState, stack: Stack, context: TemplateContext, now: float
    ) -> None:
        observation = observe(st.spec.check.probe, stack, context)
        ok, why = judge(st.spec.check.expect, observation)
        st.record.samples += 1
        st.record.observed, st.record.why, st.record.at_s = observation.value, why, now
        if len(st.record.series) < SERIES_CAP:
            st.record.series.append([round(now, 3), _number(observation.value), ok])
        kind = st.spec.type
        if kind == "eventually" and ok:
            st.record.status, st.done = "passed", True
        elif kind == "always" and not ok:
            st.record.status, st.done = "failed", True
        elif kind == "never" and ok:
            st.record.status, st.record.why, st.done = "failed", f"held: {why}", True
        elif now >= st.end:
            st.record.status = "failed" if kind == "eventually" else "passed"
            if kind == "eventually":
                st.record.why = f"not within {st.spec.within_s:g} s (scaled): {why}"
            st.done = True
        st.next_at = min(now + st.spec.interval_s, max(st.end, now))
        if st.next_at <= now and not st.done:
            st.next_at = st.end

    def _revert_one(self, step: StepRecord, active: ActiveFault, record: ScenarioRecord) -> None:
        try:
            active.revert()
            step.ended_s = self._time.now()
            step.fired, step.evidence = active.fired, list(active.evidence)
            step.broken = active.broken
            for name, points in active.series.items():  # unix times -> the scenario's clock
                record.metrics.append(
                    MetricSeries(
                        name,
                        "",
                        f"{step.kind}: {step.name}",
                        [[round(at - record.started_at, 3), value] for at, value in points],
                    )
                )
        except Exception as exc:
            step.ended_s = self._time.now()  # tried once; never again at teardown
            step.status, step.detail = "errored", f"{step.detail}; revert failed: {exc}"

    def _revert(self, faults: list[tuple[StepRecord, ActiveFault]], record: ScenarioRecord) -> None:
        while faults:
            step, active = faults.pop()
            if step.ended_s is None:
                self._revert_one(step, active, record)
            if step.status == "errored":
                record.teardown_problems.append(step.detail)

    @staticmethod
    def _verdict(record: ScenarioRecord) -> tuple[Status, str]:
        for step in record.steps:
            if step.status == "errored" and step.kind in ("fault", "load"):
                return "errored", f"{step.kind} {step.name!r}: {step.detail}"
            if step.kind == "fault" and not step.fired:
                return "failed", f"fault {step.name!r} never took hold: {step.evidence}"
            if step.kind == "load" and not step.fired:
                return "failed", f"load {step.name!r} fell short: {step.evidence}"
            if step.broken:
                return "failed", f"{step.kind} {step.name!r}: {step.broken}"
            if step.kind == "action" and step.status != "ok":
                return "errored", f"action {step.name!r} failed: {step.detail}"
        for a in record.assertions:
            if a.status != "passed":
                return "failed", f"assertion {a.name!r} ({a.type}) failed: {a.why}"
        drill = record.runbook_drill
        if drill is not None and drill.status != "passed":
            return "failed", f"runbook {drill.why or f'{drill.path}: {drill.status}'}"
        for c in record.steady_state_after:
            if not c.ok:
                return "failed", f"steady state not restored after the method: {c.name}: {c.why}"
        for inv in record.invariants:
            if inv.status != "passed":
                return "failed", f"invariant {inv.name!r} ({inv.type}) broken: {describe(inv)}"
        return "passed", ""


def _number(value: object) -> float | None:
    """A probe's value as a number for charts; None when it is not one."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    return None


class ScenarioInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) during a scenario, raised after everything was rolled back and
    stopped; carries the scenario's record so the journal keeps it."""

    def __init__(self, record: ScenarioRecord) -> None:
        super().__init__(record.id)
        self.record = record


class _Abort(Exception):
    def __init__(self, status: Status, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
