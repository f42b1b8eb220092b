"""The mutation report: score per module and per scenario, every survivor with its diff and
the promise it breaks, as JSON (``mutation.json``, and the figures in ``reports/bench``) and as
HTML rendered like the run reports.

A mutant counts as *killed* when a scenario failed or errored with it (or it timed out); as
*survived* when every scenario that runs its function passed; as *not covered* when no
scenario runs its function (a promise nothing checks). A survivor marked equivalent in the
marks file (``[[equivalent]]``: mutant, reason) is listed with its reason and left out of the
score, never hidden; the mark holds only while the mutant's diff is the one it was made for.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import time
import tomllib
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.report.formats.html import render_template

__all__ = ["Mutant", "build", "write"]

_KILLED = {"killed", "timeout", "segfault"}


@dataclass
class Mutant:
    name: str
    path: str
    function: str
    status: str  # killed, survived, not covered, not tried, equivalent, or mutmut's word
    scenarios: list[str] = field(default_factory=list)  # those that run its function
    killed_by: list[dict[str, Any]] = field(default_factory=list)  # scenario, checks failed
    diff: str = ""
    diff_sha: str = ""  # what an equivalent mark names, so that a changed mutant loses it
    promise: str = ""
    equivalent: str = ""


def build(root: Path, marks_file: Path | None = None, *, with_diffs: bool = True) -> dict[str, Any]:
    """The report's data, from mutmut's files in ``root/mutants`` and the evidence the
    scenarios left (``root/reports/mutation/evidence``)."""
    from mutmut.stats import status_by_exit_code
    from mutmut.utils.format_utils import mangled_name_from_mutant_name as function_of

    mutants_dir = root / "mutants"
    stats_file = mutants_dir / "mutmut-stats.json"
    stats = json.loads(stats_file.read_text("utf-8")) if stats_file.is_file() else {}
    tests_by_function: dict[str, list[str]] = stats.get("tests_by_mangled_function_name", {})
    marks = _marks(marks_file)
    evidence = root / "reports" / "mutation" / "evidence"
    mutants: list[Mutant] = []
    with contextlib.chdir(root):  # mutmut finds its files (for the diffs) from the project's root
        for meta in sorted(mutants_dir.rglob("*.py.meta")):
            source = str(meta.relative_to(mutants_dir)).removesuffix(".meta")
            codes: dict[str, int | None] = json.loads(meta.read_text("utf-8"))["exit_code_by_key"]
            for name, code in sorted(codes.items()):
                function = function_of(name)
                m = Mutant(name, source, function.rsplit(".", 1)[-1], status_by_exit_code[code])
                m.scenarios = [
                    t.split("::")[-1] for t in sorted(tests_by_function.get(function, []))
                ]
                m.killed_by = _evidence(evidence / f"{name}.jsonl")
                m.promise = _promise(source, marks)
                mutants.append(_judge(m, marks["equivalent"].get(name), with_diffs=with_diffs))
    return _summary(mutants)


def _judge(m: Mutant, mark: dict[str, str] | None, *, with_diffs: bool) -> Mutant:
    """``m`` with mutmut's word for it (``m.status``) turned into the report's, and the diff
    of a mutant the report shows."""
    status = {"no tests": "not covered", "not checked": "not tried"}.get(m.status, m.status)
    if status == "not tried" and not m.scenarios:
        status = "not covered"  # no scenario runs its function
    m.status = status
    if status in ("survived", "not covered") or mark is not None:
        m.diff = _diff(m.name) if with_diffs else ""
        m.diff_sha = _sha(m.diff)
        if mark and mark["diff_sha"] in ("", m.diff_sha) and status == "survived":
            m.status, m.equivalent = "equivalent", mark["reason"]
    return m


def _summary(mutants: list[Mutant]) -> dict[str, Any]:
    def score(group: list[Mutant]) -> dict[str, Any]:
        counts = Counter(m.status for m in group)
        killed = sum(counts[s] for s in _KILLED)
        judged = killed + counts["survived"] + counts["not covered"]
        return {
            "mutants": len(group),
            "tried": len(group) - counts["not tried"],
            "killed": killed,
            "survived": counts["survived"],
            "not_covered": counts["not covered"],
            "equivalent": counts["equivalent"],
            "not_tried": counts["not tried"],
            "score": round(killed / judged, 4) if judged else None,
        }

    by_module: dict[str, list[Mutant]] = defaultdict(list)
    for m in mutants:
        by_module[m.path].append(m)
    modules = {path: score(group) for path, group in sorted(by_module.items())}
    overall = score(mutants)
    overall["estimate"] = estimate(list(modules.values()))
    for figures in modules.values():
        figures["estimate"] = estimate([figures])
    by_scenario: dict[str, dict[str, int]] = defaultdict(lambda: {"tried_against": 0, "killed": 0})
    for m in mutants:
        if m.status not in ("not tried", "not covered"):
            for s in m.scenarios:
                by_scenario[s]["tried_against"] += 1
        for k in m.killed_by[:1]:  # scenarios stop at the first failure (-x): that one killed it
            by_scenario[k["scenario"]]["killed"] += 1
    return {
        "generated_at": time.time(),
        "overall": overall,
        "modules": modules,
        "scenarios": dict(sorted(by_scenario.items())),
        "survivors": [
            asdict(m) for m in mutants if m.status in ("survived", "not covered", "equivalent")
        ],
        "killed": [
            {"name": m.name, "by": _first(m.killed_by)} for m in mutants if m.status in _KILLED
        ],
    }


def estimate(modules: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The score of every mutant, estimated from those tried, with a 95% interval.

    Whether a mutant is covered is known for all of them (no run needed); whether a covered
    one is killed only for those tried. Within each module the tried ones are a random sample
    of its covered ones, so the module's kill rate stands for all its covered mutants, and
    modules weigh by how many they have: the estimate is the share of judged mutants (killed,
    survived, not covered, not tried; equivalents left out) that would be killed, the
    interval the normal approximation over the modules' sampling variances (Wilson's for a
    single module). Exact (an interval of zero width) once every covered mutant was tried;
    ``None`` while a module with covered mutants has none tried."""
    total = sum(m["killed"] + m["survived"] + m["not_covered"] + m["not_tried"] for m in modules)
    if total == 0:
        return None
    value = variance = 0.0
    for m in modules:
        tried = m["killed"] + m["survived"]
        covered = tried + m["not_tried"]
        if covered == 0:
            continue
        if tried == 0:
            return None
        rate, weight = m["killed"] / tried, covered / total
        value += weight * rate
        left = m["not_tried"] / covered  # finite population: nothing is unknown once all tried
        variance += weight**2 * rate * (1 - rate) / tried * left
    half = 1.96 * math.sqrt(variance)
    if len(modules) == 1 and variance > 0:  # Wilson, better behaved near 0 and 1
        m = modules[0]
        tried = m["killed"] + m["survived"]
        weight = (tried + m["not_tried"]) / total
        low, high = _wilson(m["killed"], tried)
        low, high = weight * low, weight * high
    else:
        low, high = value - half, value + half
    return {
        "score": round(value, 4),
        "low": round(max(0.0, low), 4),
        "high": round(min(1.0, high), 4),
        "exact": variance == 0,
    }


def _wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def write(report: dict[str, Any], out_dir: Path, bench_dir: Path | None = None) -> Path:
    """``mutation.json`` and ``mutation.html`` in ``out_dir``; the figures in ``bench_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "mutation.json").write_text(json.dumps(report, indent=2), "utf-8")
    html = out_dir / "mutation.html"
    html.write_text(render_template("mutation.html.j2", report=report), "utf-8")
    if bench_dir is not None:
        bench_dir.mkdir(parents=True, exist_ok=True)
        figures = {
            "benchmark": "mutation",
            "overall": report["overall"],
            "modules": report["modules"],
            "survivors": [s["name"] for s in report["survivors"]],
        }
        (bench_dir / "mutation.json").write_text(json.dumps(figures, indent=2), "utf-8")
    return html


def _first(kills: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The scenario that killed a mutant and the first checks that failed with it."""
    if not kills:
        return None
    k = kills[0]
    return {"scenario": k["scenario"], "status": k["status"], "failed": k["failed"][:5]}


def _marks(path: Path | None) -> dict[str, Any]:
    """Equivalent mutants and the promise each module carries, from the marks file."""
    data: dict[str, Any] = {}
    if path is not None and path.is_file():
        data = tomllib.loads(path.read_text("utf-8"))
    equivalent = {
        e["mutant"]: {"reason": e["reason"], "diff_sha": e.get("diff_sha", "")}
        for e in data.get("equivalent", [])
    }
    return {"equivalent": equivalent, "promises": data.get("promises", {})}


def _promise(source: str, marks: dict[str, Any]) -> str:
    """The promise of the longest prefix of ``source`` the marks file names."""
    best = ""
    for prefix in marks["promises"]:
        if source.startswith(prefix) and len(prefix) > len(best):
            best = prefix
    return str(marks["promises"].get(best, ""))


def _evidence(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def _diff(name: str) -> str:
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    try:
        return str(get_diff_for_mutant(name))
    except Exception as exc:  # a mutant whose source changed since: say so, keep the rest
        return f"(no diff: {exc})"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]
