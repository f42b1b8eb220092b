"""Local services die with the harness, however it dies.

Ctrl-C, SIGTERM, a failed assertion and a timeout all end in :meth:`ManagedProcess.stop`. A
harness killed with SIGKILL (a CI job past its time limit) runs no code at all, so two other
things stand guard over the process groups it started:

1. **A reaper process**, started with the first service: a few lines of Python (no import of
   this package) reading, on a pipe from the harness, which groups to watch and which are stopped.
   When the pipe reaches end of file — the harness exited or was killed, the kernel closes it
   either way — it sends SIGTERM to every group still watched, then SIGKILL after a grace.
2. **A ledger file** per harness process under the user's temp directory, the same lines. If the
   reaper died too (killed with the harness's whole session), the next harness that starts a
   service sweeps the groups of every ledger whose owner is gone.

Temporary directories kept across scenarios (the PostgreSQL template cluster) are watched the
same way: the reaper removes them after the groups are dead, and so does the next run's sweep.

Both check a group's leader is the very process that was started (its start time in
``/proc/PID/stat``), so a process ID the system has reused is never signalled.

There is one reaper per harness process: it watches what the process started, whatever thread
or scenario started it (see docs/decisions.md).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import IO

__all__ = ["Reaper", "removable", "start_time", "sweep_dead_runs"]

log = logging.getLogger(__name__)

GRACE_S = 3.0  # between the reaper's SIGTERM and its SIGKILL

_CHILD = r"""
import os, shutil, signal, sys, time
def start(pid):
    try:
        text = open(f"/proc/{pid}/stat").read()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()[19]
groups, dirs = {}, set()
for raw in sys.stdin.buffer:
    op, _, rest = raw.decode("utf-8", "replace").rstrip("\n").partition(" ")
    if op == "D":
        dirs.add(rest)
    elif op == "d":
        dirs.discard(rest)
    elif op in ("+", "-"):
        pgid, when = rest.split()
        if op == "+":
            groups[int(pgid)] = when
        else:
            groups.pop(int(pgid), None)
mine = [g for g, when in groups.items() if start(g) == when]
for sig in (signal.SIGTERM, signal.SIGKILL):
    for g in mine:
        try:
            os.killpg(g, sig)
        except OSError:
            pass
    if sig == signal.SIGTERM and mine:
        time.sleep(float(sys.argv[1]))
for d in dirs:
    shutil.rmtree(d, ignore_errors=True)
"""


def start_time(pid: int) -> str | None:
    """When ``pid`` started (clock ticks since boot, ``/proc/PID/stat`` field 22); None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[19] if fields[0] != "Z" else None


def _ledger_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"chaosgate-{os.getuid()}" / "groups"


def _replay(lines: list[str]) -> tuple[dict[int, str], set[Path]]:
    """The groups (pgid -> start time) and directories a ledger's lines leave watched."""
    groups: dict[int, str] = {}
    dirs: set[Path] = set()
    for line in lines:
        op, _, rest = line.partition(" ")
        if op in ("D", "d"):
            path = Path(rest)
            if op == "D" and removable(path):
                dirs.add(path)
            else:
                dirs.discard(path)
            continue
        parts = rest.split()
        if len(parts) != 2 or not parts[0].isdigit():
            continue
        if op == "+":
            groups[int(parts[0])] = parts[1]
        elif op == "-":
            groups.pop(int(parts[0]), None)
    return groups, dirs


def removable(path: Path) -> bool:
    """Only a directory of ours in the temp directory is removed on a ledger's word: the ledger
    is a file, and a file is not trusted to name what to delete."""
    return (
        path.is_absolute()
        and path.parent == Path(tempfile.gettempdir())
        and path.name.startswith("cg-")
        and ".." not in path.parts
        and "\n" not in str(path)
    )


def sweep_dead_runs(directory: Path | None = None) -> list[int]:
    """Kill the groups every dead harness's ledger still lists and remove its temporary
    directories; the groups killed."""
    directory = directory or _ledger_dir()
    killed: list[int] = []
    for ledger in sorted(directory.glob("*.groups")):
        owner, _, when = ledger.stem.partition("-")
        if owner.isdigit() and start_time(int(owner)) == when:
            continue  # its harness is alive: its groups are its own business
        try:
            lines = ledger.read_text().splitlines()
        except OSError:
            continue
        groups, dirs = _replay(lines)
        for pgid, started in groups.items():
            if start_time(pgid) == started:
                with contextlib.suppress(OSError):
                    os.killpg(pgid, signal.SIGKILL)
                    killed.append(pgid)
        for path in dirs:
            shutil.rmtree(path, ignore_errors=True)
        ledger.unlink(missing_ok=True)
    if killed:
        log.warning("stopped %d service(s) a dead chaosgate run left: %s", len(killed), killed)
    return killed


class Reaper:
    """Watches the process groups this harness starts (see the module docstring).

    Parameters:
        directory: where ledgers live (tests pass their own).
        grace_s: the reaper's wait between SIGTERM and SIGKILL.
    """

    _shared: Reaper | None = None
    _shared_lock = threading.Lock()

    def __init__(self, *, directory: Path | None = None, grace_s: float = GRACE_S) -> None:
        self._directory = directory or _ledger_dir()
        self._grace_s = grace_s
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None
        self._ledger: IO[str] | None = None
        self._closed = False

    @classmethod
    def shared(cls) -> Reaper:
        """The reaper of this harness process, created (and dead runs swept) on first use."""
        with cls._shared_lock:
            if cls._shared is None:
                cls._shared = cls()
                atexit.register(cls._shared.close)
            return cls._shared

    def watch(self, pgid: int) -> None:
        """Kill group ``pgid`` if this process dies before :meth:`forget`."""
        self._send("+", pgid)

    def forget(self, pgid: int) -> None:
        """Group ``pgid`` was stopped: stop watching it."""
        self._send("-", pgid)

    def remove_on_death(self, path: Path) -> None:
        """Remove directory ``path`` (a ``cg-*`` directory in the temp directory) if this
        process dies before :meth:`kept`; the groups are killed first."""
        if not removable(path):
            raise ValueError(f"{path} is not a cg-* directory in {tempfile.gettempdir()}")
        self._write(f"D {path}\n")

    def kept(self, path: Path) -> None:
        """Directory ``path`` was removed (or is kept on purpose): stop watching it."""
        self._write(f"d {path}\n")

    def close(self) -> None:
        """End the reaper (it kills what is still watched) and wait for it."""
        with self._lock:
            self._closed = True
            if self._proc is not None and self._proc.stdin is not None:
                with contextlib.suppress(OSError):
                    self._proc.stdin.close()
                try:
                    self._proc.wait(timeout=self._grace_s + 5)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
            if self._ledger is not None:
                self._ledger.close()
                Path(self._ledger.name).unlink(missing_ok=True)
                self._ledger = None

    def _send(self, op: str, pgid: int) -> None:
        when = start_time(pgid)
        if when is None and op == "+":
            return  # already gone
        self._write(f"{op} {pgid} {when or 0}\n")

    def _write(self, line: str) -> None:
        with self._lock:
            if self._closed:
                return
            self._start()
            for stream in (self._ledger, self._proc.stdin if self._proc else None):
                if stream is None:
                    continue
                try:
                    stream.write(line)
                    stream.flush()
                except OSError as exc:  # the reaper died: the ledger still stands guard
                    log.warning("service reaper unavailable (%s); relying on the ledger", exc)

    def _start(self) -> None:
        if self._ledger is None:
            self._directory.mkdir(parents=True, exist_ok=True)
            sweep_dead_runs(self._directory)
            me = os.getpid()
            path = self._directory / f"{me}-{start_time(me)}.groups"
            self._ledger = path.open("a", encoding="utf-8")
        if self._proc is None:
            try:
                self._proc = subprocess.Popen(
                    [sys.executable, "-I", "-c", _CHILD, str(self._grace_s)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    encoding="utf-8",
                    # Its own session: Ctrl-C in the terminal does not reach it first.
                    start_new_session=True,
                )
            except OSError as exc:
                log.warning("service reaper could not start (%s); relying on the ledger", exc)
