"""Mutation runs: which untried mutants fit a budget, how the report judges mutmut's results
and the scenarios' evidence, and how service processes hand mutmut the functions they ran."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness import mutation
from harness.mutation import driver, report
from harness.mutation.driver import Candidate

SITE = Path(driver.__file__).parent / "site"


def test_the_budget_is_spread_over_the_modules_and_never_exceeded() -> None:
    untried = [Candidate(f"pkg.a.f__mutmut_{i}", 10.0) for i in range(1, 9)] + [
        Candidate(f"pkg.b.g__mutmut_{i}", 10.0) for i in range(1, 3)
    ]
    plan = driver.choose(untried, budget_s=25, children=2, seed=1)
    # 25 s on 2 children hold five 10 s mutants; b's two are among them (modules in turn)
    assert len(plan.chosen) == 5
    assert sum(c.module == "pkg.b" for c in plan.chosen) == 2
    assert plan.left == 5
    assert plan.estimate_s <= 25
    assert driver.choose(untried, budget_s=25, children=2, seed=1).chosen == plan.chosen
    assert driver.choose(untried, budget_s=25, children=2, seed=2).chosen != plan.chosen


def test_the_clean_pass_over_the_scenarios_a_choice_needs_counts_against_the_budget() -> None:
    untried = [Candidate("pkg.a.f__mutmut_1", 10.0), Candidate("pkg.a.f__mutmut_2", 10.0)]
    tests_of = {c.name: {"scenarios/slow.yaml::slow"} for c in untried}
    plan = driver.choose(
        untried,
        budget_s=30,
        children=1,
        clean_s={"scenarios/slow.yaml::slow": 15.0},
        tests_of=tests_of,
    )
    assert len(plan.chosen) == 1  # 15 s clean + 10 s fits; a second 10 s does not
    assert plan.estimate_s == 25


def test_a_mutant_no_scenario_runs_is_not_tried_but_counted_as_not_covered() -> None:
    plan = driver.choose([Candidate("pkg.a.f__mutmut_1", 0.0)], budget_s=100, children=2)
    assert plan.chosen == [] and [c.name for c in plan.uncovered] == ["pkg.a.f__mutmut_1"]


def _project(tmp_path: Path, codes: dict[str, int | None]) -> Path:
    mutants = tmp_path / "mutants"
    (mutants / "pkg").mkdir(parents=True)
    (mutants / "pkg" / "a.py.meta").write_text(json.dumps({"exit_code_by_key": codes}))
    tests = {
        "pkg.a.x_f": ["scenarios/one.yaml::one", "scenarios/two.yaml::two"],
        "pkg.a.x_g": ["scenarios/two.yaml::two"],
    }
    (mutants / "mutmut-stats.json").write_text(
        json.dumps({"tests_by_mangled_function_name": tests, "duration_by_test": {}})
    )
    evidence = tmp_path / "reports" / "mutation" / "evidence"
    evidence.mkdir(parents=True)
    kill = {"mutant": "pkg.a.x_f__mutmut_1", "scenario": "two", "status": "failed", "failed": []}
    (evidence / "pkg.a.x_f__mutmut_1.jsonl").write_text(json.dumps(kill) + "\n")
    return tmp_path


def test_the_report_scores_kills_against_survivors_and_uncovered_mutants(tmp_path: Path) -> None:
    codes: dict[str, int | None] = {
        "pkg.a.x_f__mutmut_1": 1,  # killed, by scenario two
        "pkg.a.x_f__mutmut_2": 0,  # survived
        "pkg.a.x_g__mutmut_1": 36,  # timed out: killed
        "pkg.a.x_h__mutmut_1": None,  # no scenario runs h
        "pkg.a.x_g__mutmut_2": None,  # not tried yet
    }
    marks = tmp_path / "marks.toml"
    marks.write_text('[promises]\n"pkg/a" = "every delivery is applied once"\n')
    data = report.build(_project(tmp_path, codes), marks, with_diffs=False)
    overall = data["overall"]
    assert (overall["killed"], overall["survived"], overall["not_covered"]) == (2, 1, 1)
    assert overall["not_tried"] == 1 and overall["score"] == 0.5
    # The module: 2 of 3 tried killed, 1 covered untried, 1 not covered: 4/5 covered * 2/3.
    estimate = overall["estimate"]
    assert estimate["score"] == 0.5333 and not estimate["exact"]
    assert estimate["low"] < 0.5333 < estimate["high"]
    assert data["scenarios"]["two"] == {"tried_against": 3, "killed": 1}
    survivors = {s["name"]: s for s in data["survivors"]}
    assert survivors["pkg.a.x_f__mutmut_2"]["promise"] == "every delivery is applied once"
    assert survivors["pkg.a.x_h__mutmut_1"]["status"] == "not covered"
    assert data["killed"][0]["by"]["scenario"] == "two"
    html = report.write(data, tmp_path / "out", tmp_path / "bench")
    assert "pkg.a.x_f__mutmut_2" in html.read_text()
    bench = json.loads((tmp_path / "bench" / "mutation.json").read_text())
    assert bench["overall"]["score"] == 0.5 and "pkg.a.x_f__mutmut_2" in bench["survivors"]


def test_an_equivalent_mark_holds_only_for_the_diff_it_was_made_for(tmp_path: Path) -> None:
    codes: dict[str, int | None] = {"pkg.a.x_f__mutmut_2": 0}
    root = _project(tmp_path, codes)
    marks = tmp_path / "marks.toml"
    sha = report._sha("")  # the diff is left out here (with_diffs=False)
    marks.write_text(
        f'[[equivalent]]\nmutant = "pkg.a.x_f__mutmut_2"\nreason = "same bytes"\n'
        f'diff_sha = "{sha}"\n'
    )
    data = report.build(root, marks, with_diffs=False)
    assert data["survivors"][0]["status"] == "equivalent"
    assert data["survivors"][0]["equivalent"] == "same bytes"
    assert data["overall"]["score"] is None  # nothing left to judge
    marks.write_text(marks.read_text().replace(sha, "0" * 12))  # the mutant changed since
    assert report.build(root, marks, with_diffs=False)["survivors"][0]["status"] == "survived"


def test_a_service_process_records_the_mutated_functions_it_calls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("mutmut")
    from mutmut.state import state

    monkeypatch.setenv(mutation.MUTANT_ENV, "stats")
    watch = mutation.Watch.start("scenarios/one.yaml::one")
    assert watch is not None and watch.hits is not None
    # a process the scenario starts: the environment it inherits, sitecustomize on its path
    code = (
        "from mutmut.mutation import trampoline\n"
        "trampoline.record_trampoline_hit('pkg.a.x_f', caller=None)\n"
        "trampoline.record_trampoline_hit('pkg.a.x_f')\n"
        "import os\n"
        "if os.fork() == 0:\n"
        "    trampoline.record_trampoline_hit('pkg.a.x_g'); os._exit(0)\n"
        "os.wait()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SITE)}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
    assert watch.called() == {"pkg.a.x_f", "pkg.a.x_g"}
    state()._stats.clear()
    record = type("Record", (), {"status": "passed"})()
    watch.done(record, "")  # type: ignore[arg-type]
    assert {"pkg.a.x_f", "pkg.a.x_g"} <= state()._stats
    assert state().duration_by_test["scenarios/one.yaml::one"] > 0
    assert not watch.hits.exists()
    assert mutation.HITS_ENV not in os.environ


def test_outside_a_stats_pass_the_recorder_changes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("mutmut")
    from mutmut.mutation import trampoline

    before = trampoline.record_trampoline_hit
    monkeypatch.setenv(mutation.MUTANT_ENV, "pkg.a.x_f__mutmut_1")
    monkeypatch.setenv(mutation.HITS_ENV, "/nonexistent")
    mutation.install_recorder()
    assert trampoline.record_trampoline_hit is before


def test_overbooking_plans_more_than_the_worst_cases_fit() -> None:
    untried = [Candidate(f"pkg.a.f__mutmut_{i}", 10.0) for i in range(1, 11)]
    assert len(driver.choose(untried, budget_s=20, children=1).chosen) == 2
    assert len(driver.choose(untried, budget_s=20, children=1, overbook=3).chosen) == 6


def test_a_mutants_scenarios_run_shortest_first(tmp_path: Path) -> None:
    stats = tmp_path / "mutmut-stats.json"
    stats.write_text(json.dumps({"duration_by_test": {"s/a.yaml::a": 40.0, "s/b.yaml::b": 12.0}}))
    order = mutation.cheapest_first(["s/a.yaml::a", "s/new.yaml::new", "s/b.yaml::b"], stats)
    assert order == ["s/b.yaml::b", "s/a.yaml::a", "s/new.yaml::new"]
    assert mutation.cheapest_first(["x", "y"], tmp_path / "missing.json") == ["x", "y"]


def test_a_project_without_mutmut_configuration_is_refused_with_what_to_add(
    tmp_path: Path,
) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    argv = [sys.executable, "-m", "harness.mutation", "run", "--root", str(tmp_path)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    assert "has no [tool.mutmut] table" in done.stderr and "Traceback" not in done.stderr


def test_the_report_of_a_project_not_yet_run_says_there_is_no_score(tmp_path: Path) -> None:
    data = report.build(tmp_path, None, with_diffs=False)
    assert data["overall"]["mutants"] == 0 and data["overall"]["score"] is None


def test_the_estimate_is_exact_once_every_covered_mutant_was_tried() -> None:
    figures = {"killed": 9, "survived": 1, "not_covered": 2, "not_tried": 0}
    assert report.estimate([figures]) == {"score": 0.75, "low": 0.75, "high": 0.75, "exact": True}
    assert report.estimate([{**figures, "killed": 0, "survived": 0, "not_tried": 5}]) is None
    sampled = report.estimate([{**figures, "not_tried": 90}])  # 10 of 100 covered tried
    assert sampled is not None and sampled["low"] < 0.9 * 100 / 102 < sampled["high"]
