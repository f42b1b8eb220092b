"""The application factory: one app per :class:`ShopContext`, no module-level state."""

from __future__ import annotations

from fastapi import FastAPI

from resilience import __version__
from resilience.shop.api.errors import install_error_handlers
from resilience.shop.api.limits import BodyLimit, BodyTooLarge, body_too_large
from resilience.shop.api.routes import admin, public
from resilience.shop.api.webhooks import router as webhooks
from resilience.shop.context import ShopContext

__all__ = ["create_app"]


def create_app(ctx: ShopContext) -> FastAPI:
    """Build the shop API around ``ctx``.

    Example::

        app = create_app(ShopContext.from_settings(ShopSettings()))
        uvicorn.run(app, port=8000)
    """
    app = FastAPI(title="chaosgate reference shop", version=__version__)
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
