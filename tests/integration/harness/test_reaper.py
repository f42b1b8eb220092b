"""A harness killed with SIGKILL (a CI job past its time limit) leaves nothing running: its reaper
stops the services it started, and if the reaper was killed too, the next run sweeps them."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.provision.reaper import GRACE_S, Reaper, sweep_dead_runs
from tests.integration.harness.test_runner import base
from tests.support.processes import alive, descendants

pytestmark = pytest.mark.integration


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.fixture
def own_tmp() -> Iterator[Path]:
    """A temp directory of the harness's own (TMPDIR): its ledgers and the ``cg-*`` directories it
    makes land there, apart from other tests'. Under /tmp and readable, since PostgreSQL runs as
    ``postgres`` when the tests run as root, and pytest's tmp_path is private to root."""
    root = Path(tempfile.mkdtemp(prefix="reaper-test-"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def left_in(root: Path, within_s: float) -> list[str]:
    """The ``cg-*`` directories still in ``root`` after waiting up to ``within_s``."""
    deadline = time.monotonic() + within_s
    while True:
        left = sorted(p.name for p in root.glob("cg-*"))
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.1)


def long_run(tmp_path: Path, own_tmp: Path, name: str = "long") -> subprocess.Popen[str]:
    spec: dict[str, Any] = base(tmp_path)
    spec["services"]["db"] = {"kind": "postgres"}  # a server with children of its own
    spec["method"][0]["duration_s"] = 600
    spec["assertions"] = []
    scenario = tmp_path / f"{name}.yaml"
    scenario.write_text(yaml.safe_dump(spec))
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "run",
            str(scenario),
            "--report-dir",
            str(tmp_path / name),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,  # only the harness is killed, not a group around it
        env={**os.environ, "TMPDIR": str(own_tmp)},
    )


def provisioned(harness: subprocess.Popen[str], timeout_s: float = 90) -> set[int]:
    """The processes the harness started, once its services and its reaper are all up."""
    deadline = time.monotonic() + timeout_s
    # The PostgreSQL server itself (fsync=off is in its argv), not initdb's bootstrap postgres.
    wanted = ("redis-server", "fsync=off", "toxiproxy", "-I -c")
    while time.monotonic() < deadline:
        started = descendants(harness.pid)
        lines = " | ".join(cmdline(pid) for pid in started)
        if all(w in lines for w in wanted) and harness.poll() is None:
            return started
        time.sleep(0.2)
    raise AssertionError(f"the run did not provision within {timeout_s} s")


def gone(pids: set[int], within_s: float) -> list[str]:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if not [pid for pid in pids if alive(pid)]:
            return []
        time.sleep(0.1)
    return [f"{pid}: {cmdline(pid)}" for pid in pids if alive(pid)]


def test_services_and_temp_directories_go_with_a_harness_killed_with_sigkill(
    tmp_path: Path, own_tmp: Path
) -> None:
    harness = long_run(tmp_path, own_tmp)
    try:
        started = provisioned(harness)
        made = sorted(p.name for p in own_tmp.glob("cg-*"))
        assert any(n.startswith("cg-pgtemplate-") for n in made), made  # the shared template
        assert any(n.startswith("cg-pg-") and "template" not in n for n in made), made
        os.kill(harness.pid, signal.SIGKILL)
        harness.wait(timeout=10)
        assert gone(started, within_s=GRACE_S + 15) == []
        assert left_in(own_tmp, within_s=15) == []
    finally:
        if harness.poll() is None:
            harness.kill()


def test_the_next_run_sweeps_what_a_dead_run_and_its_reaper_left(
    tmp_path: Path, own_tmp: Path
) -> None:
    harness = long_run(tmp_path, own_tmp)
    try:
        started = provisioned(harness)
        (reaper,) = [pid for pid in started if "-I -c" in cmdline(pid)]
        os.kill(reaper, signal.SIGKILL)  # the guard dies first: the services are orphaned
        os.kill(harness.pid, signal.SIGKILL)
        harness.wait(timeout=10)
        time.sleep(GRACE_S + 1)
        orphans = {pid for pid in started if alive(pid) and pid != reaper}
        assert orphans, "nothing was left to sweep"

        assert left_in(own_tmp, within_s=0) != []  # nobody removed its directories either

        # What the next run does before it starts a service, in a process of its own with the
        # same temp directory, as the next run would be.
        sweep = "from harness.provision.reaper import sweep_dead_runs; print(sweep_dead_runs())"
        swept = subprocess.run(
            [sys.executable, "-c", sweep],
            env={**os.environ, "TMPDIR": str(own_tmp)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout

        assert swept.strip() not in ("", "[]")  # the groups of the dead run
        assert gone(orphans, within_s=15) == []
        assert left_in(own_tmp, within_s=0) == []
    finally:
        if harness.poll() is None:
            harness.kill()


def test_a_live_harness_keeps_its_services_and_stopping_forgets_them(tmp_path: Path) -> None:
    reaper = Reaper(directory=tmp_path / "ledgers", grace_s=0.5)
    sleeper = subprocess.Popen(["sleep", "600"], start_new_session=True)
    kept = subprocess.Popen(["sleep", "600"], start_new_session=True)
    try:
        reaper.watch(sleeper.pid)
        reaper.watch(kept.pid)
        reaper.forget(kept.pid)  # stopped by the harness: no longer the reaper's
        assert sweep_dead_runs(tmp_path / "ledgers") == []  # its owner (this process) lives
        assert alive(sleeper.pid)
        reaper.close()  # the pipe ends, as when the harness dies
        assert sleeper.wait(timeout=10) == -signal.SIGTERM
        assert alive(kept.pid)
        assert list((tmp_path / "ledgers").glob("*.groups")) == []
    finally:
        for proc in (sleeper, kept):
            proc.kill()
            proc.wait()


def test_a_directory_is_removed_when_its_harness_ends_unless_it_was_kept(
    own_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(own_tmp))
    reaper = Reaper(directory=own_tmp / "ledgers", grace_s=0.5)
    doomed, kept = own_tmp / "cg-doomed", own_tmp / "cg-kept"
    for path in (doomed, kept):
        path.mkdir()
        (path / "file").write_text("x")
    reaper.remove_on_death(doomed)
    reaper.remove_on_death(kept)
    reaper.kept(kept)
    reaper.close()
    assert not doomed.exists()
    assert kept.exists()


def test_a_ledger_cannot_name_a_directory_outside_the_temp_directory_to_remove(
    own_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(own_tmp))
    outside = own_tmp / "home"
    (outside / "cg-precious").mkdir(parents=True)
    ours = own_tmp / "cg-ours"
    ours.mkdir()
    ledgers = own_tmp / "ledgers"
    ledgers.mkdir()
    lines = [f"D {outside / 'cg-precious'}", f"D {own_tmp}/cg-x/../home", f"D {ours}", "D /etc"]
    (ledgers / "999999999-0.groups").write_text("\n".join(lines) + "\n")  # no such owner: dead

    sweep_dead_runs(ledgers)

    assert (outside / "cg-precious").exists()
    assert not ours.exists()
    with pytest.raises(ValueError, match="not a cg-\\* directory"):
        Reaper(directory=ledgers).remove_on_death(outside)


def test_a_command_that_times_out_is_killed_with_its_children(tmp_path: Path) -> None:
    from harness.commands import run_command
    from harness.provision.templates import TemplateContext

    pids = tmp_path / "pids"
    script = f"sleep 600 & echo $! > {pids}; wait"
    context = TemplateContext({}, {}, str(tmp_path), 1, 1.0)
    outcome = run_command(["sh", "-c", script], {}, context, timeout_s=1.0, where="test")
    assert outcome.returncode is None and "still ran after 1 s" in (outcome.error or "")
    child = int(pids.read_text())
    assert gone({child}, within_s=5) == []


def test_a_command_interrupted_by_ctrl_c_is_killed_with_its_children(tmp_path: Path) -> None:
    from harness.commands import run_bounded

    pids = tmp_path / "pids"
    script = f"sleep 600 & echo $! > {pids}; wait"

    def interrupt(_signo: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 1.0)  # Ctrl-C, a second into the command
        with pytest.raises(KeyboardInterrupt):
            run_bounded(["sh", "-c", script], env=dict(os.environ), timeout_s=60)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    child = int(pids.read_text())
    assert gone({child}, within_s=5) == []
