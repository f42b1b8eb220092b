"""The application factory: one app per :class:`ShopContext`, no module-level state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from resilience import __version__
from resilience.shop.api.errors import install_error_handlers
from resilience.shop.api.limits import BodyLimit, BodyTooLarge, body_too_large
from resilience.shop.api.routes import admin, public
from resilience.shop.api.webhooks import router as webhooks
from resilience.shop.context import ShopContext

__all__ = ["app_from_environment", "create_app"]


def app_from_environment() -> FastAPI:
    """The app of one process of ``shop serve --workers N``: uvicorn calls this factory in each
    worker process, which builds its own context (engine, Redis, broker) from the environment
    and closes it when the process shuts down. Connections are never shared across a fork."""
    from resilience.shop.settings import ShopSettings

    ctx = ShopContext.from_settings(ShopSettings())

    @asynccontextmanager
    async def closing(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            ctx.close()

    return create_app(ctx, lifespan=closing)


def create_app(ctx: ShopContext, *, lifespan: Any = None) -> FastAPI:
    """Build the shop API around ``ctx``.

    Example::

        app = create_app(ShopContext.from_settings(ShopSettings()))
        uvicorn.run(app, port=8000)
    """
    app = FastAPI(title="chaosgate reference shop", version=__version__, lifespan=lifespan)
    app.state.ctx = ctx
    install_error_handlers(app)
    app.add_exception_handler(BodyTooLarge, body_too_large)
    # Read per request from the app's context (built without one, the app still documents).
    app.add_middleware(
        BodyLimit, max_bytes=lambda: app.state.ctx.settings.max_body_bytes, exempt=("/webhooks/",)
    )
    app.include_router(public)
    app.include_router(admin)
    app.include_router(webhooks)
    return app
