"""A mutation run within a time budget, resumable: which mutants to try next, and mutmut run on
them with a deadline.

mutmut keeps each mutant's result in ``mutants/<module>.py.meta`` and its map of which tests
(here: scenarios) execute which function in ``mutants/mutmut-stats.json``; a later run reuses
both and tries only the mutants without a result. The budget is spent on a sample spread over
the modules (a seeded shuffle within each, taken in turn), so a partial run estimates the score
of all of them rather than of the cheapest functions.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tomllib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.mutation import EVIDENCE_ENV
from harness.provision.reaper import Reaper

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "Candidate",
    "Plan",
    "choose",
    "environment",
    "mutmut_config",
    "mutmut_program",
    "prepare",
    "results",
    "run",
]

SITE = Path(__file__).parent / "site"  # sitecustomize.py for the service processes
STOP_TIMEOUT_S = 120.0  # for mutmut to write its results after SIGINT
_ESTIMATE = re.compile(r"^(?:<no tests>|(?P<ms>\d+)ms) (?P<name>\S+)$")


@dataclass(frozen=True)
class Candidate:
    """A mutant without a result: its name and its worst-case cost (every scenario that runs
    its function, all passing), 0 when no scenario runs it."""

    name: str
    seconds: float

    @property
    def module(self) -> str:
        return self.name.rsplit(".", 1)[0]


@dataclass(frozen=True)
class Plan:
    chosen: list[Candidate]
    uncovered: list[Candidate]  # no scenario runs their function: recorded as "no tests"
    left: int  # untried mutants that do not fit this budget
    estimate_s: float


def environment(root: Path, evidence: Path) -> dict[str, str]:
    """mutmut's environment: the mutated copy first on ``PYTHONPATH`` for every process the
    scenarios start, then the recorder of the functions they call."""
    path = [str(root / "mutants"), str(SITE)]
    if os.environ.get("PYTHONPATH"):
        path.append(os.environ["PYTHONPATH"])
    return {**os.environ, "PYTHONPATH": os.pathsep.join(path), EVIDENCE_ENV: str(evidence)}


def prepare(root: Path, env: dict[str, str], max_children: int) -> dict[str, float]:
    """Write (or refresh, for changed sources) the mutated copy in ``root/mutants`` and return
    every mutant's worst-case seconds, from mutmut's map of which scenarios run which function
    (its stats pass, run now if there is none: the whole suite once, on the clean code).

    Both happen in one process, as in ``mutmut run``: mutmut keeps only the map entries of
    functions its generation saw in the same process. A changed ``[tool.mutmut]`` starts
    afresh: mutmut would keep as "already mutated" a file it had only copied under the old one.
    """
    config = json.dumps(mutmut_config(root) or {}, sort_keys=True)
    seen = root / "mutants" / ".chaosgate-config"
    if seen.is_file() and seen.read_text("utf-8") != config:
        print("mutation: [tool.mutmut] changed since the last run: its results are discarded")
        shutil.rmtree(root / "mutants")
    code = (
        "import mutmut.__main__ as m\n"
        "m.set_mutant_under_test('mutant_generation')\n"
        "m.makedirs(m.Path('mutants'), exist_ok=True)\n"
        "m.copy_src_dir(); m.copy_also_copy_files(); m.setup_source_paths()\n"
        f"print(m.create_mutants({max_children}), flush=True)\n"
        "m.print_time_estimates.callback(())\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    with _supervised(process):
        stdout, _ = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"mutmut could not map the scenarios:\n{stdout[-4000:]}")
    (root / "mutants").mkdir(exist_ok=True)
    seen.write_text(config, "utf-8")
    found: dict[str, float] = {}
    for line in stdout.splitlines():
        match = _ESTIMATE.match(line.strip().rpartition("\r")[2])
        if match:
            found[match["name"]] = int(match["ms"]) / 1000 if match["ms"] else 0.0
    return found


def results(root: Path) -> dict[str, int | None]:
    """Every mutant's exit code so far (``None``: not tried), from mutmut's meta files."""
    codes: dict[str, int | None] = {}
    for meta in sorted((root / "mutants").rglob("*.py.meta")):
        codes.update(json.loads(meta.read_text("utf-8")).get("exit_code_by_key", {}))
    return codes


def choose(
    untried: list[Candidate],
    *,
    budget_s: float,
    children: int,
    clean_s: dict[str, float] | None = None,
    tests_of: dict[str, set[str]] | None = None,
    seed: int = 0,
    overbook: float = 1.0,
) -> Plan:
    """The untried mutants that fit ``budget_s``: modules in turn, a seeded shuffle within
    each. The cost of a choice is the clean pass over the scenarios it needs (one after
    another, as mutmut runs it) plus its mutants' worst cases shared by ``children``, the
    worst cases taken at ``1 / overbook``: most mutants die in their first scenario, and the
    deadline, not the plan, is what keeps the budget (what does not finish stays untried)."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible sample, not a secret
    uncovered = [c for c in untried if c.seconds == 0]
    by_module: dict[str, list[Candidate]] = defaultdict(list)
    for c in sorted(untried, key=lambda c: c.name):
        if c.seconds > 0:
            by_module[c.module].append(c)
    for group in by_module.values():
        rng.shuffle(group)
    queues = [by_module[m] for m in sorted(by_module)]
    chosen: list[Candidate] = []
    scenarios: set[str] = set()
    work = 0.0
    clean_s = clean_s or {}
    tests_of = tests_of or {}

    def cost(extra: Candidate | None) -> float:
        names = scenarios | (tests_of.get(extra.name, set()) if extra else set())
        clean = sum(clean_s.get(s, 0.0) for s in names)
        mutants = work + (extra.seconds if extra else 0.0)
        return clean + mutants / max(1, children) / max(overbook, 1e-9)

    skipped = 0
    while any(queues):
        for queue in queues:
            if not queue:
                continue
            candidate = queue.pop()
            if cost(candidate) <= budget_s:
                chosen.append(candidate)
                work += candidate.seconds
                scenarios |= tests_of.get(candidate.name, set())
            else:
                skipped += 1
    return Plan(chosen, uncovered, skipped, cost(None))


def run(
    root: Path, names: list[str], *, env: dict[str, str], children: int, deadline_s: float
) -> int:
    """``mutmut run`` on ``names``, stopped like Ctrl-C at ``deadline_s`` (what finished is
    kept; the rest stays untried for the next run). Returns mutmut's exit code."""
    argv = [mutmut_program() or "mutmut", "run", "--max-children", str(children), *names]
    process = subprocess.Popen(argv, cwd=root, env=env, start_new_session=True)
    with _supervised(process):
        try:
            return process.wait(timeout=deadline_s)
        except subprocess.TimeoutExpired:
            print(
                f"mutation: the budget ({deadline_s:.0f} s) is spent; stopping mutmut", flush=True
            )
            _stop(process)
            return process.wait()


@contextlib.contextmanager
def _supervised(process: subprocess.Popen[str] | subprocess.Popen[bytes]) -> Iterator[None]:
    """mutmut and everything it starts (pytest, the services) is one process group: the shared
    reaper kills it if this process dies, Ctrl-C stops it as the deadline does, and nothing of
    it outlives the block."""
    reaper = Reaper.shared()
    reaper.watch(process.pid)
    try:
        yield
    except KeyboardInterrupt:
        _stop(process)
        raise
    finally:
        _signal(process.pid, signal.SIGKILL)  # what is left of the group once its leader ended
        process.wait()
        reaper.forget(process.pid)


def _stop(process: subprocess.Popen[str] | subprocess.Popen[bytes]) -> None:
    """SIGINT, as Ctrl-C would be: mutmut writes what finished. SIGKILL after two minutes."""
    _signal(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        _signal(process.pid, signal.SIGKILL)


def _signal(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def mutmut_program() -> str | None:
    """mutmut's command: beside this Python (its venv), else on ``PATH``; ``None`` if neither."""
    beside = Path(sys.executable).with_name("mutmut")
    return str(beside) if beside.exists() else shutil.which("mutmut")


def mutmut_config(root: Path) -> dict[str, object] | None:
    """``[tool.mutmut]`` of ``root/pyproject.toml``; ``None`` when there is none (or the file
    cannot be read as TOML)."""
    try:
        data = tomllib.loads((root / "pyproject.toml").read_text("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    table = data.get("tool", {}).get("mutmut")
    return table if isinstance(table, dict) else None
