"""Benchmark: what the global rate limiter costs a worker, side by side in one run.

Private Redis; a Dramatiq Redis broker; rounds that alternate processing N no-op jobs with 4
worker threads without the ``Throttle`` middleware and with it (a limit so high it never
refuses, so only its cost shows). Also the raw ``SlidingWindowLimiter.acquire`` rate from one
thread. Figures are ratios from one run; the machine is shared.

    python -m benchmarks.queue_limiter [--jobs 2000] [--rounds 3] [--out reports/bench]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker

from resilience.queues import SlidingWindowLimiter, Throttle
from tests.support.servers import RedisServer


def process(url: str, jobs: int, throttled: bool) -> float:
    """Seconds to process ``jobs`` no-op jobs, from the first enqueue to the last done."""
    client = redis.Redis.from_url(url)
    client.flushall()
    broker = RedisBroker(url=url)  # type: ignore[no-untyped-call]
    if throttled:
        limiter = SlidingWindowLimiter(client, "bench:limit", limit=10**9, window_ms=60_000)
        broker.add_middleware(Throttle({"bench": limiter}))
    done = [0]

    @dramatiq.actor(broker=broker, queue_name="bench", max_retries=0)
    def noop(n: int) -> None:
        done[0] += 1

    pipe_started = time.perf_counter()
    for n in range(jobs):
        noop.send(n)
    worker = dramatiq.Worker(broker, worker_threads=4, worker_timeout=20)
    worker.start()
    try:
        while done[0] < jobs:
            time.sleep(0.005)
    finally:
        elapsed = time.perf_counter() - pipe_started
        worker.stop()
        broker.close()
        client.close()
    return elapsed


def acquire_rate(url: str, n: int = 5000) -> float:
    client = redis.Redis.from_url(url)
    limiter = SlidingWindowLimiter(client, "bench:raw", limit=10**9, window_ms=1000)
    began = time.perf_counter()
    for _ in range(n):
        limiter.acquire()
    rate = n / (time.perf_counter() - began)
    client.close()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("reports/bench"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cg-bench-redis-") as directory:
        server = RedisServer(Path(directory))
        server.start()
        try:
            bare, limited = [], []
            for _ in range(args.rounds):  # alternate, so noise hits both alike
                bare.append(process(server.url, args.jobs, throttled=False))
                limited.append(process(server.url, args.jobs, throttled=True))
            raw = acquire_rate(server.url)
        finally:
            server.stop()
    result = {
        "jobs": args.jobs,
        "bare_jobs_per_s": args.jobs / statistics.median(bare),
        "limited_jobs_per_s": args.jobs / statistics.median(limited),
        "limited_over_bare": statistics.median(bare) / statistics.median(limited),
        "acquire_per_s_one_thread": raw,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "queue_limiter.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    print(
        f"throughput with the limiter: {result['limited_over_bare']:.2f}x of without "
        f"({result['limited_jobs_per_s']:.0f} vs {result['bare_jobs_per_s']:.0f} jobs/s); "
        f"acquire: {raw:.0f}/s from one thread"
    )


if __name__ == "__main__":
    main()
