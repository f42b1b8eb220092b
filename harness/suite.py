"""Run a list of scenarios: one backend, one journal, the reports, and the exit code a release
gate reads.

Exit codes (stable, for CI gates): 0 every scenario passed; 1 a scenario failed (the system
misbehaved); 2 a scenario errored (the harness could not run it), a file is broken, or the run
was interrupted.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

from rich.console import Console

from harness import __version__
from harness.errors import HarnessError, ScenarioInvalid
from harness.exits import EXIT_ERRORED, EXIT_FAILED, EXIT_PASSED, Environment
from harness.journal import RunRecord, ScenarioRecord
from harness.provision.backend import Provisioner
from harness.provision.local import LocalProvisioner
from harness.report import Redactor, relative_logs, write_index, write_reports
from harness.report.console import progress, summary
from harness.run import AUTOMATED, RunStrategy, ScenarioInterrupted, ScenarioRunner
from harness.scenario.loader import LoadedScenario

__all__ = [
    "EXIT_ERRORED",
    "EXIT_FAILED",
    "EXIT_PASSED",
    "Environment",
    "make_provisioner",
    "run_suite",
]


def make_provisioner(
    env: Environment, seed: int, time_scale: float, console: Console
) -> Provisioner:
    """The backend for ``env``.

    Raises:
        HarnessError: Docker is missing or down (the message says what to do).
    """
    if env is Environment.local:
        return LocalProvisioner(seed=seed, time_scale=time_scale)
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
) -> int:
    """Run ``loaded``, journal them, write the reports; the exit code of the verdict."""
    try:
        provisioner = make_provisioner(env, seed, time_scale, err)
    except HarnessError as exc:
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
        f"time scale {time_scale:g}, env {env.value}, journal {run_dir / 'journal.json'}",
        highlight=False,
    )
    bar = progress(out, live=live)
    suite = bar.add_task("starting", total=len(loaded))

    def on_event(message: str) -> None:
        bar.console.print(f"  {message}", highlight=False)
        bar.update(suite, description=message[:70])

    runner = ScenarioRunner(
        provisioner, seed=seed, time_scale=time_scale, on_event=on_event, strategy=strategy
    )
    redactors = {item.scenario.id: Redactor.for_scenario(item.scenario) for item in loaded}

    def keep(result: ScenarioRecord) -> None:
        """Redact the scenario's record and every log it left, then add it to the journal."""
        redactor = redactors.get(result.id, Redactor())
        logs = {
            p.resolve()
            for p in [*(run_dir / result.id).rglob("*.log"), *map(Path, result.services.values())]
        }
        for log in logs:  # once each: service logs mostly live under the scenario's directory
            redactor.file(log)
        kept = redactor.value(result)
        relative_logs(kept, run_dir)
        record.scenarios.append(kept)
        record.write(run_dir / "journal.json")

    interrupted = False
    # CI runners stop jobs with SIGTERM: treat it like Ctrl-C, so faults are reverted,
    # rollbacks run and every service is stopped before the process ends.
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        with bar:
            for item in loaded:
                keep(runner.run(item, run_dir / item.scenario.id))
                bar.advance(suite)
    except ScenarioInterrupted as stop:
        interrupted = True
        keep(stop.record)
        err.print("interrupted: faults reverted, rollbacks run, services stopped", highlight=False)
    except KeyboardInterrupt:
        interrupted = True
        err.print("interrupted: faults reverted, rollbacks run, services stopped", highlight=False)
    finally:
        signal.signal(signal.SIGTERM, previous)
        provisioner.close()
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
