"""The reference service run for real: ``shop serve`` and ``shop worker`` as child processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from harness.provision import ManagedProcess, free_port

ADMIN_TOKEN = "integration-admin-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def shop_command() -> list[str]:
    script = Path(sys.executable).with_name("shop")
    return [str(script)] if script.exists() else [sys.executable, "-m", "resilience.shop"]


@dataclass
class ShopStack:
    base_url: str
    env: dict[str, str]
    api: ManagedProcess
    worker: ManagedProcess

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=10)

    def shop(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*shop_command(), *args],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


@contextmanager
def shop_stack(
    run_dir: Path, database_url: str, redis_url: str, **extra_env: str
) -> Iterator[ShopStack]:
    port = free_port()
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SHOP_ADMIN_TOKEN": ADMIN_TOKEN,
        "SHOP_PORT": str(port),
        "SHOP_JOB_MIN_BACKOFF_MS": "50",
        "SHOP_JOB_MAX_BACKOFF_MS": "500",
        **extra_env,
    }
    migrated = subprocess.run(
        [*shop_command(), "db", "upgrade"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert migrated.returncode == 0, migrated.stderr
    api = ManagedProcess(
        "shop-api", [*shop_command(), "serve"], env=env, log_path=run_dir / "shop-api.log"
    )
    worker = ManagedProcess(
        "shop-worker",
        [*shop_command(), "worker", "--threads", "4"],
        env=env,
        log_path=run_dir / "shop-worker.log",
    )
    base_url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return httpx.get(f"{base_url}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        api.start()
        worker.start()
        api.wait_ready(healthy, timeout_s=30, describe="GET /health answers 200")
        worker.wait_ready(
            lambda: "worker started" in worker.log_path.read_text(),
            timeout_s=30,
            describe="logs 'worker started'",
        )
        yield ShopStack(base_url, env, api, worker)
    finally:
        api.stop()
        worker.stop()


def wait_for_status(
    client: httpx.Client, order_id: int, status: str, timeout_s: float = 30
) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    while True:
        order: dict[str, object] = client.get(f"/orders/{order_id}").json()
        if order["status"] == status or time.monotonic() > deadline:
            return order
        time.sleep(0.1)
