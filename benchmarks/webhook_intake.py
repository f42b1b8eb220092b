"""Benchmark: webhook intake (verify + dedup + store + 2xx) against a bare handler, side by side.

Starts private PostgreSQL and Redis servers, the shop API with a bare route in one uvicorn
process, then alternates rounds of requests to both endpoints so machine noise hits both alike.
Reports p50/p99 latency of each, the p50/p99 added by intake, and the throughput ratio with
concurrent clients. Figures are ratios and differences from one run; the machine is shared.

    python -m benchmarks.webhook_intake [--requests 2000] [--concurrency 8] [--out reports/bench]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from harness.provision import ManagedProcess, free_port
from resilience.webhooks import stripe as stripe_sig
from resilience.webhooks.testing import stripe_event
from tests.support.servers import PostgresServer, RedisServer

SECRET = "whsec_bench"  # noqa: S105 - a throwaway secret of a private benchmark server


def body_and_headers() -> tuple[bytes, dict[str, str]]:
    body = stripe_event("customer.updated", {"id": "cus_1"}, event_id=f"evt_{uuid.uuid4().hex}")
    return body, {"Stripe-Signature": stripe_sig.sign(body, SECRET)}


def timed_post(client: httpx.Client, path: str) -> float:
    body, headers = body_and_headers()
    started = time.perf_counter()
    response = client.post(path, content=body, headers=headers)
    elapsed = time.perf_counter() - started
    if response.status_code != 200 or response.json()["status"] != "accepted":
        raise RuntimeError(f"{path} answered {response.status_code}: {response.text[:200]}")
    return elapsed


def percentile(values: list[float], q: float) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[q - 1] if q < 100 else max(values)
    )


def latency(client: httpx.Client, requests: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {"bare": [], "intake": []}
    for i in range(requests):
        # Interleave so both endpoints see the same moments of noise.
        for name, path in (("bare", "/bench/bare"), ("intake", "/webhooks/stripe"))[
            :: 1 if i % 2 else -1
        ]:
            samples[name].append(timed_post(client, path))
    return samples


def throughput(base_url: str, path: str, requests: int, concurrency: int) -> float:
    def worker(n: int) -> None:
        with httpx.Client(base_url=base_url, timeout=30) as client:
            for _ in range(n):
                timed_post(client, path)

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(worker, [requests // concurrency] * concurrency))
    return (requests // concurrency * concurrency) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("reports/bench"))
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cg-bench-"))
    redis_server = RedisServer(work).start()
    postgres = PostgresServer().start()
    api: ManagedProcess | None = None
    try:
        database_url = postgres.create_database("bench")
        env = {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_server.url,
            "SHOP_STRIPE_WEBHOOK_SECRETS": SECRET,
            "SHOP_LOG_LEVEL": "WARNING",
        }
        subprocess.run(
            [sys.executable, "-m", "resilience.shop", "db", "upgrade"],
            env={**os.environ, **env},
            check=True,
            capture_output=True,
        )
        port = free_port()
        api = ManagedProcess(
            "shop-api",
            [sys.executable, "-m", "benchmarks.intake_server", str(port)],
            env=env,
            log_path=work / "api.log",
        )
        api.start()
        base_url = f"http://127.0.0.1:{port}"
        api.wait_ready(lambda: _answers(base_url), timeout_s=30, describe="GET /health/live")

        with httpx.Client(base_url=base_url, timeout=30) as client:
            latency(client, 100)  # warm-up: connections, caches, JIT-free but lazy imports
            samples = latency(client, args.requests)
        rates: dict[str, list[float]] = {"bare": [], "intake": []}
        for _ in range(args.rounds):
            for name, path in (("bare", "/bench/bare"), ("intake", "/webhooks/stripe")):
                rates[name].append(throughput(base_url, path, args.requests, args.concurrency))
    finally:
        if api is not None:
            api.stop()
        postgres.stop()
        redis_server.stop()
        shutil.rmtree(work, ignore_errors=True)

    ms = {k: sorted(v * 1000 for v in vs) for k, vs in samples.items()}
    result = {
        "requests": args.requests,
        "concurrency": args.concurrency,
        "bare_ms": {"p50": percentile(ms["bare"], 50), "p99": percentile(ms["bare"], 99)},
        "intake_ms": {"p50": percentile(ms["intake"], 50), "p99": percentile(ms["intake"], 99)},
        "throughput_rps": {k: statistics.median(v) for k, v in rates.items()},
    }
    result["added_ms"] = {q: result["intake_ms"][q] - result["bare_ms"][q] for q in ("p50", "p99")}
    result["throughput_ratio"] = (
        result["throughput_rps"]["intake"] / result["throughput_rps"]["bare"]
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "webhook_intake.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    rps = result["throughput_rps"]
    print(
        f"intake adds {result['added_ms']['p50']:.2f} ms at p50 and "
        f"{result['added_ms']['p99']:.2f} ms at p99; throughput "
        f"{result['throughput_ratio']:.2f}x the bare handler's "
        f"({rps['intake']:.0f} vs {rps['bare']:.0f} req/s)"
    )


def _answers(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/health/live", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


if __name__ == "__main__":
    main()
