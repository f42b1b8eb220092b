"""Run a list of scenarios: one backend, one journal, the reports, and the exit code a release
gate reads.

Exit codes (stable, for CI gates): 0 every scenario passed; 1 a scenario failed (the system
misbehaved); 2 a scenario errored (the harness could not run it), a file is broken, or the run
was interrupted.
"""

from __future__ import annotations

import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path

from rich.console import Console

from harness import __version__
from harness.clock import SystemClock
from harness.errors import HarnessError, ScenarioInvalid
from harness.exits import EXIT_ERRORED, EXIT_FAILED, EXIT_PASSED, Environment
from harness.journal import RunRecord, ScenarioRecord
from harness.provision.backend import Provisioner
from harness.provision.local import LocalProvisioner
from harness.provision.servers import PostgresTemplate
from harness.report import Redactor, relative_logs, write_index, write_reports
from harness.report.console import progress, summary
from harness.run import AUTOMATED, Kinds, RunStrategy, ScenarioInterrupted, ScenarioRunner
from harness.scenario.loader import LoadedScenario

__all__ = [
    "EXIT_ERRORED",
    "EXIT_FAILED",
    "EXIT_PASSED",
    "Environment",
    "InterruptibleClock",
    "auto_jobs",
    "make_provisioner",
    "redacted",
    "run_suite",
]


#: Scenarios at once per core, by backend (see :func:`auto_jobs`).
PER_CORE = {Environment.local: 2.5, Environment.docker: 1.0}
STACK_KB = 2 * 1024 * 1024  # memory a stack takes, about


def auto_jobs(
    env: Environment, *, cores: int | None = None, available_kb: int | None = None
) -> int:
    """Scenarios to run at once on this machine for ``env``'s backend: so many per core
    (:data:`PER_CORE`), as memory allows (about 2 GB a stack), at least one, at most eight.

    A scenario mostly waits on its timeline, but its system and the commands its drill runs
    take CPU, and a drill's time to resolve is a verdict: a harness that starves the system it
    judges becomes the cause of the verdict. Measured on 2 cores, on local processes: five at
    once passed every scenario (also beside a process hogging one core), in 0.34x the serial
    wall time. On Docker, where dockerd and every container's runtime share those cores, five
    at once failed four scenarios on time alone and two passed all."""
    cores = cores or os.cpu_count() or 1
    if available_kb is None:
        try:
            meminfo = Path("/proc/meminfo").read_text()
            line = next(line for line in meminfo.splitlines() if "MemAvailable" in line)
            available_kb = int(line.split()[1])
        except (OSError, StopIteration, ValueError, IndexError):
            available_kb = 2 * STACK_KB
    by_memory = max(1, available_kb // STACK_KB)
    by_cpu = int(cores * PER_CORE[env])
    return max(1, min(by_cpu, by_memory, 8))


class InterruptibleClock(SystemClock):
    """The real clock for scenarios run on worker threads: once ``interrupt`` is set (Ctrl-C
    or SIGTERM reached the main thread), a thread that runs a scenario gets KeyboardInterrupt
    at its next sleep or wait, so that scenario rolls back and tears down as a serial run's
    would. The scenario's other threads (samplers, phases) are stopped by it."""

    _POLL_S = 0.1

    def __init__(self, interrupt: threading.Event) -> None:
        self._interrupt = interrupt
        self._runners: set[int] = set()

    def runs_scenarios(self) -> None:
        """The calling thread runs scenarios: interrupt it."""
        self._runners.add(threading.get_ident())

    def _check(self) -> None:
        if self._interrupt.is_set() and threading.get_ident() in self._runners:
            raise KeyboardInterrupt

    def sleep(self, seconds: float) -> None:
        if threading.get_ident() not in self._runners:
            super().sleep(seconds)
            return
        self._check()
        self._interrupt.wait(max(0.0, seconds))  # wakes at once on an interrupt
        self._check()

    def wait(self, event: threading.Event, timeout_s: float | None) -> bool:
        if threading.get_ident() not in self._runners:
            return super().wait(event, timeout_s)
        deadline = None if timeout_s is None else time.monotonic() + max(0.0, timeout_s)
        while True:
            self._check()
            left = (
                self._POLL_S if deadline is None else min(self._POLL_S, deadline - time.monotonic())
            )
            if event.wait(max(0.0, left)):
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return event.is_set()


def make_provisioner(
    env: Environment,
    seed: int,
    time_scale: float,
    console: Console,
    postgres_templates: PostgresTemplate | None = None,
) -> Provisioner:
    """The backend for ``env``; local backends share ``postgres_templates`` when given (the
    run's initdb'd and migrated clusters, made once for all the scenarios at once).

    Raises:
        HarnessError: Docker is missing or down (the message says what to do).
    """
    if env is Environment.local:
        return LocalProvisioner(
            seed=seed, time_scale=time_scale, postgres_templates=postgres_templates
        )
    from harness.provision.docker import DockerProvisioner

    try:
        docker = DockerProvisioner(seed=seed, time_scale=time_scale)
    except ValueError as exc:  # a setting with a bad value
        raise HarnessError(str(exc)) from None
    if docker.swept:
        console.print(
            f"removed what an earlier run left behind: {', '.join(docker.swept)}", highlight=False
        )
    return docker


def redacted(result: ScenarioRecord, redactor: Redactor, run_dir: Path) -> ScenarioRecord:
    """``result`` as the journal keeps it: redacted, and so is every log it left (in place);
    its log paths relative to ``run_dir``."""
    logs = {
        p.resolve()
        for p in [*(run_dir / result.id).rglob("*.log"), *map(Path, result.services.values())]
    }
    for log in logs:  # once each: service logs mostly live under the scenario's directory
        redactor.file(log)
    kept: ScenarioRecord = redactor.value(result)
    relative_logs(kept, run_dir)
    return kept


def _raise_interrupt(_signo: int, _frame: object) -> None:
    raise KeyboardInterrupt


def run_suite(
    loaded: list[LoadedScenario],
    broken: list[ScenarioInvalid],
    *,
    seed: int,
    time_scale: float,
    env: Environment,
    report_dir: Path,
    out: Console,
    err: Console,
    strategy: RunStrategy = AUTOMATED,
    live: bool = True,
    jobs: int = 1,
    provisioner: Callable[[], Provisioner] | None = None,
    kinds: Kinds | None = None,
) -> int:
    """Run ``loaded``, journal them, write the reports; the exit code of the verdict.

    With ``jobs`` > 1, that many scenarios run at once, each on a stack of its own (its own
    backend instance: ports, data directories, networks, Toxiproxy), the longest method
    first; a scenario that declares ``exclusive`` runs alone after them. The journal lists
    scenarios in the order given, as a serial run's does, and each scenario's choices come
    from the seed and its own steps, so the same seed makes the same choices either way.
    ``provisioner`` makes a backend (default: ``env``'s) and ``kinds`` replaces
    implementations (tests: the fakes of ``harness.testing``).
    """
    jobs = max(1, min(jobs, len(loaded) or 1))
    templates = PostgresTemplate()  # nothing is made until a scenario asks for PostgreSQL
    try:
        provisioners: queue.Queue[Provisioner] = queue.Queue()
        for _ in range(jobs):
            provisioners.put(
                provisioner()
                if provisioner
                else make_provisioner(env, seed, time_scale, err, templates)
            )
    except HarnessError as exc:
        _close_all(provisioners)
        templates.close()
        err.print(f"error: {exc}", highlight=False, soft_wrap=True)
        return EXIT_ERRORED
    run_dir = report_dir / time.strftime("run-%Y%m%d-%H%M%S")
    record = RunRecord(
        seed=seed,
        time_scale=time_scale,
        started_at=time.time(),
        environment=env.value,
        invalid_files=[str(b.path) for b in broken],
    )
    out.print(
        f"chaosgate {__version__}: {len(loaded)} scenario(s), seed {seed}, "
        f"time scale {time_scale:g}, env {env.value}, "
        f"{jobs} at once, journal {run_dir / 'journal.json'}",
        highlight=False,
    )
    bar = progress(out, live=live)
    suite = bar.add_task("starting", total=len(loaded))
    order = {item.scenario.id: i for i, item in enumerate(loaded)}
    redactors = {item.scenario.id: Redactor.for_scenario(item.scenario) for item in loaded}

    def keep(result: ScenarioRecord) -> None:
        """Redact the scenario's record and every log it left, then add it to the journal."""
        kept = redacted(result, redactors.get(result.id, Redactor()), run_dir)
        record.scenarios.append(kept)
        record.scenarios.sort(key=lambda s: order.get(s.id, len(order)))
        record.write(run_dir / "journal.json")

    interrupt = threading.Event()
    clock = InterruptibleClock(interrupt)

    def run_one(item: LoadedScenario) -> ScenarioRecord:
        """One scenario on a backend of its own (on a worker, with a progress line of its
        own, when several run at once)."""
        if jobs > 1:
            clock.runs_scenarios()
        backend = provisioners.get()
        line = bar.add_task(f"{item.scenario.id}: starting", total=None) if jobs > 1 else None
        redactor = redactors[item.scenario.id]

        def on_event(message: str) -> None:
            message = redactor.text(message)  # the console is a CI log: kept like the journal
            if line is None:  # one at a time: the log of steps, as it happens
                bar.console.print(f"  {message}", highlight=False)
                bar.update(suite, description=message[:70])
            else:  # at once: a line per running scenario, its latest step
                shown = (
                    message
                    if message.startswith(item.scenario.id)
                    else f"{item.scenario.id}: {message}"
                )
                bar.update(line, description=shown[:90])

        try:
            runner = ScenarioRunner(
                backend,
                seed=seed,
                time_scale=time_scale,
                clock=clock if jobs > 1 else SystemClock(),
                on_event=on_event,
                on_captured=redactor.learn,
                strategy=strategy,
                kinds=kinds,
            )
            return runner.run(item, run_dir / item.scenario.id)
        finally:
            provisioners.put(backend)
            if line is not None:
                bar.remove_task(line)

    # The longest first, so the last to end is a short one (the journal keeps the order given).
    shared = sorted(
        (item for item in loaded if not item.scenario.exclusive),
        key=lambda item: -item.scenario.expected_method_s,
    )
    alone = [item for item in loaded if item.scenario.exclusive]
    interrupted = False
    # CI runners stop jobs with SIGTERM: treat it like Ctrl-C, so faults are reverted,
    # rollbacks run and every service is stopped before the process ends.
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        with bar:
            if jobs == 1:  # one at a time, on this thread (a game day's console needs it)
                for item in loaded:
                    keep(run_one(item))
                    bar.advance(suite)
            else:
                interrupted = _run_parallel(
                    shared, alone, jobs, run_one, interrupt, keep, lambda: bar.advance(suite)
                )
    except ScenarioInterrupted as stop:
        interrupted = True
        keep(stop.record)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        signal.signal(signal.SIGTERM, previous)
        _close_all(provisioners)
        templates.close()
    if interrupted:
        err.print("interrupted: faults reverted, rollbacks run, services stopped", highlight=False)
    record.finished_at = time.time()
    record.write(run_dir / "journal.json")
    summary(record, out)
    try:
        html, junit = write_reports(run_dir / "journal.json")
        index = write_index(report_dir)
    except Exception as exc:  # the journal is written: a report bug must not hide the verdict
        err.print(
            f"error: the reports were not written ({type(exc).__name__}: {exc}); the journal "
            f"is at {run_dir / 'journal.json'}: 'chaosgate report {run_dir}' renders them again",
            highlight=False,
        )
        return EXIT_ERRORED
    out.print(f"report: {html}  junit: {junit}  runs: {index}", highlight=False, soft_wrap=True)
    if interrupted or record.status == "errored":
        return EXIT_ERRORED
    if record.status == "failed":
        return EXIT_FAILED
    return EXIT_PASSED


def _run_parallel(
    shared: list[LoadedScenario],
    alone: list[LoadedScenario],
    jobs: int,
    run_one: Callable[[LoadedScenario], ScenarioRecord],
    interrupt: threading.Event,
    keep: Callable[[ScenarioRecord], None],
    advance: Callable[[], None],
) -> bool:
    """``shared`` ``jobs`` at a time, then each of ``alone`` by itself; whether it was
    interrupted."""
    interrupted = False
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="cg-scenario") as pool:
        try:
            for batch, width in ((shared, jobs), *(([item], 1) for item in alone)):
                if interrupted:
                    break
                for result in _run_batch(pool, batch, width, run_one, interrupt):
                    if isinstance(result, ScenarioInterrupted):
                        interrupted = True
                        keep(result.record)
                    else:
                        keep(result)
                    advance()
                interrupted = interrupted or interrupt.is_set()
        except BaseException:
            interrupt.set()  # Ctrl-C between waits: the running scenarios roll back too
            raise
    return interrupted


def _run_batch(
    pool: ThreadPoolExecutor,
    batch: list[LoadedScenario],
    width: int,
    run_one: Callable[[LoadedScenario], ScenarioRecord],
    interrupt: threading.Event,
) -> Iterator[ScenarioRecord | ScenarioInterrupted]:
    """Run ``batch`` with at most ``width`` at once; each record as it ends. Ctrl-C here (the
    main thread) interrupts every running scenario, which rolls back; none is started after."""
    waiting = list(batch)
    running: set[Future[ScenarioRecord]] = set()
    while waiting or running:
        while waiting and len(running) < width and not interrupt.is_set():
            running.add(pool.submit(run_one, waiting.pop(0)))
        if not running:
            return
        try:
            done, running = wait(running, timeout=0.2, return_when=FIRST_COMPLETED)
        except KeyboardInterrupt:
            interrupt.set()
            continue
        for future in done:
            try:
                yield future.result()
            except ScenarioInterrupted as stopped:
                yield stopped


def _close_all(provisioners: queue.Queue[Provisioner]) -> None:
    while not provisioners.empty():
        provisioners.get().close()
