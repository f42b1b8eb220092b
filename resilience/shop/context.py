"""The composition root of the reference service: settings in, wired parts out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import dramatiq
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from resilience.shop.db import make_engine, make_sessionmaker
from resilience.shop.jobs import ShopJobs, make_broker
from resilience.shop.service import ShopService, utcnow
from resilience.shop.settings import ShopSettings

__all__ = ["ShopContext"]


@dataclass
class ShopContext:
    """Everything one shop process uses, built once from settings and passed explicitly.

    Example::

        ctx = ShopContext.from_settings(ShopSettings())
        app = create_app(ctx)
    """

    settings: ShopSettings
    engine: Engine
    sessions: sessionmaker[Session]
    broker: dramatiq.Broker
    jobs: ShopJobs
    service: ShopService
    clock: Callable[[], datetime] = field(default=utcnow)

    @classmethod
    def from_settings(
        cls,
        settings: ShopSettings,
        *,
        broker: dramatiq.Broker | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> ShopContext:
        engine = make_engine(settings)
        sessions = make_sessionmaker(engine)
        broker = broker if broker is not None else make_broker(settings)
        jobs = ShopJobs(broker, settings)
        service = ShopService(
            sessions,
            jobs,
            currency=settings.currency,
            max_lines_per_order=settings.max_lines_per_order,
            max_quantity_per_line=settings.max_quantity_per_line,
            clock=clock,
        )
        jobs.attach(service)
        return cls(settings, engine, sessions, broker, jobs, service, clock)

    def check_database(self) -> None:
        """Raise if the database does not answer ``SELECT 1``."""
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def check_broker(self) -> None:
        """Raise if the broker's Redis does not answer PING (no-op for non-Redis brokers)."""
        client = getattr(self.broker, "client", None)
        if client is not None:
            client.ping()

    def close(self) -> None:
        self.broker.close()
        self.engine.dispose()
