"""Benchmark: provisioning time of the full stack, containers vs local processes, in one run.

The stack is provider-outage-alerts' (PostgreSQL, Redis, the fake provider, the notification
capture, the shop API with its migrations, a worker): every kind of service the suite starts
but Toxiproxy, which erp-outage adds here. Rounds alternate the backends so both see the same
machine; the figure to compare is the ratio of medians. Start = until every service passed its
readiness check; stop = until everything is removed.

    python -m benchmarks.provisioning [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from harness.provision.backend import Provisioner
from harness.provision.docker import DockerProvisioner
from harness.provision.local import LocalProvisioner
from harness.scenario import Scenario

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


def full_stack() -> Scenario:
    spec: dict[str, Any] = yaml.safe_load((SCENARIOS / "provider-outage-alerts.yaml").read_text())
    spec["services"]["toxiproxy"] = {"kind": "toxiproxy"}
    spec["proxies"] = {"db-proxy": {"upstream": "db"}}
    for key in ("runbook", "setup", "steady_state", "method", "assertions", "invariants"):
        spec.pop(key, None)
    spec.pop("metrics", None)
    return Scenario.model_validate(spec)


def measure(
    provisioner: Provisioner, scenario: Scenario, base: Path | None = None
) -> tuple[float, float]:
    """Seconds to start ``scenario``'s stack (every service ready) and to stop it again."""
    with tempfile.TemporaryDirectory(prefix="cg-bench-", dir=base) as tmp:
        began = time.perf_counter()
        stack = provisioner.start(scenario, Path(tmp))
        started = time.perf_counter()
        problems = provisioner.stop(stack)
        stopped = time.perf_counter()
    if problems:
        raise SystemExit(f"teardown problems: {problems}")
    return started - began, stopped - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("reports/bench"))
    args = parser.parse_args()
    scenario = full_stack()
    times: dict[str, dict[str, list[float]]] = {
        "local": {"start": [], "stop": []},
        "docker": {"start": [], "stop": []},
    }
    with (
        tempfile.TemporaryDirectory(prefix="cg-bench-prov-") as base,
        LocalProvisioner() as local,
        DockerProvisioner() as docker,
    ):
        backends: dict[str, Provisioner] = {"local": local, "docker": docker}
        for _ in range(args.rounds):
            for name, provisioner in backends.items():
                start_s, stop_s = measure(provisioner, scenario, Path(base))
                times[name]["start"].append(start_s)
                times[name]["stop"].append(stop_s)
    med = {n: {k: statistics.median(v) for k, v in t.items()} for n, t in times.items()}
    result = {
        "stack": sorted(scenario.services),
        "rounds": args.rounds,
        "local_start_s_median": round(med["local"]["start"], 2),
        "docker_start_s_median": round(med["docker"]["start"], 2),
        "local_stop_s_median": round(med["local"]["stop"], 2),
        "docker_stop_s_median": round(med["docker"]["stop"], 2),
        "start_ratio_docker_to_local": round(med["docker"]["start"] / med["local"]["start"], 2),
        "stop_ratio_docker_to_local": round(med["docker"]["stop"] / med["local"]["stop"], 2),
        "samples": {
            n: {k: [round(x, 2) for x in v] for k, v in t.items()} for n, t in times.items()
        },
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "provisioning.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
