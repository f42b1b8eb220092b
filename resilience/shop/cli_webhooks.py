"""``shop webhooks ...``: dead letters, replay and intake statistics (used by the runbooks)."""

from __future__ import annotations

from dataclasses import asdict
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
    shop_context,
)

if TYPE_CHECKING:
    from resilience.webhooks.processor import FailureView

__all__ = ["webhooks_app"]

webhooks_app = typer.Typer(
    help="Webhook dead letters, replay and statistics.", no_args_is_help=True
)

Since = Annotated[str, typer.Option(help="how far back, e.g. 30m, 1h, 7d")]
Provider = Annotated[str | None, typer.Option(help="only this provider: stripe or paypal")]
AsJson = Annotated[bool, typer.Option("--json", help="print JSON")]


def _print(failures: list[FailureView], as_json: bool) -> None:
    if as_json:
        emit_json([asdict(f) for f in failures])
        return
    table = Table("id", "provider", "event_id", "event_type", "retries", "last failed", "error")
    for f in failures:
        table.add_row(
            str(f.id),
            f.provider,
            f.event_id,
            f.event_type,
            str(f.retry_count),
            f.updated_at.isoformat(timespec="seconds"),
            f.error_message[:80],
        )
    out.print(table)


@webhooks_app.command("failures")
def failures(
    since: Since = "1h",
    provider: Provider = None,
    include_resolved: Annotated[
        bool, typer.Option("--all", help="include dead letters already replayed successfully")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """List dead letters (webhook_failures) that last failed within SINCE."""
    settings = load_settings()
    age = parse_since(since)
    with shop_context(settings) as ctx:
        rows = ctx.processor.failures(
            since=ctx.clock() - age if age else None,
            provider=provider,
            include_resolved=include_resolved,
        )
    _print(rows, as_json)


@webhooks_app.command("retry")
def retry(
    since: Since = "1h",
    provider: Provider = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list, do not replay")] = False,
    actor: ActorOption = None,
    as_json: AsJson = False,
) -> None:
    """Replay dead letters that last failed within SINCE: each gets fresh attempts.

    Idempotent: replaying twice, or an event already applied, has no second effect.
    """
    settings = load_settings()
    age = parse_since(since)
    if not dry_run and not settings.webhook_replay_enabled:
        fail(
            "webhook replay is frozen (SHOP_WEBHOOK_REPLAY_ENABLED=false): nothing replayed; "
            "unset it to replay, or list what would be replayed with --dry-run"
        )
    with shop_context(settings) as ctx:
        replayed = ctx.processor.replay(
            actor=operator(actor),
            since=ctx.clock() - age if age else None,
            provider=provider,
            dry_run=dry_run,
        )
    if as_json:
        _print(replayed, as_json=True)
        return
    verb = "would replay" if dry_run else "replayed"
    out.print(f"{verb} {len(replayed)} dead letter(s)")
    if replayed:
        _print(replayed, as_json=False)


@webhooks_app.command("stats")
def stats(
    window: Annotated[str, typer.Option(help="window of the rates, e.g. 1h")] = "1h",
    as_json: AsJson = False,
) -> None:
    """Counters in WINDOW by provider, and the dedup hit rate (anti-loop cache hits / verified)."""
    settings = load_settings()
    age = parse_since(window)
    assert age is not None
    with shop_context(settings) as ctx:
        counts = ctx.metrics.in_window(age.total_seconds())
        providers = sorted({p for (_, p, _) in counts} | set(settings.webhook_providers()))
        report = {
            provider: {
                **{
                    name: sum(n for (c, p, _), n in counts.items() if c == name and p == provider)
                    for name in (
                        "received",
                        "verified",
                        "rejected",
                        "duplicates",
                        "accepted",
                        "processed",
                        "failed",
                        "dead_lettered",
                        "replayed",
                    )
                },
                "dedup_hit_rate": ctx.metrics.dedup_hit_rate(age.total_seconds(), provider),
            }
            for provider in providers
        }
    if as_json:
        emit_json({"window_s": age.total_seconds(), "providers": report})
        return
    table = Table("provider", *next(iter(report.values()), {}).keys())
    for provider, row in report.items():
        table.add_row(
            provider,
            *(
                "-" if v is None else f"{v:.1%}" if isinstance(v, float) else str(v)
                for v in row.values()
            ),
        )
    out.print(table)
