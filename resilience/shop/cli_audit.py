"""``shop audit ...``: read the audit trail, verify its hash chain, manage its partitions."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Annotated

import typer
from rich.table import Table

from resilience.shop.cli_support import (
    UNKEYED_AUDIT,
    emit_json,
    err,
    fail,
    load_settings,
    out,
    parse_since,
    shop_context,
)

__all__ = ["EXIT_BROKEN", "audit_app"]

#: ``shop audit verify`` exits with this when the chain is broken.
EXIT_BROKEN = 1

audit_app = typer.Typer(
    help="The audit trail of critical actions: list, verify, partitions.", no_args_is_help=True
)

AsJson = Annotated[bool, typer.Option("--json", help="print JSON")]


@audit_app.command("log")
def log_(
    entity: Annotated[
        str | None, typer.Option(help="only this entity, TYPE:ID, e.g. Order:42")
    ] = None,
    action: Annotated[
        list[str] | None,
        typer.Option(help="only this action, e.g. refund_created (repeatable: any of them)"),
    ] = None,
    since: Annotated[str | None, typer.Option(help="only this recent: 30m, 1h, 7d")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="newest N entries")] = 100,
    as_json: AsJson = False,
) -> None:
    """Audit entries, oldest first, with who, what, and the state before and after."""
    target = None
    if entity is not None:
        kind, sep, ident = entity.partition(":")
        if not sep or not kind or not ident:
            fail(f"--entity {entity!r}: use TYPE:ID, e.g. Order:42")
        target = (kind, ident)
    settings = load_settings()
    window = parse_since(since)
    with shop_context(settings) as ctx, ctx.sessions() as session:
        entries = ctx.audit.entries(
            session,
            entity=target,
            actions=action or None,
            since=ctx.clock() - window if window else None,
            limit=limit,
        )
    if as_json:
        emit_json([e.to_dict() for e in entries])
        return
    table = Table("seq", "at", "action", "entity", "by", "before", "after")
    for e in entries:
        table.add_row(
            str(e.seq),
            e.created_at.isoformat(timespec="seconds"),
            e.action,
            e.entity,
            e.user_id or "-",
            _short(e.before),
            _short(e.after),
        )
    out.print(table)


def _short(state: dict[str, object] | None) -> str:
    return "-" if state is None else json.dumps(state, sort_keys=True)[:60]


@audit_app.command("verify")
def verify(as_json: AsJson = False) -> None:
    """Walk the hash chain and name the first edited, deleted or inserted row. Exits 1 when
    the chain is broken, 0 when it holds."""
    from resilience.audit.checkpoint import check_against, read_checkpoint
    from resilience.audit.partitions import archive_anchor

    settings = load_settings()
    path = settings.audit_checkpoint_path
    with shop_context(settings) as ctx:
        anchor = archive_anchor(ctx.engine)
        result = ctx.audit.verify(ctx.engine, anchor=anchor)
        checkpoint = read_checkpoint(path, key=settings.audit_key()) if path else None
        if result.ok and checkpoint is not None:
            cut = check_against(ctx.engine, checkpoint)
            if cut is not None:
                result = replace(result, ok=False, broken_seq=checkpoint.seq, reason=cut)
    if settings.audit_key() is None:
        err.print(f"warning: {UNKEYED_AUDIT}", highlight=False)
    if as_json:
        emit_json(
            {**result.to_dict(), "checkpoint": None if checkpoint is None else checkpoint.seq}
        )
    elif result.ok:
        span = f"rows {result.first_seq}..{result.last_seq}" if result.rows else "no rows"
        anchored = f", continuing archived row {anchor.seq}" if anchor else ""
        if checkpoint is not None:
            anchored += f", holding the checkpoint of {checkpoint.at} (row {checkpoint.seq})"
        elif path is None:
            anchored += (
                " (no checkpoint: a cut tail cannot be told; set SHOP_AUDIT_CHECKPOINT_PATH)"
            )
        out.print(f"audit chain intact: {result.rows} row(s), {span}{anchored}")
    else:
        out.print(
            f"[bold red]audit chain broken at row seq {result.broken_seq}:[/] {result.reason}",
            highlight=False,
        )
    if not result.ok:
        raise typer.Exit(EXIT_BROKEN)


@audit_app.command("checkpoint")
def checkpoint() -> None:
    """Anchor the chain's head in SHOP_AUDIT_CHECKPOINT_PATH (signed with the HMAC key), so a
    later verify names a cut tail. shop worker takes one at every sweep."""
    from resilience.audit.checkpoint import take_checkpoint
    from resilience.audit.partitions import archive_anchor

    settings = load_settings()
    path = settings.audit_checkpoint_path
    if path is None:
        fail("set SHOP_AUDIT_CHECKPOINT_PATH to a file outside the database first")
    with shop_context(settings) as ctx:
        verified = ctx.audit.verify(ctx.engine, anchor=archive_anchor(ctx.engine))
        if not verified.ok:
            fail(f"the chain is broken at row {verified.broken_seq}: not anchoring it", code=1)
        taken = take_checkpoint(ctx.engine, path, key=settings.audit_key())
    if taken is None:
        out.print("the audit trail is empty: nothing to anchor yet")
    else:
        out.print(f"checkpoint: row {taken.seq} at {taken.at} in {path}", highlight=False)


@audit_app.command("partitions")
def partitions(
    ahead: Annotated[int, typer.Option(min=0, max=36, help="months to create ahead")] = 3,
    keep: Annotated[
        int, typer.Option(min=1, help="months kept in the live table; older ones are archived")
    ] = 12,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="say what, change nothing")] = False,
    as_json: AsJson = False,
) -> None:
    """PostgreSQL: create the coming months' partitions and archive (detach into the
    audit_archive schema) those older than KEEP months. Run it monthly (cron)."""
    from resilience.audit.partitions import maintain

    settings = load_settings()
    with shop_context(settings) as ctx:
        try:
            plan = maintain(
                ctx.engine, now=ctx.clock(), ahead_months=ahead, keep_months=keep, dry_run=dry_run
            )
        except RuntimeError as exc:
            fail(str(exc))
    if as_json:
        emit_json(plan.to_dict())
        return
    verb = ("would create", "would archive") if dry_run else ("created", "archived")
    out.print(f"{verb[0]}: {', '.join(plan.created) or 'nothing'}")
    out.print(f"{verb[1]}: {', '.join(plan.archived) or 'nothing'}")
