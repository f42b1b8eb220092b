"""``shop``: the operator CLI of the reference service.

Exit codes: 0 success; 1 the shop refused the operation (unknown order, illegal transition...);
2 bad usage or configuration (bad option, unreachable database or Redis, port in use).
"""

from __future__ import annotations

import logging
import re
import socket
import sys
import threading
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError
from rich.table import Table

import resilience
from resilience.shop.cli_alerts import alerts_app
from resilience.shop.cli_audit import audit_app
from resilience.shop.cli_erp import erp_app
from resilience.shop.cli_queue import queue_app
from resilience.shop.cli_support import (
    ActorOption,
    emit_json,
    errors_to_exit,
    fail,
    load_settings,
    operator,
    out,
    parse_since,
    redacted_url,
    redis_client,
    setup_logging,
    shop_context,
)
from resilience.shop.cli_webhooks import webhooks_app
from resilience.shop.orders import OrderStatus
from resilience.shop.signals import SignalStop

if TYPE_CHECKING:
    from resilience.shop.schemas import OrderOut
    from resilience.shop.settings import ShopSettings

__all__ = ["app", "main"]

POOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")

app = typer.Typer(
    name="shop",
    help="Operate the chaosgate reference shop: database, API server, workers, orders.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
products_app = typer.Typer(help="Products and stock.", no_args_is_help=True)
orders_app = typer.Typer(help="Orders.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(products_app, name="products")
app.add_typer(orders_app, name="orders")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(queue_app, name="queue")
app.add_typer(erp_app, name="erp")
app.add_typer(audit_app, name="audit")
app.add_typer(alerts_app, name="alerts")


def _version(value: bool) -> None:
    if value:
        out.print(f"shop (chaosgate) {resilience.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Settings come from the environment: SHOP_*, DATABASE_URL, REDIS_URL."""


# -- db ---------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="target revision")] = "head") -> None:
    """Migrate the database up to REVISION (default: the newest)."""
    from resilience.shop import migrate  # Alembic: only the db commands need it

    settings = load_settings()
    with errors_to_exit(settings):
        migrate.upgrade(settings.database_url, revision)
        out.print(f"database at {', '.join(migrate.current(settings.database_url)) or 'base'}")


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="target revision, e.g. base")],
    force: Annotated[
        bool, typer.Option("--force", help="also when it drops the audit trail")
    ] = False,
) -> None:
    """Migrate the database down to REVISION (``base`` removes every table). Refuses, unless
    --force, to go below the audit trail's migration: that drops every audit row."""
    from resilience.shop import migrate  # Alembic: only the db commands need it

    settings = load_settings()
    with errors_to_exit(settings):
        if not force and migrate.downgrade_drops_audit(settings.database_url, revision):
            fail(
                f"downgrading to {revision!r} drops the audit trail (audit_logs, revision "
                f"{migrate.AUDIT_REVISION}) with every row in it; archive it first, then "
                "pass --force"
            )
        migrate.downgrade(settings.database_url, revision)
        out.print(f"database at {', '.join(migrate.current(settings.database_url)) or 'base'}")


@db_app.command("current")
def db_current() -> None:
    """Print the database's revision and the newest one; exit 1 when they differ."""
    from resilience.shop import migrate  # Alembic: only the db commands need it

    settings = load_settings()
    with errors_to_exit(settings):
        at, heads = migrate.current(settings.database_url), migrate.heads()
    out.print(f"database: {', '.join(at) or 'base (never migrated)'}; newest: {', '.join(heads)}")
    if set(at) != set(heads):
        raise typer.Exit(1)


# -- serve / worker ---------------------------------------------------------------------------


def _check_port_free(host: str, port: int, *, option: str = "--port") -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the servers themselves bind: connections of a process that just stopped, left in
        # TIME_WAIT, must not make its restart look like a port in use.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            hint = (
                "pass --port or set SHOP_PORT" if option == "--port" else f"pass another {option}"
            )
            fail(f"cannot listen on {host}:{port} ({exc.strerror}); {hint}")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="default: SHOP_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="default: SHOP_PORT")] = None,
    migrate: Annotated[
        bool | None,
        typer.Option(
            "--migrate/--no-migrate",
            help="upgrade the database to head before serving (default: SHOP_MIGRATE_ON_START)",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, max=64, help="processes serving the API (default: SHOP_API_WORKERS)"),
    ] = None,
) -> None:
    """Run the HTTP API (uvicorn) until SIGINT or SIGTERM; with --workers N, N processes on
    the one port."""
    import uvicorn

    from resilience.shop.api import create_app

    settings = load_settings()
    host = host or settings.host
    port = settings.port if port is None else port
    setup_logging(settings)
    if port:
        _check_port_free(host, port)
    if settings.migrate_on_start if migrate is None else migrate:
        from resilience.shop.migrate import upgrade

        try:
            upgrade(settings.database_url)
        except Exception as exc:
            fail(f"could not migrate the database at start: {type(exc).__name__}: {exc}")
    processes = settings.api_workers if workers is None else workers
    if processes > 1:
        # each worker process builds its own context from the environment (no connection
        # crosses a fork); this process only supervises them
        with errors_to_exit(settings):
            from resilience.shop.context import ShopContext

            ShopContext.from_settings(settings).close()  # fail here, named, not in N workers
        uvicorn.run(
            "resilience.shop.api.app:app_from_environment",
            factory=True,
            host=host,
            port=port,
            workers=processes,
            log_level=settings.log_level.lower(),
        )
        return
    with shop_context(settings) as ctx:
        uvicorn.run(create_app(ctx), host=host, port=port, log_level=settings.log_level.lower())


@app.command()
def worker(
    threads: Annotated[int | None, typer.Option(min=1, help="default: SHOP_WORKER_THREADS")] = None,
    queues: Annotated[
        list[str] | None,
        typer.Option("--queues", "-Q", help="consume only this queue (repeatable); default: all"),
    ] = None,
    pool: Annotated[
        str | None,
        typer.Option(
            help="supervise a pool of worker processes under this name, resizable while it "
            "runs with 'shop queue scale NAME N'"
        ),
    ] = None,
    processes: Annotated[
        int, typer.Option(min=0, help="with --pool: worker processes unless scaled")
    ] = 1,
    health_port: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=65535,
            help="serve GET /health on SHOP_HOST:PORT: 200 once the worker consumes, 503 "
            "while it stops",
        ),
    ] = None,
) -> None:
    """Run a Dramatiq worker for the shop's queues until SIGINT or SIGTERM.

    One process with THREADS threads; scale out by starting more ``shop worker`` processes, or
    run a pool (``--pool NAME --processes N``) that ``shop queue scale`` resizes.
    """
    settings = load_settings()
    setup_logging(settings)
    if pool is not None:
        if health_port is not None:
            fail(
                "--health-port is for one worker process; a pool's workers are listed by "
                "'shop queue workers'"
            )
        _supervise(settings, pool, processes, threads, queues or [])
        return
    if health_port is not None:
        _check_port_free(settings.host, health_port, option="--health-port")
    import dramatiq

    with shop_context(settings, whole=True) as ctx:
        try:
            ctx.check_broker()
        except Exception as exc:
            where = redacted_url(settings.redis_url)
            fail(f"Redis at {where} does not answer ({exc}); check REDIS_URL")
        declared = ctx.broker.get_declared_queues()
        unknown = sorted(set(queues or []) - declared)
        if unknown:
            fail(
                f"unknown queue(s) {', '.join(unknown)}; the shop's queues are "
                f"{', '.join(sorted(declared))}"
            )
        from resilience.shop.sweeper import Sweeper, shop_sweeps

        stop = threading.Event()
        signals = SignalStop(stop, poll_s=SIGNAL_POLL_S).install()
        w = dramatiq.Worker(
            ctx.broker,
            queues=set(queues) if queues else None,
            worker_threads=threads or settings.worker_threads,
            worker_timeout=settings.worker_idle_timeout_ms,
        )
        w.start()
        sweeper = Sweeper(
            shop_sweeps(ctx), interval_s=settings.fulfilment_sweep_interval_s, stop=stop
        )
        sweep_thread = sweeper.start()
        alert_thread = None
        if ctx.alerts is not None and ctx.queues is not None:
            from resilience.shop.alerting import AlertLoop

            alert_thread = AlertLoop(
                ctx.alerts, ctx.signal_sources(), ctx.queues.health.client, stop
            ).start()
        consuming = sorted(queues or declared)
        health = None
        if health_port is not None:
            from resilience.shop.worker_health import HealthServer

            health = HealthServer(
                settings.host,
                health_port,
                lambda: None if stop.is_set() else {"queues": consuming},
            ).start()
        logging.getLogger(__name__).info(
            "worker started: queues %s, %d threads", consuming, threads or settings.worker_threads
        )
        signals.wait()
        if health is not None:
            health.stop()
        w.stop(timeout=int(settings.worker_shutdown_timeout_s * 1000))
        sweep_thread.join(timeout=settings.worker_shutdown_timeout_s)
        if alert_thread is not None:
            alert_thread.join(timeout=settings.worker_shutdown_timeout_s)


def _supervise(
    settings: ShopSettings,
    pool: str,
    processes: int,
    threads: int | None,
    queues: list[str],
) -> None:
    from resilience.shop.supervisor import WorkerPool

    if not POOL_NAME.fullmatch(pool):
        fail(f"--pool {pool!r}: use letters, digits, '-' and '_' only")
    client = redis_client(settings)
    command = [sys.executable, "-m", "resilience.shop", "worker"]
    if threads is not None:
        command += ["--threads", str(threads)]
    for queue in queues:
        command += ["--queues", queue]
    supervisor = WorkerPool(
        client,
        pool,
        command,
        processes=processes,
        poll_s=settings.supervisor_poll_s,
        stop_timeout_s=settings.worker_shutdown_timeout_s + 5,
        queues=queues or ["*"],
    )
    signals = SignalStop(threading.Event(), poll_s=SIGNAL_POLL_S).install()
    logging.getLogger(__name__).info(
        "pool %s: supervising %d worker process(es); resize with 'shop queue scale %s N'",
        pool,
        processes,
        pool,
    )
    try:
        supervisor.run(signals)
    finally:
        client.close()


# -- products / orders ------------------------------------------------------------------------


@products_app.command("add")
def products_add(
    sku: Annotated[str, typer.Option()],
    name: Annotated[str, typer.Option()],
    price_cents: Annotated[int, typer.Option(min=0)],
    stock: Annotated[int, typer.Option(min=0)] = 0,
    actor: ActorOption = None,
) -> None:
    """Create a product (audited: product_created)."""
    settings = load_settings()
    try:
        from resilience.shop.schemas import ProductIn  # pydantic models: not for --help

        data = ProductIn(sku=sku, name=name, price_cents=price_cents, stock=stock)
    except ValidationError as exc:
        fail("; ".join(f"--{e['loc'][0]}: {e['msg']}".replace("_", "-") for e in exc.errors()))
    with shop_context(settings) as ctx:
        product = ctx.service.create_product(data, actor=operator(actor))
    emit_json(product.model_dump(mode="json"))


@products_app.command("list")
def products_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List products with their stock."""
    settings = load_settings()
    with shop_context(settings) as ctx:
        products = ctx.service.list_products(limit=10_000)
    if as_json:
        emit_json([p.model_dump(mode="json") for p in products])
        return
    table = Table("id", "sku", "name", "price_cents", "stock")
    for p in products:
        table.add_row(str(p.id), p.sku, p.name, str(p.price_cents), str(p.stock))
    out.print(table)


@orders_app.command("list")
def orders_list(
    status: Annotated[OrderStatus | None, typer.Option(help="only orders in this status")] = None,
    older_than: Annotated[
        str | None, typer.Option(help="only orders created longer ago than this, e.g. 10m")
    ] = None,
    limit: Annotated[int, typer.Option(min=1)] = 1000,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List orders, e.g. those stuck: ``shop orders list --status pending --older-than 10m``."""
    settings = load_settings()
    age = parse_since(older_than)
    with shop_context(settings) as ctx:
        before = ctx.clock() - age if age is not None else None
        orders = ctx.service.list_orders(status=status, created_before=before, limit=limit)
    _print_orders(orders, as_json)


@orders_app.command("show")
def orders_show(order_id: int, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show one order."""
    settings = load_settings()
    with shop_context(settings) as ctx:
        order = ctx.service.get_order(order_id)
    _print_orders([order], as_json)


@orders_app.command("requeue-unfulfilled")
def orders_requeue_unfulfilled(
    older_than: Annotated[str, typer.Option(help="paid longer ago than this, e.g. 5m")] = "1m",
) -> None:
    """Enqueue fulfilment again for paid orders that were never fulfilled."""
    settings = load_settings()
    age = parse_since(older_than)
    assert age is not None
    with shop_context(settings) as ctx:
        ids = ctx.service.requeue_unfulfilled(paid_before=age)
    out.print(f"re-enqueued {len(ids)} order(s){': ' + ', '.join(map(str, ids)) if ids else ''}")


def _print_orders(orders: list[OrderOut], as_json: bool) -> None:
    if as_json:
        emit_json([o.model_dump(mode="json") for o in orders])
        return
    table = Table("id", "status", "total_cents", "refunded_cents", "payment_method", "created_at")
    for o in orders:
        table.add_row(
            str(o.id),
            o.status.value,
            str(o.total_cents),
            str(o.refunded_cents),
            o.payment_method or "-",
            o.created_at.isoformat(timespec="seconds"),
        )
    out.print(table)


#: how often a waiting main thread looks for SIGINT/SIGTERM (resilience/shop/signals.py)
SIGNAL_POLL_S = 0.2

#: what the shop runs on, installed by ``pip install 'chaosgate[shop]'`` (module names)
SHOP_NEEDS = (
    "fastapi",
    "uvicorn",
    "pydantic_settings",
    "tenacity",
    "sqlalchemy",
    "alembic",
    "psycopg",
    "dramatiq",
    "certifi",
)


def missing_parts() -> list[str]:
    """The modules of the shop's stack that are not installed (looked up, not imported)."""
    import importlib.util

    return [name for name in SHOP_NEEDS if importlib.util.find_spec(name) is None]


def main() -> None:
    missing = missing_parts()
    if missing and not {"--help", "-h"} & set(sys.argv[1:]):
        print(
            f"error: the reference shop needs {', '.join(missing)}, which is not installed: "
            "pip install 'chaosgate[shop]'",
            file=sys.stderr,
        )
        raise SystemExit(2)
    app()
