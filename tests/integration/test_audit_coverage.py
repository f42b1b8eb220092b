"""Every critical action is audited: each admin route that changes state and each operator
command that does is enumerated from the app itself, performed for real (SQLite + a real Redis),
and must add exactly one audit row with the right action and the right before/after state.

A new mutating route or command fails this test until it is audited here or explicitly listed
as not critical, with the reason.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dramatiq
import pytest
import typer.main
from fastapi.testclient import TestClient
from sqlalchemy import select

from resilience.alerts import Severity, Signal
from resilience.audit.models import AuditLog
from resilience.shop.api import create_app
from resilience.shop.cli import app as cli_app
from resilience.shop.context import ShopContext
from resilience.shop.migrate import upgrade
from resilience.shop.settings import ShopSettings
from resilience.webhooks.models import EventStatus, WebhookEvent, WebhookFailure
from tests.support.shop import shop_command

ADMIN = {"Authorization": "Bearer t", "X-Actor": "carol", "User-Agent": "admin-ui/2"}

#: Commands that change nothing critical, and why.
NOT_CRITICAL = {
    "serve": "runs the API",
    "worker": "runs workers",
    "db upgrade": "schema migrations are tracked by Alembic's own version table",
    "db downgrade": "schema migrations are tracked by Alembic's own version table",
    "db current": "read-only",
    "products list": "read-only",
    "orders list": "read-only",
    "orders show": "read-only",
    "orders requeue-unfulfilled": "re-enqueues idempotent fulfilment jobs; changes no state",
    "webhooks failures": "read-only",
    "webhooks stats": "read-only",
    "queue health": "read-only",
    "queue failed": "read-only",
    "queue workers": "read-only",
    "erp health": "read-only",
    "erp sync": "enqueues a sync; the stock it changes is audited as stock_synced",
    "audit log": "read-only",
    "audit verify": "read-only",
    "audit checkpoint": "writes the chain's head to a file outside the database; changes no row",
    "audit partitions": "storage maintenance; moves rows without changing them",
    "alerts list": "read-only",
    "alerts evaluate": "runs the policy's own round, as workers do; alerts record themselves",
}


@pytest.fixture
def settings(tmp_path: Path, redis_url: str) -> ShopSettings:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    upgrade(url)
    return ShopSettings(
        database_url=url,
        redis_url=redis_url,
        admin_token="t",
        erp_base_url="http://127.0.0.1:9",  # pause/resume never call it
        job_max_retries=0,
    )


@pytest.fixture
def ctx(settings: ShopSettings) -> Iterator[ShopContext]:
    context = ShopContext.from_settings(settings)
    yield context
    context.close()


def audit_rows(ctx: ShopContext) -> list[AuditLog]:
    with ctx.sessions() as s:
        return list(s.scalars(select(AuditLog).order_by(AuditLog.seq)))


def one_new_row(ctx: ShopContext, before: int, action: str) -> AuditLog:
    rows = audit_rows(ctx)[before:]
    assert [r.action for r in rows] == [action], f"expected one {action} row, got {rows}"
    return rows[0]


# -- routes ---------------------------------------------------------------------------------------


def admin_mutating_routes() -> dict[tuple[str, str], str | None]:
    """(method, path) -> the audit action it declares, for every operation of the OpenAPI
    document that needs the admin token and changes state."""
    found: dict[tuple[str, str], str | None] = {}
    for path, operations in create_app(None).openapi()["paths"].items():  # type: ignore[arg-type]
        for method, operation in operations.items():
            if method.upper() in {"POST", "PUT", "PATCH", "DELETE"} and operation.get("security"):
                found[(method.upper(), path)] = operation.get("x-audit-action")
    return found


def test_every_mutating_admin_route_declares_and_writes_one_audit_row(ctx: ShopContext) -> None:
    routes = admin_mutating_routes()
    assert len(routes) >= 5, routes  # the enumeration itself works
    undeclared = [r for r, action in routes.items() if action is None]
    assert undeclared == [], f"admin routes that change state without an audit action: {undeclared}"

    with TestClient(create_app(ctx)) as client:

        def product(stock: int = 10) -> int:
            body = {
                "sku": f"S{time.monotonic_ns()}",
                "name": "n",
                "price_cents": 700,
                "stock": stock,
            }
            return int(client.post("/admin/products", headers=ADMIN, json=body).json()["id"])

        def order(product_id: int) -> int:
            body = {"lines": [{"product_id": product_id, "quantity": 2}]}
            return int(client.post("/orders", json=body).json()["id"])

        def paid_order() -> int:
            o = order(product())
            paid = {"provider": "stripe", "method": "card", "succeeded": True}
            assert client.post(f"/orders/{o}/payments", headers=ADMIN, json=paid).status_code == 200
            return o

        performers: dict[tuple[str, str], Callable[[], tuple[Any, Any, Any]]] = {}

        def perform(method: str, path: str) -> Callable[[Callable[[], tuple[Any, Any, Any]]], None]:
            def register(fn: Callable[[], tuple[Any, Any, Any]]) -> None:
                performers[(method, path)] = fn

            return register

        @perform("POST", "/admin/products")
        def _create() -> tuple[Any, Any, Any]:
            r = client.post(
                "/admin/products",
                headers=ADMIN,
                json={"sku": "NEW", "name": "Lamp", "price_cents": 1500, "stock": 3},
            )
            return (
                f"Product:{r.json()['id']}",
                None,
                {"sku": "NEW", "name": "Lamp", "price_cents": 1500, "stock": 3},
            )

        @perform("POST", "/admin/products/{product_id}/stock-adjustments")
        def _adjust() -> tuple[Any, Any, Any]:
            p = product(stock=10)
            r = client.post(
                f"/admin/products/{p}/stock-adjustments",
                headers=ADMIN,
                json={"delta": -4, "reason": "damaged"},
            )
            assert r.status_code == 200, r.text
            return f"Product:{p}", {"stock": 10}, {"stock": 6}

        @perform("POST", "/orders/{order_id}/payments")
        def _pay() -> tuple[Any, Any, Any]:
            o = order(product())
            paid = {"provider": "stripe", "method": "card", "succeeded": True}
            r = client.post(f"/orders/{o}/payments", headers=ADMIN, json=paid)
            assert r.status_code == 200, r.text
            return f"Order:{o}", {"status": "pending"}, {"status": "paid", "payment_method": "card"}

        @perform("POST", "/admin/orders/{order_id}/refunds")
        def _refund() -> tuple[Any, Any, Any]:
            o = paid_order()
            r = client.post(
                f"/admin/orders/{o}/refunds",
                headers=ADMIN,
                json={"amount_cents": 500, "reason": "damaged"},
            )
            assert r.status_code == 200, r.text
            return (
                f"Order:{o}",
                {"status": "paid", "refunded_cents": 0},
                {"status": "partially_refunded", "refunded_cents": 500},
            )

        @perform("PUT", "/admin/orders/{order_id}/payment-method")
        def _method() -> tuple[Any, Any, Any]:
            o = order(product())
            r = client.put(
                f"/admin/orders/{o}/payment-method", headers=ADMIN, json={"method": "paypal"}
            )
            assert r.status_code == 200, r.text
            return f"Order:{o}", {"payment_method": None}, {"payment_method": "paypal"}

        assert set(performers) == set(routes), "perform every audited route in this test"
        for key, fn in performers.items():
            count = len(audit_rows(ctx))
            entity, before, after = fn()
            # Helpers (product(), paid_order()) audit too: the action's row is the last one.
            row = audit_rows(ctx)[-1]
            assert row.action == routes[key], key
            assert f"{row.entity_type}:{row.entity_id}" == entity, key
            assert (
                len(
                    [
                        r
                        for r in audit_rows(ctx)[count:]
                        if r.entity_id == row.entity_id and r.action == row.action
                    ]
                )
                == 1
            ), key
            assert (row.user_id, row.ip_address, row.user_agent) == (
                "carol",
                "testclient",
                "admin-ui/2",
            ), key
            if before is None:
                assert row.before_state is None, key
            else:
                assert row.before_state is not None
                assert {k: row.before_state[k] for k in before} == before, key
            assert row.after_state is not None
            assert {k: row.after_state[k] for k in after} == after, key
    assert ctx.audit.verify(ctx.engine).ok


# -- commands -------------------------------------------------------------------------------------


def command_paths() -> list[str]:
    def walk(cmd: Any, prefix: str) -> Iterator[str]:
        subs = getattr(cmd, "commands", None)
        if subs is None:
            yield prefix
            return
        for name, sub in subs.items():
            yield from walk(sub, f"{prefix} {name}".strip())

    return sorted(walk(typer.main.get_command(cli_app), ""))


def shop(settings: ShopSettings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "SHOP_ERP_BASE_URL": settings.erp_base_url or "",
        "SHOP_OPERATOR": "dave",
        "SHOP_SUPERVISOR_POLL_S": "0.2",
    }
    return subprocess.run(
        [*shop_command(), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def dead_webhook(ctx: ShopContext) -> int:
    now = datetime.now(UTC)
    with ctx.sessions.begin() as s:
        event = WebhookEvent(
            provider="stripe",
            event_id="evt_dead",
            event_type="customer.created",
            payload="{}",
            status=EventStatus.DEAD.value,
            attempts=5,
            received_at=now,
            updated_at=now,
        )
        s.add(event)
        s.flush()
        failure = WebhookFailure(
            webhook_event_id=event.id,
            provider="stripe",
            event_id="evt_dead",
            event_type="customer.created",
            payload={},
            error_message="boom",
            retry_count=0,
            created_at=now,
            updated_at=now,
        )
        s.add(failure)
        s.flush()
        return failure.id


def dead_job(ctx: ShopContext) -> None:
    ctx.jobs.process_order.send(424242)
    worker = dramatiq.Worker(ctx.broker, worker_threads=1, worker_timeout=50)
    worker.start()
    try:
        assert ctx.queues is not None
        for _ in range(200):
            if ctx.queues.dead.find(ctx.queues.queues):
                break
            time.sleep(0.05)
    finally:
        worker.stop()


def test_every_mutating_command_writes_one_audit_row(
    settings: ShopSettings, ctx: ShopContext, tmp_path: Path
) -> None:
    pool_log = (tmp_path / "pool.log").open("wb")
    pool = subprocess.Popen(
        [*shop_command(), "worker", "--pool", "audit-pool", "--processes", "0"],
        env={
            **os.environ,
            "DATABASE_URL": settings.database_url,
            "REDIS_URL": settings.redis_url,
            "SHOP_SUPERVISOR_POLL_S": "0.2",
        },
        stdout=pool_log,
        stderr=subprocess.STDOUT,
    )
    try:
        failure_id = dead_webhook(ctx)
        dead_job(ctx)
        assert ctx.alerts is not None
        fired = ctx.alerts.evaluate(
            [
                Signal("queue_depth", Severity.P2, {"queue": q}, "deep")
                for q in ("orders", "webhooks")
            ],
            {"queue_depth"},
        ).fired
        for _ in range(100):  # the pool has published itself
            if "audit-pool" in shop(settings, "queue", "workers", "--json").stdout:
                break
            time.sleep(0.1)
        audited: dict[str, tuple[list[str], str, str, dict[str, Any] | None, dict[str, Any]]] = {
            "products add": (
                ["--sku", "CLI-1", "--name", "Chair", "--price-cents", "900", "--stock", "4"],
                "product_created",
                "Product:1",
                None,
                {"stock": 4, "sku": "CLI-1"},
            ),
            "webhooks retry": (
                ["--since", "1h"],
                "webhook_replayed",
                f"WebhookFailure:{failure_id}",
                {"event_status": "dead", "retry_count": 0},
                {"event_status": "received", "retry_count": 1, "attempts": 0},
            ),
            "erp pause": (
                [],
                "erp_sync_paused",
                "ErpSync:stock",
                {"paused": False},
                {"paused": True},
            ),
            "erp resume": (
                [],
                "erp_sync_resumed",
                "ErpSync:stock",
                {"paused": True},
                {"paused": False},
            ),
            "queue retry-failed": (
                ["--job", "process_order"],
                "jobs_retried",
                "Jobs:process_order",
                {"dead": 1},
                {"dead": 0, "requeued": 1},
            ),
            "queue scale": (
                ["audit-pool", "1"],
                "workers_scaled",
                "WorkerPool:audit-pool",
                {"desired": [0]},
                {"desired": 1},
            ),
            "alerts ack": (
                [str(fired[0])],
                "alert_acknowledged",
                f"Alert:{fired[0]}",
                {"state": "firing"},
                {"state": "acknowledged"},
            ),
            "alerts resolve": (
                [str(fired[1])],
                "alert_resolved",
                f"Alert:{fired[1]}",
                {"state": "firing"},
                {"state": "resolved"},
            ),
            "alerts silence": (
                ["--for", "1h", "--reason", "maintenance", "--rule", "queue_depth"],
                "alert_silenced",
                "AlertSilence:1",
                None,
                {"rule": "queue_depth", "reason": "maintenance"},
            ),
        }
        paths = command_paths()
        unclassified = [p for p in paths if p not in audited and p not in NOT_CRITICAL]
        assert unclassified == [], (
            f"commands neither audited nor declared not critical: {unclassified}"
        )
        assert not (set(audited) | set(NOT_CRITICAL)) - set(paths), "stale entries"

        for path, (args, action, entity, before, after) in audited.items():
            count = len(audit_rows(ctx))
            result = shop(settings, *path.split(), *args)
            assert result.returncode == 0, f"{path}: {result.stderr}"
            row = one_new_row(ctx, count, action)
            assert f"{row.entity_type}:{row.entity_id}" == entity, path
            assert row.user_id == "dave" and (row.user_agent or "").startswith("shop-cli/"), path
            if before is None:
                assert row.before_state is None, path
            else:
                assert row.before_state is not None
                assert {k: row.before_state[k] for k in before} == before, path
            assert row.after_state is not None
            assert {k: row.after_state[k] for k in after} == after, path
        verified = shop(settings, "audit", "verify", "--json")
        assert verified.returncode == 0, verified.stdout
        assert json.loads(verified.stdout)["rows"] == len(audit_rows(ctx))
    finally:
        pool.send_signal(signal.SIGTERM)
        pool.wait(timeout=30)
        pool_log.close()


def test_audit_log_filters_and_verify_names_a_tampered_row(
    settings: ShopSettings, ctx: ShopContext
) -> None:
    for sku in ("A", "B"):
        assert (
            shop(
                settings, "products", "add", "--sku", sku, "--name", sku, "--price-cents", "1"
            ).returncode
            == 0
        )
    listed = shop(settings, "audit", "log", "--entity", "Product:2", "--since", "1h", "--json")
    assert listed.returncode == 0, listed.stderr
    entries = json.loads(listed.stdout)
    assert [(e["seq"], e["action"], e["after"]["sku"]) for e in entries] == [
        (2, "product_created", "B")
    ]
    bad = shop(settings, "audit", "log", "--entity", "Product")
    assert bad.returncode == 2 and "use TYPE:ID" in bad.stderr
    with ctx.engine.begin() as c:
        c.exec_driver_sql("DROP TRIGGER audit_logs_no_update")
        c.exec_driver_sql("UPDATE audit_logs SET user_id = 'mallory' WHERE seq = 1")
    broken = shop(settings, "audit", "verify")
    assert broken.returncode == 1
    assert "audit chain broken at row seq 1" in broken.stdout
