"""What a test started, and whether it is gone — never the machine's whole process list (other
work runs there too)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.provision.process import ManagedProcess

__all__ = ["alive", "descendants", "group_alive", "left_running", "spawned"]


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # after "pid (comm) "


def alive(pid: int | None) -> bool:
    """A process that exists and is not a zombie."""
    if pid is None:
        return False
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def group_alive(pgid: int) -> bool:
    """Some process of the group ``pgid`` is still there (a service's children included)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return any(
        (fields := _stat(int(pid))) is not None and fields[0] != "Z" and int(fields[2]) == pgid
        for pid in filter(str.isdigit, os.listdir("/proc"))
    )


def descendants(pid: int) -> set[int]:
    """Live processes started by ``pid``, and by those, and so on (read from their parents)."""
    parents: dict[int, int] = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        fields = _stat(int(entry))
        if fields is not None and fields[0] != "Z":
            parents[int(entry)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


@pytest.fixture
def spawned(monkeypatch: pytest.MonkeyPatch) -> list[ManagedProcess]:
    """Every process the harness starts in this test (``ManagedProcess.start``), to check that
    each — and its process group — is gone at the end."""
    started: list[ManagedProcess] = []
    original = ManagedProcess.start

    def start(self: ManagedProcess) -> None:
        original(self)
        started.append(self)

    monkeypatch.setattr(ManagedProcess, "start", start)
    return started


def left_running(started: list[ManagedProcess]) -> list[str]:
    """The processes of ``started`` whose process group still has a live member."""
    return [f"{p.name} (pid {p.pid})" for p in started if p.pid is not None and group_alive(p.pid)]
