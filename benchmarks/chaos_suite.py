"""Benchmark: the whole chaos suite's wall time and the provisioning time of the full stack.

Provisioning is measured on the largest shipped scenario's services (start until every service is
ready, then stop), several times; the suite runs once, as ``chaosgate run`` does. Targets: suite
<= 120 s on 2 cores, provisioning <= 5 s.

    python -m benchmarks.chaos_suite [--repeats 3] [--out reports/bench]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
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


def suite(report_dir: Path) -> dict[str, float | int]:
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
        ],
        check=False,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(
            f"the chaos suite did not pass (exit {done.returncode}):\n{done.stdout[-3000:]}"
        )
    return {"wall_s": elapsed, "scenarios": len(list(SCENARIOS.glob("*.yaml")))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("reports/bench"))
    args = parser.parse_args()
    result = {"provisioning": provisioning(args.repeats)}
    with tempfile.TemporaryDirectory(prefix="cg-bench-suite-") as reports:
        result["suite"] = suite(Path(reports))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "chaos_suite.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    p, s = result["provisioning"], result["suite"]
    print(
        f"provisioning {p['services']} services: {p['start_s_median']:.2f} s median, "
        f"{p['start_s_cold']:.2f} s cold (target 5 s); "
        f"suite of {s['scenarios']} scenarios: {s['wall_s']:.1f} s (target 120 s)"
    )


if __name__ == "__main__":
    main()
