"""``shop erp ...``: the ERP stock sync's health, a sync on demand, and its pause switch."""

from __future__ import annotations

from typing import Annotated

import typer

from resilience.shop.cli_support import (
    ActorOption,
    emit_json,
    fail,
    load_settings,
    operator,
    out,
    shop_context,
)

__all__ = ["erp_app"]

erp_app = typer.Typer(help="ERP stock sync: health, sync, pause and resume.", no_args_is_help=True)

AsJson = Annotated[bool, typer.Option("--json", help="print JSON")]


@erp_app.command("health")
def health(as_json: AsJson = False) -> None:
    """Whether the ERP answers GET /health, and whether the sync is paused. Exits 1 if down."""
    from resilience.errors import ErpUnavailable

    settings = load_settings()
    with shop_context(settings) as ctx:
        if ctx.erp is None:
            fail("no ERP configured; set SHOP_ERP_BASE_URL")
        paused = ctx.erp.paused()
        try:
            ctx.erp.erp.health()
            problem = None
        except ErpUnavailable as exc:
            problem = str(exc)
    if as_json:
        emit_json({"reachable": problem is None, "paused": paused, "error": problem})
    else:
        out.print(f"ERP {'reachable' if problem is None else 'DOWN: ' + problem}")
        out.print(f"sync {'paused' if paused else 'running'}")
    if problem is not None:
        raise typer.Exit(1)


@erp_app.command("sync")
def sync() -> None:
    """Enqueue one stock sync (the sync_stock job on the erp queue)."""
    settings = load_settings()
    if not settings.erp_base_url:
        fail("no ERP configured; set SHOP_ERP_BASE_URL")
    with shop_context(settings) as ctx:
        ctx.actors.sync_stock.send()
    out.print(f"sync_stock enqueued on {settings.erp_queue}")


@erp_app.command("pause")
def pause(actor: ActorOption = None) -> None:
    """Stop applying ERP stock (every worker): syncs run but fetch and change nothing.
    Audited: erp_sync_paused."""
    _switch(paused=True, actor=actor)
    out.print("ERP sync paused")


@erp_app.command("resume")
def resume(actor: ActorOption = None) -> None:
    """Apply ERP stock again. Audited: erp_sync_resumed."""
    _switch(paused=False, actor=actor)
    out.print("ERP sync resumed")


def _switch(*, paused: bool, actor: str | None) -> None:
    settings = load_settings()
    with shop_context(settings) as ctx:
        if ctx.erp is None:
            fail("no ERP configured; set SHOP_ERP_BASE_URL")
        before = ctx.erp.paused()
        if paused:
            ctx.erp.pause()
        else:
            ctx.erp.resume()
        ctx.audit_action(
            action="erp_sync_paused" if paused else "erp_sync_resumed",
            entity_type="ErpSync",
            entity_id="stock",
            actor=operator(actor),
            before={"paused": before},
            after={"paused": paused},
        )
