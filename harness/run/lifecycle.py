"""One scenario run, start to end: provision → set up → steady state → method (inject and
observe) → steady state → verify → roll back → tear down.

Every step lands in the :class:`~harness.journal.ScenarioRecord`. Reverting faults, rollbacks
and teardown always run: after a failed assertion, an error, or Ctrl-C.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from harness.clock import Clock, SystemClock
from harness.errors import HarnessError
from harness.extras import missing_for
from harness.history import HISTORY_FILE, JOURNAL_CAP, write_history
from harness.journal import ScenarioRecord
from harness.provision.backend import Provisioner
from harness.run.drill import prepare_drill
from harness.run.rollback import revert_all, roll_back
from harness.run.state import Kinds, RunState
from harness.run.steady import Abort, set_up, steady_state
from harness.run.strategy import AUTOMATED, RunStrategy
from harness.run.timeline import run_method
from harness.run.verdict import judge_invariants, verdict
from harness.scenario.loader import LoadedScenario

__all__ = ["ScenarioInterrupted", "ScenarioRunner"]

log = logging.getLogger(__name__)


class ScenarioInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) during a scenario, raised after everything was rolled back and
    stopped; carries the scenario's record so the journal keeps it."""

    def __init__(self, record: ScenarioRecord) -> None:
        super().__init__(record.id)
        self.record = record


class ScenarioRunner:
    """Runs scenarios with one provisioner, seed and time scale.

    Parameters:
        provisioner: the backend.
        seed: the run's seed (``${run.seed}``; recorded).
        time_scale: multiplies every time of the method and assertions.
        clock: time, sleeping and threads (:class:`~harness.testing.VirtualClock` in tests).
        on_event: called with a one-line description of each step (progress display).
        on_captured: called with the variables each action captures (for redaction).
        strategy: how the method is driven (a game day hands it to people).
        kinds: the implementation of each ``type:`` (tests give fakes of some).
        fail_fast: end a scenario's method at its first failed assertion or action (mutation
            runs: only whether it fails matters); what was not judged is left out.
    """

    def __init__(
        self,
        provisioner: Provisioner,
        *,
        seed: int,
        time_scale: float,
        clock: Clock | None = None,
        on_event: Callable[[str], None] = lambda _msg: None,
        on_captured: Callable[[Mapping[str, str]], None] = lambda _values: None,
        strategy: RunStrategy = AUTOMATED,
        kinds: Kinds | None = None,
        fail_fast: bool = False,
    ) -> None:
        if time_scale <= 0:
            raise ValueError(f"time_scale={time_scale!r}: must be positive")
        self._provisioner = provisioner
        self._seed = seed
        self._scale = time_scale
        self._clock = clock or SystemClock()
        self._event = on_event
        self._captured = on_captured
        self._strategy = strategy
        self._kinds = kinds or Kinds()
        self._fail_fast = fail_fast

    def run(self, loaded: LoadedScenario, run_dir: Path) -> ScenarioRecord:
        """Run one scenario; its record, whatever happened.

        Raises:
            ScenarioInterrupted: Ctrl-C, after everything was rolled back and stopped.
        """
        scenario = loaded.scenario
        record = ScenarioRecord(
            scenario.id,
            scenario.title,
            str(loaded.path),
            scenario.runbook_path,
            started_at=time.time(),
        )
        state = RunState(
            scenario,
            loaded.path,
            run_dir,
            record,
            self._seed,
            self._scale,
            self._clock,
            self._kinds,
            self._event,
            origin=self._clock.monotonic(),
            on_captured=self._captured,
            stop=self._clock.event(),
            fail_fast=self._fail_fast,
        )
        interrupted = False
        try:
            prepare_drill(state)
            self._backend_can(state)
            self._event(f"{scenario.id}: provisioning {len(scenario.services)} service(s)")
            state.stack = self._provisioner.start(scenario, run_dir)
            record.services = {n: str(s.log_path) for n, s in state.stack.services.items()}
            set_up(state)
            record.steady_state_before = steady_state(state)
            if not all(c.ok for c in record.steady_state_before):
                bad = next(c for c in record.steady_state_before if not c.ok)
                raise Abort(
                    "errored", f"steady state not met before the method: {bad.name}: {bad.why}"
                )
            self._strategy.before_method(state)
            run_method(state, self._strategy)
            revert_all(state)
            if not state.stopped_early:  # else the verdict is known: nothing more to judge
                record.steady_state_after = steady_state(state)
                judge_invariants(state)
            record.status, record.reason = verdict(record)
        except Abort as abort:
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
            self._tear_down(state)
        if interrupted:
            raise ScenarioInterrupted(record)
        return record

    @staticmethod
    def _keep_history(state: RunState) -> None:
        """The whole history of operations beside the logs; the journal keeps the first
        entries of each step and their count."""
        steps = [*state.record.steps, *state.record.rollbacks]
        if not any(step.history for step in steps):
            return
        try:
            write_history(steps, state.run_dir / HISTORY_FILE)
        except OSError as exc:
            state.record.teardown_problems.append(f"history not written: {exc}")
        for step in steps:
            step.history_count = len(step.history)
            del step.history[JOURNAL_CAP:]

    def _backend_can(self, state: RunState) -> None:
        """Refuse, before anything starts, a fault this backend cannot apply and a scenario whose
        parts are not installed (an extra)."""
        for missing in missing_for(state.scenario):
            raise Abort("errored", str(missing))
        unsupported = self._provisioner.unsupported_faults
        for i, step in enumerate(state.scenario.method):
            if step.fault is not None and step.fault.type in unsupported:
                raise Abort(
                    "errored",
                    f"method.{i} ({step.name}): fault {step.fault.type!r} cannot be applied by "
                    f"the {self._provisioner.name} backend; run the scenario with --env docker",
                )

    def _tear_down(self, state: RunState) -> None:
        record = state.record
        roll_back(state)
        if state.stack is not None:
            record.teardown_problems = self._provisioner.stop(state.stack)
            # Logs may move at teardown (PostgreSQL's is copied out of its data directory).
            record.services = {n: str(s.log_path) for n, s in state.stack.services.items()}
        self._keep_history(state)
        record.duration_s = round(time.time() - record.started_at, 3)
        self._event(
            f"{record.id}: {record.status}" + (f" — {record.reason}" if record.reason else "")
        )
