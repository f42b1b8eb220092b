"""Benchmark: the largest order flood the reference stack absorbs — depth <= 2000 and nothing lost.

Runs ``scenarios/order-flood.yaml`` with the plan's production policy (100 fulfilments / 60 s,
backpressure above 1500 until 1000, CRITICAL above 2000) at rising rates of paid orders per
minute, each for ``--seconds``. A rate is absorbed when every request is answered (201 or 429
with Retry-After; no failure), the orders queue never exceeds 2000, and at the end every paid
order still has its fulfilment job (paid, unfulfilled orders == jobs waiting). Stops at the first
rate that is not absorbed. Locust and the stack share the machine: the load evidence gives the
rate actually achieved (requests: one per refused order, two per accepted and paid one).

    python -m benchmarks.order_flood [--rates 500,1000,2000,5000] [--seconds 30]
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from harness.provision.local import LocalProvisioner
from harness.run import ScenarioRunner
from harness.scenario.loader import LoadedScenario
from harness.scenario.model import Scenario

SCENARIO = Path("scenarios/order-flood.yaml")
POLICY = {
    "SHOP_ORDERS_RATE_LIMIT": "100",
    "SHOP_ORDERS_RATE_WINDOW_S": "60",
    "SHOP_BACKPRESSURE_HIGH": "1500",
    "SHOP_BACKPRESSURE_LOW": "1000",
    "SHOP_BACKPRESSURE_RETRY_AFTER_S": "30",
    "SHOP_QUEUE_WARN_DEPTH": "1000",
    "SHOP_QUEUE_CRITICAL_DEPTH": "2000",
}
# Paid, unfulfilled orders minus the fulfilment jobs waiting: 0 when no job was lost.
LOST = (
    "import os, psycopg, redis\n"
    "r = redis.Redis.from_url(os.environ['REDIS_URL'])\n"
    "workers = [w.decode() for w in r.zrange('dramatiq:__heartbeats__', 0, -1)]\n"
    "jobs = r.llen('dramatiq:orders') + r.llen('dramatiq:orders.DQ') + sum(\n"
    "    r.scard(f'dramatiq:__acks__.{w}.orders') + r.scard(f'dramatiq:__acks__.{w}.orders.DQ')\n"
    "    for w in workers)\n"
    "with psycopg.connect(os.environ['DATABASE_URL']) as c:\n"
    "    paid = c.execute(\"select count(*) from orders where status = 'paid'\").fetchone()[0]\n"
    "print('lost', paid - jobs)\n"
)


def flood(
    rate_per_min: int, seconds: float, *, api_workers: int = 1, load_workers: int = 0
) -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(SCENARIO.read_text())
    spec["id"] = f"order-flood-{rate_per_min}"
    for name in ("api", "workers"):
        spec["services"][name]["env"] = {**spec["services"][name]["env"], **POLICY}
    # the flood alone: no drill (the on-call would resize the pool mid-measure)
    spec.pop("runbook", None)
    spec["method"] = [step for step in spec["method"] if "runbook" not in step]
    spec["services"]["api"]["env"]["SHOP_API_WORKERS"] = str(api_workers)
    orders_per_s = rate_per_min / 60
    step = spec["method"][0]
    step["duration_s"] = seconds
    # An open arrival model: orders start on schedule however slowly the shop answers, so a
    # rate it cannot absorb shows as delivered < offered instead of quietly lowering the load.
    step["load"].pop("shape", None)
    step["load"]["arrival_rps"] = orders_per_s
    # the pool in flight: an order (place, then pay) may take seconds under the flood
    step["load"]["users"] = step["load"]["spawn_rate"] = max(math.ceil(orders_per_s * 4), 8)
    step["load"]["workers"] = load_workers
    step["load"]["target_rps"] = orders_per_s  # at least one request per order
    step["load"]["tolerance"] = 0.1
    env = {"DATABASE_URL": "${services.db.url}", "REDIS_URL": "${services.redis.url}"}
    spec["assertions"] = [
        {
            "name": "the orders queue never exceeds 2000",
            "type": "always",
            "until_s": seconds + 2,
            "interval_s": 1,
            "check": {
                "name": "depth at most 2000",
                "probe": {
                    "type": "command",
                    "command": ["shop", "queue", "health", "--json"],
                    "env": {**env, **POLICY},
                    "regex": '"queue": "orders",[^}]*"depth": (\\d+)',
                },
                "expect": {"max": 2000},
            },
        },
        {
            "name": "no fulfilment job is lost",
            "type": "eventually",
            "from_s": seconds + 1,
            "within_s": seconds + 20,
            "check": {
                "name": "paid and unfulfilled orders all have a job",
                "probe": {
                    "type": "command",
                    "command": [sys.executable, "-c", copy.copy(LOST)],
                    "env": env,
                    "regex": "lost (-?\\d+)",
                },
                "expect": {"equals": 0},
            },
        },
    ]
    spec["steady_state"] = spec["steady_state"][:1]
    scenario = Scenario.model_validate(spec)
    with LocalProvisioner() as provisioner, tempfile.TemporaryDirectory(prefix="cg-flood-") as d:
        runner = ScenarioRunner(provisioner, seed=1, time_scale=1.0)
        record = runner.run(LoadedScenario(SCENARIO, scenario), Path(d))
    load = next(s for s in record.steps if s.kind == "load")
    return {
        "offered_per_min": rate_per_min,
        "api_workers": api_workers,
        "load_workers": load_workers,
        "absorbed": record.status == "passed",
        "reason": record.reason,
        "load": load.evidence,
        "max_depth_observed": record.assertions[0].observed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="500,1000,2000,5000")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--out", type=Path, default=Path("reports/bench"))
    parser.add_argument("--api-workers", type=int, default=2, help="SHOP_API_WORKERS of the API")
    parser.add_argument("--load-workers", type=int, default=0, help="Locust worker processes")
    args = parser.parse_args()
    results = []
    for rate in (int(r) for r in args.rates.split(",")):
        began = time.perf_counter()
        result = flood(
            rate, args.seconds, api_workers=args.api_workers, load_workers=args.load_workers
        )
        result["wall_s"] = round(time.perf_counter() - began, 1)
        results.append(result)
        print(json.dumps(result), flush=True)
        if not result["absorbed"]:
            break
    absorbed = [r["offered_per_min"] for r in results if r["absorbed"]]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "order_flood.json").write_text(json.dumps(results, indent=2))
    print(f"largest flood absorbed: {max(absorbed) if absorbed else 'none'} paid orders/min")


if __name__ == "__main__":
    main()
