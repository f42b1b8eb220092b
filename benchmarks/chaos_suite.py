"""Benchmark: the whole chaos suite's wall time and the provisioning time of the full stack.

Provisioning is measured on the largest shipped scenario's services (start until every service is
ready, then stop), several times. The suite runs twice in the same session on the same seed, one
scenario at a time and ``--jobs auto``: both wall times, their ratio, and whether every scenario
got the same verdict. Targets: parallel <= 0.4x serial and <= 120 s on 2 cores, provisioning <= 5 s.

    python -m benchmarks.chaos_suite [--repeats 3] [--seed 7] [--jobs auto] [--out reports/bench]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.provisioning import measure
from harness.provision.local import LocalProvisioner
from harness.scenario import load_scenarios

SCENARIOS = Path("scenarios")


def provisioning(repeats: int) -> dict[str, float | str]:
    loaded, broken = load_scenarios([SCENARIOS])
    if broken:
        raise SystemExit(f"broken scenario files: {[str(b) for b in broken]}")
    biggest = max(loaded, key=lambda item: len(item.scenario.services)).scenario
    starts, stops = [], []
    # One provisioner, as in a run: the first start makes the PostgreSQL template (cold), the
    # others copy it (warm, what every later scenario of a run pays).
    with LocalProvisioner() as provisioner:
        for _ in range(repeats + 1):
            start_s, stop_s = measure(provisioner, biggest)
            starts.append(start_s)
            stops.append(stop_s)
    return {
        "scenario": biggest.id,
        "services": len(biggest.services),
        "start_s_cold": starts[0],
        "start_s_median": statistics.median(starts[1:]),
        "start_s_max": max(starts[1:]),
        "stop_s_median": statistics.median(stops),
    }


def suite(report_dir: Path, *, jobs: str, seed: int) -> dict[str, object]:
    """One ``chaosgate run`` of the shipped suite: wall time and each scenario's verdict."""
    began = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "run",
            str(SCENARIOS),
            "--report-dir",
            str(report_dir),
            "--seed",
            str(seed),
            "--jobs",
            jobs,
        ],
        check=False,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - began
    journals = sorted(report_dir.glob("*/journal.json"))
    verdicts: dict[str, str] = {}
    if journals:
        journal = json.loads(journals[-1].read_text())
        verdicts = {s["id"]: s["status"] for s in journal["scenarios"]}
    return {
        "jobs": jobs,
        "wall_s": elapsed,
        "exit_code": done.returncode,
        "scenarios": len(verdicts),
        "verdicts": verdicts,
        "output_tail": done.stdout[-3000:] if done.returncode else "",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--jobs", default="auto", help="the parallel run's --jobs (auto)")
    parser.add_argument("--out", type=Path, default=Path("reports/bench"))
    args = parser.parse_args()
    result: dict[str, object] = {"provisioning": provisioning(args.repeats)}
    runs = {}
    for name, jobs in (("serial", "1"), ("parallel", args.jobs)):
        reports = args.out / "chaos_suite" / name  # kept: a differing verdict is read there
        shutil.rmtree(reports, ignore_errors=True)
        reports.mkdir(parents=True)
        runs[name] = suite(reports, jobs=jobs, seed=args.seed)
    serial, parallel = runs["serial"], runs["parallel"]
    result["suite"] = {
        "seed": args.seed,
        "serial": serial,
        "parallel": parallel,
        "parallel_to_serial": parallel["wall_s"] / serial["wall_s"],  # type: ignore[operator]
        "same_verdicts": serial["verdicts"] == parallel["verdicts"],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "chaos_suite.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    p = result["provisioning"]
    s = result["suite"]
    assert isinstance(p, dict)
    assert isinstance(s, dict)
    print(
        f"provisioning {p['services']} services: {p['start_s_median']:.2f} s median, "
        f"{p['start_s_cold']:.2f} s cold (target 5 s); suite of {serial['scenarios']} scenarios, "
        f"seed {args.seed}: serial {serial['wall_s']:.1f} s, --jobs {args.jobs} "
        f"{parallel['wall_s']:.1f} s = {s['parallel_to_serial']:.2f}x (target <= 0.4x, <= 120 s); "
        f"same verdicts: {s['same_verdicts']}"
    )
    for name, run in runs.items():
        if run["exit_code"] != 0:
            raise SystemExit(
                f"the {name} suite did not pass (exit {run['exit_code']}):\n{run['output_tail']}"
            )
    if not s["same_verdicts"]:
        raise SystemExit("serial and parallel runs gave different verdicts")


if __name__ == "__main__":
    main()
