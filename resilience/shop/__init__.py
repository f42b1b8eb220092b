"""The reference shop service: a small e-commerce backend that uses the resilience components.

It exists so that chaosgate has a real system to break: an HTTP API (FastAPI), background jobs
(Dramatiq on Redis), persistence (SQLAlchemy 2 + Alembic; SQLite or PostgreSQL) and an operator
CLI (``shop``). The harness never imports it; it drives it through HTTP, SQL, Redis and commands.
"""

from resilience.shop.context import ShopContext
from resilience.shop.settings import ShopSettings

__all__ = ["ShopContext", "ShopSettings"]
