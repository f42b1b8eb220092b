"""The shop's operations, each one database transaction, used by the API, the jobs and the CLI.

:class:`ShopService` is the façade they call; each domain lives in a module of its own:

- ``catalogue.py`` — products, manual stock adjustments, the ERP's stock sync;
- ``ordering.py`` — orders placed with their stock reserved, idempotent under a key;
- ``payments.py`` — payments applied (by an operator or a provider's webhook), payment methods;
- ``fulfilment.py`` — paid orders handed to the jobs, swept again, fulfilled once;
- ``refunds.py`` — refunds, full or partial;
- ``base.py`` — what they share: the transaction, the audit row inside it, the actors.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from resilience.audit import AuditTrail
from resilience.shop.service.base import Dispatcher, utcnow
from resilience.shop.service.catalogue import Catalogue
from resilience.shop.service.fulfilment import Fulfilment
from resilience.shop.service.ordering import Ordering
from resilience.shop.service.payments import Payments
from resilience.shop.service.refunds import Refunds

__all__ = ["Dispatcher", "ShopService", "utcnow"]


class ShopService:
    """The reference shop's business operations, one façade over its domains.

    Parameters:
        sessions: session factory bound to the shop database.
        dispatcher: receives paid orders for fulfilment.
        currency: ISO code stamped on new orders.
        max_lines_per_order, max_quantity_per_line: the largest order accepted.
        clock: returns the current UTC time; injected so tests control time.
        audit: the audit trail; every critical action writes one row in its own transaction.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        dispatcher: Dispatcher,
        *,
        currency: str = "EUR",
        max_lines_per_order: int = 50,
        max_quantity_per_line: int = 1000,
        clock: Callable[[], datetime] = utcnow,
        audit: AuditTrail | None = None,
    ) -> None:
        trail = audit or AuditTrail(clock=clock)
        self.catalogue = Catalogue(sessions, audit=trail, clock=clock)
        self.ordering = Ordering(
            sessions,
            audit=trail,
            clock=clock,
            currency=currency,
            max_lines_per_order=max_lines_per_order,
            max_quantity_per_line=max_quantity_per_line,
        )
        self.fulfilment = Fulfilment(sessions, dispatcher, audit=trail, clock=clock)
        self.payments = Payments(sessions, self.fulfilment, audit=trail, clock=clock)
        self.refunds = Refunds(sessions, audit=trail, clock=clock)
        # The façade's operations are its domains' own methods.
        self.create_product = self.catalogue.create_product
        self.get_product = self.catalogue.get_product
        self.list_products = self.catalogue.list_products
        self.sync_stock = self.catalogue.sync_stock
        self.adjust_stock = self.catalogue.adjust_stock
        self.get_order = self.ordering.get_order
        self.list_orders = self.ordering.list_orders
        self.create_order = self.ordering.create_order
        self.record_payment = self.payments.record_payment
        self.apply_provider_payment = self.payments.apply_provider_payment
        self.change_payment_method = self.payments.change_payment_method
        self.requeue_unfulfilled = self.fulfilment.requeue_unfulfilled
        self.fulfil_order = self.fulfilment.fulfil_order
        self.refund = self.refunds.refund
        self.apply_provider_refund = self.refunds.apply_provider_refund
