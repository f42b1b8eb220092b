"""Mutation testing of a system with its chaos scenarios as the killing tests.

mutmut writes every mutant of a module into one copy of it (``mutants/``) and picks the one
that is active from ``MUTANT_UNDER_TEST`` on every call of a mutated function. The system under
test runs as processes the harness starts, and they inherit its environment: with the copy
first on ``PYTHONPATH``, every service process and every runbook command of a scenario runs the
mutant under test. mutmut runs the scenarios through the pytest plugin, in its own process;
three things it learns there need help across the process boundary, and this module gives it:

- **which scenarios execute a function.** In its ``stats`` pass mutmut records the functions a
  test calls, in the process that calls them. ``site/sitecustomize.py`` (on ``PYTHONPATH``)
  makes every service process append the names it calls to a file of its own, and
  :func:`watch` hands them to mutmut when the scenario ends: a mutant is then tried only
  against the scenarios whose services ran its function.
- **how long a scenario takes.** mutmut times a test's call; a scenario runs in the item's
  set-up, so its duration is added here (mutmut's timeouts are multiples of it).
- **which scenario and check killed a mutant**, kept as JSON lines per mutant
  (``CHAOSGATE_MUTATION_EVIDENCE``) for the mutation report.

The pytest plugin imports this module in every session, so it needs only the standard library;
mutmut is imported only inside a mutation run.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.journal import ScenarioRecord

__all__ = [
    "EVIDENCE_ENV",
    "HITS_ENV",
    "MUTANT_ENV",
    "Watch",
    "active",
    "cheapest_first",
    "install_recorder",
    "is_mutant",
]

MUTANT_ENV = "MUTANT_UNDER_TEST"  # mutmut's: "stats", "fail", "" or module.function__mutmut_N
HITS_ENV = "CHAOSGATE_MUTATION_HITS"  # where service processes write the functions they ran
EVIDENCE_ENV = "CHAOSGATE_MUTATION_EVIDENCE"  # where a mutant's failing scenarios are kept


def active() -> str | None:
    """The mutant under test, ``stats`` or ``fail`` in a mutation run; ``None`` outside one."""
    return os.environ.get(MUTANT_ENV)


def is_mutant(name: str | None) -> bool:
    """Whether ``name`` (from :func:`active`) is a mutant, not one of mutmut's passes."""
    return bool(name) and name not in ("stats", "fail", "mutant_generation")


def install_recorder() -> None:
    """In a service process of a ``stats`` pass: record each mutated function it calls, once,
    in ``$CHAOSGATE_MUTATION_HITS/<pid>.hits`` (mutmut's own recorder needs its configuration,
    which only its process has). A forked child writes to a file of its own."""
    directory = os.environ.get(HITS_ENV)
    if active() != "stats" or not directory:
        return
    try:
        from mutmut.mutation import trampoline
    except ImportError:  # the service runs without mutmut: it runs no mutated code either
        return
    seen: set[str] = set()
    lock = threading.Lock()

    def record(name: str, caller: str | None = None) -> None:
        if name in seen:
            return
        with lock:
            if name in seen:
                return
            seen.add(name)
            with (Path(directory) / f"{os.getpid()}.hits").open("a", encoding="utf-8") as out:
                out.write(name + "\n")

    trampoline.record_trampoline_hit = record  # type: ignore[attr-defined]  # not exported


def cheapest_first(nodeids: list[str], stats: Path = Path("mutmut-stats.json")) -> list[str]:
    """A mutant's scenarios in the order to run them: shortest first, by the durations of the
    stats pass (mutmut runs the scenarios of a mutant with ``-x``, so a mutant that the short
    ones kill costs only those). Unknown ones keep their place at the end."""
    try:
        durations = json.loads(stats.read_text("utf-8")).get("duration_by_test", {})
    except (OSError, ValueError):
        return nodeids
    return sorted(nodeids, key=lambda n: durations.get(n, float("inf")))


@dataclass
class Watch:
    """One scenario of a mutation run, from its start to its record."""

    nodeid: str
    mutant: str
    started: float = field(default_factory=time.monotonic)
    hits: Path | None = None

    @classmethod
    def start(cls, nodeid: str) -> Watch | None:
        """``None`` outside a mutation run; in a ``stats`` pass, a fresh directory for the
        service processes' hits, named to them through the environment they inherit."""
        mutant = active()
        if mutant is None:
            return None
        watch = cls(nodeid, mutant)
        if mutant == "stats":
            watch.hits = Path(tempfile.mkdtemp(prefix="chaosgate-hits-"))
            os.environ[HITS_ENV] = str(watch.hits)
        return watch

    def done(self, record: ScenarioRecord, explanation: str) -> None:
        if self.mutant == "stats":
            self._hand_to_mutmut()
        elif is_mutant(self.mutant) and record.status != "passed":
            self._keep_evidence(record, explanation)

    def called(self) -> set[str]:
        """The mutated functions the scenario's processes called (``stats`` pass)."""
        names: set[str] = set()
        if self.hits is not None:
            for path in self.hits.glob("*.hits"):
                names.update(line for line in path.read_text("utf-8").splitlines() if line)
        return names

    def _hand_to_mutmut(self) -> None:
        from mutmut.state import state

        os.environ.pop(HITS_ENV, None)
        state()._stats.update(self.called())
        # mutmut times the call phase only; the scenario ran in the set-up
        durations = state().duration_by_test
        durations[self.nodeid] = durations.get(self.nodeid, 0.0) + time.monotonic() - self.started
        if self.hits is not None:
            shutil.rmtree(self.hits, ignore_errors=True)

    def _keep_evidence(self, record: ScenarioRecord, explanation: str) -> None:
        directory = Path(os.environ.get(EVIDENCE_ENV) or "mutation-evidence")
        directory.mkdir(parents=True, exist_ok=True)
        line = {
            "mutant": self.mutant,
            "scenario": record.id,
            "status": record.status,
            "reason": record.reason,
            "failed": explanation.splitlines()[1:],
            "seconds": round(time.monotonic() - self.started, 1),
        }
        with (directory / f"{self.mutant}.jsonl").open("a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")
