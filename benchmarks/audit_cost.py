"""Benchmark: what auditing costs a critical action, side by side in one run.

Private PostgreSQL; the shop's service doing manual stock adjustments (one transaction each:
lock the product, update it, write a stock_adjustments row) with the audit trail on (plus one
hash-chained audit row under the chain's advisory lock) and off. Sequential from one thread
(the latency view) and from 4 threads (the chain's lock serialises audited actions). Rounds
alternate so noise hits both alike; figures are medians and ratios from one run.

    python -m benchmarks.audit_cost [--actions 400] [--rounds 3] [--out reports/bench]
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from pathlib import Path

from dramatiq.brokers.stub import StubBroker

from resilience.audit import Actor
from resilience.shop import migrate
from resilience.shop.context import ShopContext
from resilience.shop.schemas import ProductIn, StockAdjustmentIn
from resilience.shop.settings import ShopSettings
from resilience.webhooks.dedup import MemorySeenStore
from resilience.webhooks.metrics import MemoryCounterStore
from tests.support.servers import PostgresServer


def actions_per_s(url: str, *, audited: bool, actions: int, threads: int) -> float:
    settings = ShopSettings(
        database_url=url, audit_enabled=audited, audit_hmac_key="bench", alerts_enabled=False
    )
    ctx = ShopContext.from_settings(
        settings, broker=StubBroker(), seen=MemorySeenStore(), counters=MemoryCounterStore()
    )
    try:
        products = [
            ctx.service.create_product(
                ProductIn(sku=f"B-{time.monotonic_ns()}-{i}", name="b", price_cents=1, stock=10)
            ).id
            for i in range(threads)
        ]
        per_thread = actions // threads
        actor = Actor("bench")

        def work(product: int) -> None:
            for _ in range(per_thread):
                ctx.service.adjust_stock(
                    product, StockAdjustmentIn(delta=1, reason="bench"), actor=actor
                )

        workers = [threading.Thread(target=work, args=(p,)) for p in products]
        began = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        return per_thread * threads / (time.perf_counter() - began)
    finally:
        ctx.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actions", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("reports/bench"))
    args = parser.parse_args()
    server = PostgresServer()
    server.start()
    try:
        url = server.create_database("bench_audit")
        migrate.upgrade(url)
        result: dict[str, float | int] = {"actions": args.actions}
        for threads in (1, 4):
            plain, audited = [], []
            for _ in range(args.rounds):
                plain.append(
                    actions_per_s(url, audited=False, actions=args.actions, threads=threads)
                )
                audited.append(
                    actions_per_s(url, audited=True, actions=args.actions, threads=threads)
                )
            result[f"plain_per_s_{threads}t"] = statistics.median(plain)
            result[f"audited_per_s_{threads}t"] = statistics.median(audited)
            result[f"audited_over_plain_{threads}t"] = statistics.median(
                audited
            ) / statistics.median(plain)
    finally:
        server.stop()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "audit_cost.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    for threads in (1, 4):
        ratio = result[f"audited_over_plain_{threads}t"]
        audited_rate = result[f"audited_per_s_{threads}t"]
        plain_rate = result[f"plain_per_s_{threads}t"]
        print(
            f"{threads} thread(s): audited stock adjustments run at {ratio:.2f}x the rate of "
            f"unaudited ones ({audited_rate:.0f} vs {plain_rate:.0f}/s)"
        )


if __name__ == "__main__":
    main()
