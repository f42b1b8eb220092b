"""Benchmark: one experiment run both ways on the same machine in one run — Chaos Toolkit
(``chaostoolkit`` with ``chaostoolkit-toxiproxy``) and chaosgate.

The experiment: the reference shop (SQLite, Redis behind a Toxiproxy proxy), a steady-state
HTTP probe of ``/health``, Redis cut for ``--cut`` seconds, Redis restored, the probe again,
and a rollback that restores the proxy. Chaos Toolkit runs against a stack this script starts
(it provisions nothing); chaosgate provisions its own stack from a scenario and tears it down,
so its figure is also given without provisioning (up to the method's start, from its journal).
The harness's overhead is wall time minus the experiment's declared waits; the ratio of the two
overheads is the comparable figure on a shared machine. Rounds alternate the two tools.

    pip install chaostoolkit chaostoolkit-toxiproxy
    python -m benchmarks.chaostoolkit_compare [--rounds 3] [--cut 3] [--chaos PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from harness.provision.binaries import find_binary
from harness.provision.process import ManagedProcess, free_port, http_ok

HOST = "127.0.0.1"

SCENARIO = """\
id: redis-cut
title: Redis cut behind Toxiproxy, health probed before and after
services:
  redis: {{kind: redis}}
  toxiproxy: {{kind: toxiproxy}}
  api:
    command: [shop, serve, --migrate, --port, "${{services.api.port}}"]
    env:
      DATABASE_URL: "sqlite:///${{run.dir}}/shop.db"
      REDIS_URL: "${{proxies.cache.url}}"
      SHOP_REDIS_SOCKET_TIMEOUT_S: "0.5"
      SHOP_HEALTH_TIMEOUT_S: "1"
    ready: {{http: /health/live}}
proxies:
  cache: {{upstream: redis}}
steady_state:
  - name: the shop is healthy
    probe: {{type: http, service: api, path: /health}}
    expect: {{equals: 200}}
method:
  - name: Redis cut
    at_s: 0
    duration_s: {cut}
    fault: {{type: proxy_down, proxy: cache}}
"""


def experiment(api: str, toxiproxy_port: int, cut_s: float) -> dict[str, object]:
    def proxy(func: str) -> dict[str, object]:
        return {
            "type": "python",
            "module": "chaostoxi.proxy.actions",
            "func": func,
            "arguments": {"proxy_name": "cache"},
        }

    health = {
        "type": "probe",
        "name": "the shop is healthy",
        "tolerance": 200,
        "provider": {"type": "http", "url": f"{api}/health", "timeout": 3},
    }
    return {
        "version": "1.0.0",
        "title": "Redis cut behind Toxiproxy, health probed before and after",
        "description": "The same experiment as the chaosgate scenario beside it.",
        "configuration": {"toxiproxy_host": HOST, "toxiproxy_port": toxiproxy_port},
        "steady-state-hypothesis": {"title": "healthy", "probes": [health]},
        "method": [
            {
                "type": "action",
                "name": "Redis cut",
                "provider": proxy("disable_proxy"),
                "pauses": {"after": cut_s},
            },
            {"type": "action", "name": "Redis restored", "provider": proxy("enable_proxy")},
        ],
        "rollbacks": [{"type": "action", "name": "restore", "provider": proxy("enable_proxy")}],
    }


@contextlib.contextmanager
def stack(directory: Path) -> Iterator[tuple[str, int]]:
    """Redis, Toxiproxy with a ``cache`` proxy in front of it, and the shop: (api URL, toxiproxy
    port). Everything started here is stopped on the way out (and by the reaper if this dies)."""
    redis_port, toxi_port, cache_port, api_port = (free_port() for _ in range(4))
    processes: list[ManagedProcess] = []

    def start(name: str, argv: list[str], ready_url: str | None, **env: str) -> None:
        process = ManagedProcess(name, argv, log_path=directory / f"{name}.log", env=env)
        processes.append(process)
        process.start()
        if ready_url is not None:
            process.wait_ready(lambda: http_ok(ready_url), timeout_s=30, describe=ready_url)

    toxiproxy = f"http://{HOST}:{toxi_port}"
    try:
        start(
            "redis",
            [str(find_binary("redis-server")), "--port", str(redis_port), "--save", ""],
            None,
        )
        start(
            "toxiproxy",
            [str(find_binary("toxiproxy-server")), "-host", HOST, "-port", str(toxi_port)],
            f"{toxiproxy}/version",
        )
        httpx.post(
            f"{toxiproxy}/proxies",
            json={
                "name": "cache",
                "listen": f"{HOST}:{cache_port}",
                "upstream": f"{HOST}:{redis_port}",
            },
        ).raise_for_status()
        api = f"http://{HOST}:{api_port}"
        start(
            "api",
            ["shop", "serve", "--migrate", "--port", str(api_port)],
            f"{api}/health/live",
            DATABASE_URL=f"sqlite:///{directory}/shop.db",
            REDIS_URL=f"redis://{HOST}:{cache_port}/0",
            SHOP_REDIS_SOCKET_TIMEOUT_S="0.5",
            SHOP_HEALTH_TIMEOUT_S="1",
        )
        yield api, toxi_port
    finally:
        for process in reversed(processes):
            process.stop()


def run_chaostoolkit(chaos: str, directory: Path, api: str, toxi_port: int, cut_s: float) -> float:
    path = directory / "experiment.json"
    path.write_text(json.dumps(experiment(api, toxi_port, cut_s), indent=2))
    journal = directory / "journal.json"
    began = time.perf_counter()
    subprocess.run(
        [chaos, "--no-version-check", "run", "--journal-path", str(journal), str(path)],
        check=False,
        capture_output=True,
        cwd=directory,
    )
    wall = time.perf_counter() - began
    status = json.loads(journal.read_text()).get("status")
    if status != "completed":
        raise SystemExit(f"Chaos Toolkit's run ended {status!r} (journal in {journal})")
    return wall


def run_chaosgate(directory: Path, cut_s: float) -> tuple[float, float]:
    """(wall time, the scenario's own time from the method's start to its end)."""
    scenario = directory / "redis-cut.yaml"
    scenario.write_text(SCENARIO.format(cut=cut_s))
    reports = directory / "reports"
    began = time.perf_counter()
    done = subprocess.run(
        ["chaosgate", "run", str(scenario), "--report-dir", str(reports)],
        check=False,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"chaosgate's run failed (exit {done.returncode}):\n{done.stdout[-2000:]}")
    (journal,) = reports.glob("run-*/journal.json")
    record = json.loads(journal.read_text())["scenarios"][0]
    return wall, float(record["duration_s"]) - float(record["method_started_s"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cut", type=float, default=3.0, help="seconds Redis is cut")
    parser.add_argument("--chaos", default=shutil.which("chaos") or "chaos")
    parser.add_argument("--out", type=Path, default=Path("reports/bench"))
    args = parser.parse_args()
    if shutil.which(args.chaos) is None:
        raise SystemExit("chaos is not installed: pip install chaostoolkit chaostoolkit-toxiproxy")
    ctk, gate, gate_method, stack_start = [], [], [], []
    for _ in range(args.rounds):  # alternate, so both see the same machine
        with tempfile.TemporaryDirectory(prefix="cg-bench-ctk-") as tmp:
            began = time.perf_counter()
            with stack(Path(tmp)) as (api, toxi_port):
                stack_start.append(time.perf_counter() - began)
                ctk.append(run_chaostoolkit(args.chaos, Path(tmp), api, toxi_port, args.cut))
        with tempfile.TemporaryDirectory(prefix="cg-bench-gate-") as tmp:
            wall, from_method = run_chaosgate(Path(tmp), args.cut)
            gate.append(wall)
            gate_method.append(from_method)
    med = {name: statistics.median(v) for name, v in (("ctk", ctk), ("gate", gate))}
    method_only = statistics.median(gate_method)
    overhead = {
        "chaostoolkit_s": round(med["ctk"] - args.cut, 3),
        "chaosgate_s": round(med["gate"] - args.cut, 3),
        "chaosgate_without_provisioning_s": round(method_only - args.cut, 3),
    }
    result = {
        "rounds": args.rounds,
        "declared_waits_s": args.cut,
        "wall_s": {
            "chaostoolkit": round(med["ctk"], 3),
            "chaosgate": round(med["gate"], 3),
            "chaosgate_from_method_start": round(method_only, 3),
            "same_stack_started_by_hand": round(statistics.median(stack_start), 3),
        },
        "overhead_s": overhead,
        "overhead_ratio_chaosgate_to_chaostoolkit": round(
            overhead["chaosgate_s"] / overhead["chaostoolkit_s"], 2
        ),
        "overhead_ratio_without_provisioning": round(
            overhead["chaosgate_without_provisioning_s"] / overhead["chaostoolkit_s"], 2
        ),
        "note": "Chaos Toolkit runs on a stack started beforehand; chaosgate starts and stops "
        "its own (its provisioning is in its wall time, not in the 'from method start' figure)",
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "chaostoolkit_compare.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
