"""The reference shop service: a small e-commerce backend that uses the resilience components.

It exists so that chaosgate has a real system to break: an HTTP API (FastAPI), background jobs
(Dramatiq on Redis), persistence (SQLAlchemy 2 + Alembic; SQLite or PostgreSQL) and an operator
CLI (``shop``). The harness never imports it; it drives it through HTTP, SQL, Redis and commands.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from resilience.lazy import lazy_attributes

if TYPE_CHECKING:
    from resilience.shop.context import ShopContext
    from resilience.shop.settings import ShopSettings

__all__ = ["ShopContext", "ShopSettings"]


# Imported on first use: the composition root pulls in FastAPI, Dramatiq and the webhook
# stack, which `shop db ...` and other light commands do not need (1.6 s of start-up).
__getattr__ = lazy_attributes(
    __name__,
    {"ShopContext": "resilience.shop.context", "ShopSettings": "resilience.shop.settings"},
)
