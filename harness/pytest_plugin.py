"""chaosgate as a pytest plugin: scenario files are test items.

``pytest scenarios/`` (any directory named in the ``chaosgate_dirs`` ini option, default
``scenarios``; or ``--chaosgate`` for YAML files anywhere) collects each scenario file as one
test named by its ``id``, so ``-k``, ``-x``, ``--junitxml`` and ``-p xdist`` work as for any test.
Each runs through the same runner as ``chaosgate run``, on the same backends:

- a scenario that **failed** (the system broke a promise) is a test failure that lists the
  assertions, invariants, runbook steps and actions that did not hold, with what was observed;
- a scenario that **errored** (the harness could not run it, or the file is broken) is a pytest
  *error*, raised in the item's set-up;
- a scenario that declares ``exclusive`` (it needs the machine alone) runs with no other
  scenario of the session beside it, under xdist too: it waits for the running ones to end,
  and none starts until it has;
- the run's journal, HTML report and JUnit XML are written as ``chaosgate run`` writes them, in
  ``--chaosgate-report-dir`` (default ``reports``), one run directory for the whole session —
  with xdist too: each worker runs its scenarios and the controller writes the journal.

The plugin is registered under the ``pytest11`` entry point and does nothing until scenario
files are collected; importing it loads no part of the engine.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
import re
import shutil
import signal
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harness import mutation  # stdlib only: what a mutation run needs of every session

if TYPE_CHECKING:
    from collections.abc import Generator, Iterator

    from harness.journal import ScenarioRecord
    from harness.provision.backend import Provisioner
    from harness.provision.servers import PostgresTemplate
    from harness.scenario.loader import LoadedScenario

__all__ = ["ScenarioError", "ScenarioFailure", "ScenarioFile", "ScenarioItem"]

#: a scenario file names an id and its services at its top level
_LOOKS_LIKE = (re.compile(rb"^id:", re.M), re.compile(rb"^services:", re.M))
_RECORD = "chaosgate_record"  # the attribute of a test report that carries a scenario's record


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("chaosgate", "chaosgate scenarios as tests")
    group.addoption(
        "--chaosgate",
        action="store_true",
        help="collect chaosgate scenario files (YAML with id: and services:) in every directory",
    )
    group.addoption(
        "--chaosgate-env",
        choices=("local", "docker"),
        default="local",
        help="local: services are processes on this machine; docker: containers",
    )
    group.addoption("--chaosgate-seed", type=int, default=None, help="drives every random choice")
    group.addoption(
        "--chaosgate-time-scale",
        type=float,
        default=1.0,
        help="multiplies every scenario time and ${scaled:...}",
    )
    group.addoption(
        "--chaosgate-report-dir",
        default="reports",
        help="where the run's journal, reports and logs go (default: reports)",
    )
    parser.addini(
        "chaosgate_dirs",
        "directories whose YAML files are chaosgate scenarios",
        type="args",
        default=["scenarios"],
    )


def pytest_configure(config: pytest.Config) -> None:
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    if workerinput is not None and "chaosgate_seed" in workerinput:
        seed, run_dir = int(workerinput["chaosgate_seed"]), Path(workerinput["chaosgate_run_dir"])
    else:
        given = config.getoption("chaosgate_seed")
        seed = given if given is not None else random.SystemRandom().randrange(2**31)
        report_dir = Path(config.getoption("chaosgate_report_dir"))
        run_dir = report_dir / time.strftime("run-%Y%m%d-%H%M%S")
        if mutation.active() is not None:
            # a mutation run: its runs start side by side, each in a directory of its own, and
            # share one lock, so that an exclusive scenario has the machine alone among them
            run_dir = report_dir / "mutation-runs" / f"{os.getpid()}-{run_dir.name}"
    session = _Session(config, seed, run_dir)
    config.stash[_SESSION] = session
    config.pluginmanager.register(session, "chaosgate-session")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist: every worker runs on the controller's seed, into the controller's run directory."""
    session = node.config.stash[_SESSION]
    node.workerinput["chaosgate_seed"] = session.seed
    node.workerinput["chaosgate_run_dir"] = str(session.run_dir)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> ScenarioFile | None:
    if file_path.suffix not in (".yaml", ".yml"):
        return None
    config = parent.config
    dirs = set(config.getini("chaosgate_dirs"))
    if not config.getoption("chaosgate") and not dirs & {p.name for p in file_path.parents}:
        return None
    try:
        with file_path.open("rb") as f:
            head = f.read(64 * 1024)
    except OSError:
        return None
    if not all(pattern.search(head) for pattern in _LOOKS_LIKE):
        return None
    return ScenarioFile.from_parent(parent, path=file_path)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """In a mutation run, a mutant's scenarios run shortest first (harness/mutation)."""
    if not mutation.is_mutant(mutation.active()):
        return
    order = {n: i for i, n in enumerate(mutation.cheapest_first([i.nodeid for i in items]))}
    items.sort(key=lambda item: order.get(item.nodeid, len(order)))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    # The record rides on the report of the phase that decided: the set-up when the scenario
    # errored, else the call. xdist sends it to the controller with the report.
    if isinstance(item, ScenarioItem) and (call.when == "call" or report.failed):
        item.attach_record(report)
    return report


class ScenarioFile(pytest.File):
    """A scenario file: one item, named by the scenario's id (the file's name when broken)."""

    def collect(self) -> Iterator[ScenarioItem]:
        from harness.errors import ScenarioInvalid
        from harness.scenario.loader import LoadedScenario, load_scenario

        try:
            scenario = load_scenario(self.path)
        except ScenarioInvalid as exc:
            yield ScenarioItem.from_parent(self, name=self.path.stem, loaded=None, broken=exc)
            return
        yield ScenarioItem.from_parent(
            self, name=scenario.id, loaded=LoadedScenario(self.path, scenario), broken=None
        )


class ScenarioFailure(Exception):
    """The scenario failed: the system broke a promise (the record says which)."""


class ScenarioError(Exception):
    """The scenario errored: the harness could not run it (the record or the file says why)."""


class ScenarioItem(pytest.Item):
    """One scenario, run in the item's set-up through chaosgate's runner."""

    def __init__(
        self,
        *,
        loaded: LoadedScenario | None,
        broken: Exception | None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.loaded = loaded
        self.broken = broken
        self.record: ScenarioRecord | None = None
        self.reported = False

    def setup(self) -> None:
        if self.broken is not None:
            raise ScenarioError(str(self.broken))
        assert self.loaded is not None
        watch = mutation.Watch.start(self.nodeid)
        self.record = self.config.stash[_SESSION].run(self.loaded)
        if watch is not None:
            watch.done(self.record, explain(self.record))
        if self.record.status == "errored":
            raise ScenarioError(explain(self.record))

    def runtest(self) -> None:
        assert self.record is not None
        if self.record.status == "failed":
            raise ScenarioFailure(explain(self.record))

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str:
        if isinstance(excinfo.value, (ScenarioFailure, ScenarioError)):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo, style=style))

    def attach_record(self, report: pytest.TestReport) -> None:
        """Put the scenario's record on ``report``, once (it travels with it to the controller)."""
        if self.record is not None and not self.reported:
            setattr(report, _RECORD, json.dumps(asdict(self.record), default=str))
            self.reported = True

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"scenario {self.name}"


def explain(record: ScenarioRecord) -> str:
    """What did not hold, with what was observed: the lines a failing test shows."""
    lines = [f"{record.id} {record.status}: {record.reason}"]
    for a in record.assertions:
        if a.status != "passed":
            seen = f"; observed {a.observed!r}" if a.observed is not None else ""
            at = f" at {a.at_s:.1f} s" if a.at_s is not None else ""
            detail = f" ({a.detail})" if a.detail else ""
            lines.append(
                f"  assertion {a.name!r} ({a.type}) {a.status}: expected {a.expected}{seen}{at}"
                f"{detail} — {a.why}"
            )
    for i in record.invariants:
        if i.status != "passed":
            lines.append(f"  invariant {i.name!r} ({i.type}) failed: {i.summary}")
            lines.extend(f"    {v}" for v in i.violations[:10])
    for check in [*record.steady_state_before, *record.steady_state_after]:
        if not check.ok:
            lines.append(
                f"  steady state {check.name!r}: observed {check.observed!r} — {check.why}"
            )
    for step in [*record.steps, *record.rollbacks]:
        if step.status != "ok" or step.broken:
            lines.append(f"  {step.kind} {step.name!r} {step.status}: {step.broken or step.detail}")
    drill = record.runbook_drill
    if drill is not None and drill.status == "failed":
        lines.append(f"  runbook {drill.path} failed: {drill.why}")
        for s in drill.steps:
            if s.verdict == "failed":
                lines.append(f"    step {s.id} ({s.location}) failed: {s.why}")
    lines.extend(f"  slip: {slip}" for slip in record.slips)
    return "\n".join(lines)


class _Session:
    """The run of one pytest process: its seed and run directory (the controller's, under
    xdist), one backend reused by its scenarios one after another, and — on the controller —
    the records for the journal."""

    def __init__(self, config: pytest.Config, seed: int, run_dir: Path) -> None:
        self.config = config
        self.seed = seed
        self.run_dir = run_dir
        self.started_at = time.time()
        self._records: list[dict[str, Any]] = []
        self._backend: Provisioner | None = None
        self._templates: PostgresTemplate | None = None

    @property
    def env(self) -> str:
        return str(self.config.getoption("chaosgate_env"))

    @property
    def time_scale(self) -> float:
        return float(self.config.getoption("chaosgate_time_scale"))

    def run(self, loaded: LoadedScenario) -> ScenarioRecord:
        from harness.clock import SystemClock
        from harness.errors import HarnessError
        from harness.exits import Environment
        from harness.journal import ScenarioRecord
        from harness.provision.servers import PostgresTemplate
        from harness.report import Redactor
        from harness.run import ScenarioRunner
        from harness.suite import make_provisioner, redacted

        if self._backend is None:
            from rich.console import Console

            self._templates = PostgresTemplate()
            try:
                self._backend = make_provisioner(
                    Environment(self.env),
                    self.seed,
                    self.time_scale,
                    Console(stderr=True, markup=False),
                    self._templates,
                )
            except HarnessError as exc:  # Docker missing: this scenario errors, with the fix
                record = ScenarioRecord(
                    loaded.scenario.id, loaded.scenario.title, str(loaded.path), None
                )
                record.reason = str(exc)
                return record
        redactor = Redactor.for_scenario(loaded.scenario)
        runner = ScenarioRunner(
            self._backend,
            seed=self.seed,
            time_scale=self.time_scale,
            clock=SystemClock(),
            on_captured=redactor.learn,
            fail_fast=mutation.is_mutant(mutation.active()),  # a mutant needs one failure
        )
        # CI stops a job with SIGTERM: like Ctrl-C, faults are reverted and services stopped.
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
        try:
            with _machine(self.lock, alone=loaded.scenario.exclusive):
                result = runner.run(loaded, self.run_dir / loaded.scenario.id)
        finally:
            signal.signal(signal.SIGTERM, previous)
        return redacted(result, redactor, self.run_dir)

    @property
    def in_mutation_run(self) -> bool:
        return mutation.active() is not None

    @property
    def lock(self) -> Path:
        """The file the session's processes lock around each scenario (in the run directory
        they share, removed by the controller at the end; in a mutation run, one for all its
        sessions)."""
        if self.in_mutation_run:
            return self.run_dir.parent / ".scenarios.lock"
        return self.run_dir / ".scenarios.lock"

    # -- hooks of this run (a plugin object of its own: no module state) ------------------

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Every scenario's record, as the controller (or the only process) receives it."""
        record = getattr(report, _RECORD, None)
        if isinstance(record, str):
            self._records.append(json.loads(record))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.close()
        if self.in_mutation_run:  # what killed a mutant is kept as evidence; the runs are not
            shutil.rmtree(self.run_dir, ignore_errors=True)
            return
        if getattr(self.config, "workerinput", None) is None:
            self.lock.unlink(missing_ok=True)  # every worker has ended
            self.write_reports()

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
        if self._templates is not None:
            self._templates.close()
        self._backend = self._templates = None

    def write_reports(self) -> None:
        """The journal of every scenario this session ran, and the reports from it."""
        if not self._records:
            return
        from harness.journal import RunRecord, overall_status
        from harness.report import write_index, write_reports

        run = RunRecord(
            seed=self.seed,
            time_scale=self.time_scale,
            started_at=self.started_at,
            environment=self.env,
            finished_at=time.time(),
        )
        status = overall_status(str(r.get("status")) for r in self._records)
        journal = {"status": status, **asdict(run), "scenarios": self._records}
        path = self.run_dir / "journal.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(journal, indent=2, default=str))
        html, _junit = write_reports(path)
        write_index(self.run_dir.parent)
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"chaosgate: journal {path}, report {html}")


@contextlib.contextmanager
def _machine(lock: Path, *, alone: bool) -> Iterator[None]:
    """Hold ``lock`` while a scenario runs: shared, or exclusive for a scenario that needs the
    machine alone. xdist workers are processes, so it is a file lock (``flock``): an exclusive
    holder waits for every shared one to be released, and blocks new ones until it is done.
    Ctrl-C or SIGTERM while waiting interrupts the wait."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(held, fcntl.LOCK_UN)


def _raise_interrupt(_signo: int, _frame: object) -> None:
    raise KeyboardInterrupt


_SESSION = pytest.StashKey[_Session]()
