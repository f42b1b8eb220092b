"""``shop queue ...``: queue health, failed jobs and their retry (used by the runbooks)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from resilience.shop.cli_support import (
    emit_json,
    fail,
    load_settings,
    out,
    parse_since,
    shop_context,
)

if TYPE_CHECKING:
    from resilience.queues.dead import DeadJob
    from resilience.shop.context import ShopContext

__all__ = ["EXIT_CRITICAL", "queue_app"]

#: ``shop queue health`` exits with this when a queue is CRITICAL (alerting can key on it).
EXIT_CRITICAL = 3

queue_app = typer.Typer(help="Queue health, failed jobs and their retry.", no_args_is_help=True)

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
    table = Table("message", "queue", "job", "args", "died")
    for d in dead:
        table.add_row(
            d.message_id[:12],
            d.queue,
            d.job,
            str(d.args)[:60],
            datetime.fromtimestamp(d.died_at, UTC).isoformat(timespec="seconds"),
        )
    out.print(table)


@queue_app.command("retry-failed")
def retry_failed(since: Since = None, job: Job = None, as_json: AsJson = False) -> None:
    """Put failed jobs back on their queues with a fresh retry budget."""
    settings = load_settings()
    with shop_context(settings) as ctx:
        dead = _find_dead(ctx, since, job)
        assert ctx.queues is not None  # _find_dead exits otherwise
        count = ctx.queues.dead.requeue(ctx.broker, dead)
    if as_json:
        emit_json({"requeued": count, "found": len(dead)})
    else:
        out.print(f"requeued {count} of {len(dead)} failed job(s)")
