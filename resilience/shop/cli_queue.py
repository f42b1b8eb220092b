"""``shop queue ...``: queue health, failed jobs and their retry (used by the runbooks)."""

from __future__ import annotations

import time
from dataclasses import asdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from resilience.shop.cli_support import (
    ActorOption,
    emit_json,
    fail,
    load_settings,
    operator,
    out,
    parse_since,
    redis_client,
    shop_context,
)

if TYPE_CHECKING:
    from resilience.queues.dead import DeadJob
    from resilience.shop.context import ShopContext

__all__ = ["EXIT_CRITICAL", "queue_app"]

#: ``shop queue health`` exits with this when a queue is CRITICAL (alerting can key on it).
EXIT_CRITICAL = 3

queue_app = typer.Typer(
    help="Queue health, failed jobs and their retry, worker pools.", no_args_is_help=True
)

AsJson = Annotated[bool, typer.Option("--json", help="print JSON")]


@queue_app.command("health")
def health(as_json: AsJson = False) -> None:
    """Per queue: ready, delayed, in-flight and dead jobs, the oldest job's age, the processing
    rate and a status (OK, WARN above SHOP_QUEUE_WARN_DEPTH, CRITICAL above
    SHOP_QUEUE_CRITICAL_DEPTH). Exits 3 when a queue is CRITICAL."""
    settings = load_settings()
    with shop_context(settings) as ctx:
        if ctx.queues is None:
            fail("queue health needs the Redis broker; check REDIS_URL")
        stats = [ctx.queues.health.stats(q) for q in ctx.queues.queues]
        gate = ctx.queues.backpressure
        closed = gate.closed() if gate is not None else False
    if as_json:
        emit_json(
            {
                "queues": [s.to_dict() for s in stats],
                "backpressure": {"enabled": gate is not None, "refusing_orders": closed},
            }
        )
    else:
        table = Table(
            "queue", "status", "ready", "delayed", "in flight", "dead", "oldest", "per min"
        )
        colours = {"OK": "green", "WARN": "yellow", "CRITICAL": "red"}
        for s in stats:
            table.add_row(
                s.queue,
                f"[{colours[s.status]}]{s.status}[/]",
                str(s.ready),
                str(s.delayed),
                str(s.in_flight),
                str(s.dead),
                "-" if s.oldest_age_s is None else f"{s.oldest_age_s:.0f} s",
                f"{s.processed_per_min:g}",
            )
        out.print(table)
        if closed:
            out.print("[yellow]backpressure: new orders are refused with 429[/]")
    if any(s.status == "CRITICAL" for s in stats):
        raise typer.Exit(EXIT_CRITICAL)


Since = Annotated[str | None, typer.Option(help="only jobs that died this recently: 30m, 1h")]
Job = Annotated[str | None, typer.Option(help="only this job (actor), e.g. process_order")]


def _find_dead(ctx: ShopContext, since: str | None, job: str | None) -> list[DeadJob]:
    if ctx.queues is None:
        fail("failed jobs live in the Redis broker; check REDIS_URL")
    window = parse_since(since)
    return ctx.queues.dead.find(
        ctx.queues.queues, since_s=window.total_seconds() if window else None, job=job
    )


@queue_app.command("failed")
def failed(since: Since = None, job: Job = None, as_json: AsJson = False) -> None:
    """Jobs that failed on every retry (Dramatiq's dead letters), oldest first."""
    settings = load_settings()
    with shop_context(settings) as ctx:
        dead = _find_dead(ctx, since, job)
    if as_json:
        emit_json([asdict(d) for d in dead])
        return
    table = Table("message", "queue", "job", "args", "died", "error")
    for d in dead:
        table.add_row(
            d.message_id[:12],
            d.queue,
            d.job,
            str(d.args)[:60],
            datetime.fromtimestamp(d.died_at, UTC).isoformat(timespec="seconds"),
            (d.error or "-")[:80],
        )
    out.print(table)


@queue_app.command("retry-failed")
def retry_failed(
    since: Since = None, job: Job = None, actor: ActorOption = None, as_json: AsJson = False
) -> None:
    """Put failed jobs back on their queues with a fresh retry budget (audited: jobs_retried)."""
    settings = load_settings()
    with shop_context(settings) as ctx:
        dead = _find_dead(ctx, since, job)
        assert ctx.queues is not None  # _find_dead exits otherwise
        count = ctx.queues.dead.requeue(ctx.broker, dead)
        if dead:
            ctx.audit_action(
                action="jobs_retried",
                entity_type="Jobs",
                entity_id=job or "*",
                actor=operator(actor),
                before={"dead": len(dead)},
                after={"dead": len(dead) - count, "requeued": count},
                metadata={
                    "since": since,
                    "jobs": sorted({d.job for d in dead}),
                    "message_ids": [d.message_id for d in dead][:100],
                },
            )
    if as_json:
        emit_json({"requeued": count, "found": len(dead)})
    else:
        out.print(f"requeued {count} of {len(dead)} failed job(s)")


@queue_app.command("scale")
def scale(
    pool: Annotated[str, typer.Argument(help="the pool's name (shop worker --pool NAME)")],
    processes: Annotated[
        int | None, typer.Argument(min=0, help="worker processes per supervisor")
    ] = None,
    reset: Annotated[
        bool, typer.Option("--reset", help="drop the override: back to each --processes")
    ] = False,
    wait_s: Annotated[
        float,
        typer.Option("--wait", min=0, help="seconds to wait until every supervisor has resized"),
    ] = 30.0,
    actor: ActorOption = None,
    as_json: AsJson = False,
) -> None:
    """Resize a worker pool while it runs (the queue-overload runbook's first step).

    Every live supervisor of POOL starts or gracefully stops workers until it runs PROCESSES.
    Exits 1, changing nothing, when no supervisor of POOL is running. Audited: workers_scaled.
    """
    from resilience.shop.supervisor import pool_states, reset_desired, set_desired

    if (processes is None) == (not reset):
        fail("give either PROCESSES or --reset, e.g. 'shop queue scale orders 8'")
    settings = load_settings()
    client = redis_client(settings)
    try:
        before = pool_states(client, pool)
        if not before:
            fail(
                f"no worker pool {pool!r} is running; start one with "
                f"'shop worker --pool {pool} --processes N' (running pools: "
                f"{', '.join(sorted({s.pool for s in pool_states(client)})) or 'none'})",
                code=1,
            )
        if reset:
            reset_desired(client, pool)
        else:
            assert processes is not None
            set_desired(client, pool, processes)
        deadline = time.monotonic() + wait_s
        after = before
        while True:
            after = pool_states(client, pool)
            # Settled: every supervisor still there says it runs the size asked for.
            done = bool(after) and all(
                s.desired == s.processes == (s.default if processes is None else processes)
                for s in after
            )
            if done or time.monotonic() >= deadline:
                break
            time.sleep(0.1)
    finally:
        client.close()
    with shop_context(settings) as ctx:
        ctx.audit_action(
            action="workers_scaled",
            entity_type="WorkerPool",
            entity_id=pool,
            actor=operator(actor),
            before={"desired": sorted({s.desired for s in before})},
            after={"desired": "reset" if reset else processes},
        )
    result = {
        "pool": pool,
        "before": sum(s.processes for s in before),
        "after": sum(s.processes for s in after),
        "supervisors": [s.to_dict() for s in after],
        "settled": done,
    }
    if as_json:
        emit_json(result)
    else:
        out.print(
            f"pool {pool}: {result['before']} → {result['after']} worker process(es) on "
            f"{len(after)} supervisor(s)"
            + ("" if done else f" [yellow](not settled after {wait_s:g} s)[/]")
        )
    if not done and wait_s > 0:
        raise typer.Exit(1)


@queue_app.command("workers")
def workers(as_json: AsJson = False) -> None:
    """Worker pools and their supervisors: processes running, desired, restarts."""
    from resilience.shop.supervisor import pool_states

    settings = load_settings()
    client = redis_client(settings)
    try:
        states = pool_states(client)
    finally:
        client.close()
    if as_json:
        emit_json([s.to_dict() for s in states])
        return
    table = Table("pool", "supervisor", "processes", "desired", "restarts", "queues")
    for s in states:
        table.add_row(
            s.pool,
            f"{s.host}:{s.pid}",
            str(s.processes),
            str(s.desired),
            str(s.restarts),
            ", ".join(s.queues),
        )
    out.print(table)
