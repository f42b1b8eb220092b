"""``shop erp ...``: the ERP stock sync's health, a sync on demand, and its pause switch."""

from __future__ import annotations

from typing import Annotated

import typer

from resilience.shop.cli_support import emit_json, fail, load_settings, out, shop_context

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
    with shop_context(settings) as ctx:
        if ctx.erp is None:
            fail("no ERP configured; set SHOP_ERP_BASE_URL")
        ctx.jobs.sync_stock.send()
    out.print(f"sync_stock enqueued on {settings.erp_queue}")


@erp_app.command("pause")
def pause() -> None:
    """Stop applying ERP stock (every worker): syncs run but fetch and change nothing."""
    settings = load_settings()
    with shop_context(settings) as ctx:
        if ctx.erp is None:
            fail("no ERP configured; set SHOP_ERP_BASE_URL")
        ctx.erp.pause()
    out.print("ERP sync paused")


@erp_app.command("resume")
def resume() -> None:
    """Apply ERP stock again."""
    settings = load_settings()
    with shop_context(settings) as ctx:
        if ctx.erp is None:
            fail("no ERP configured; set SHOP_ERP_BASE_URL")
        ctx.erp.resume()
    out.print("ERP sync resumed")
