"""The error tree of the ``resilience`` package.

Every error raised on purpose by ``resilience`` derives from :class:`ResilienceError`, so a caller
can catch the whole family at one boundary. Errors carry the offending values as attributes, and
their messages name the bad value and what to do about it::

    ResilienceError
    ├── ConfigurationError            a setting is missing or out of range
    ├── DispatchFailed                a job could not be enqueued (the broker is unreachable)
    ├── WebhookRejected               a delivery is refused before anything is stored (4xx/5xx)
    │   ├── SignatureInvalid          missing, malformed, stale or wrong signature   (400)
    │   ├── PayloadInvalid            body too large, not JSON, or lacks id/type  (400/413)
    │   └── CertificateUnavailable    PayPal's certificate cannot be fetched now     (503)
    ├── ProviderApiError              the provider's API failed after all retries
    ├── ErpError                      the ERP could not give usable stock levels
    │   ├── ErpUnavailable            unreachable, 5xx or too slow after all retries
    │   └── ErpDataInvalid            it answered, with levels that make no sense
    ├── NotYetApplicable              an event arrived before the one it depends on (retry later)
    ├── UnprocessableEvent            an event can never apply (malformed); dead-lettered at once
    └── ShopError                     the reference shop service refused an operation
        ├── NotFoundError             an entity does not exist          (HTTP 404)
        │   ├── UnknownProduct
        │   ├── UnknownOrder
        │   └── UnknownAlert
        ├── ConflictError             the operation clashes with state  (HTTP 409)
        │   ├── IllegalTransition     the order state machine forbids the event
        │   ├── InsufficientStock
        │   ├── IdempotencyConflict   a key was reused with another request body
        │   ├── OrderLocked           the order's status forbids this change
        │   ├── InvalidRefund         amount exceeds what is refundable
        │   └── AlertResolved         the alert is resolved: nothing to acknowledge
        ├── DuplicateSku              a product with that SKU exists    (HTTP 409)
        └── LimitExceeded             a request is larger than allowed  (HTTP 422)
"""

from __future__ import annotations

__all__ = [
    "AlertResolved",
    "CertificateUnavailable",
    "ConfigurationError",
    "ConflictError",
    "DispatchFailed",
    "DuplicateSku",
    "ErpDataInvalid",
    "ErpError",
    "ErpUnavailable",
    "IdempotencyConflict",
    "IllegalTransition",
    "InsufficientStock",
    "InvalidRefund",
    "LimitExceeded",
    "NotFoundError",
    "NotYetApplicable",
    "OrderLocked",
    "PayloadInvalid",
    "ProviderApiError",
    "ResilienceError",
    "ShopError",
    "SignatureInvalid",
    "UnknownAlert",
    "UnknownOrder",
    "UnknownProduct",
    "UnprocessableEvent",
    "WebhookRejected",
]


class ResilienceError(Exception):
    """Base of every error that ``resilience`` raises on purpose."""


class ConfigurationError(ResilienceError):
    """A setting is missing or invalid."""


class DispatchFailed(ResilienceError):
    """A job could not be handed to the broker."""

    def __init__(self, job: str, key: object, reason: str) -> None:
        self.job = job
        self.key = key
        self.reason = reason
        super().__init__(f"could not enqueue {job} for {key!r}: {reason}")


class WebhookRejected(ResilienceError):
    """A webhook delivery was refused; nothing was stored.

    ``reason`` is a stable code (``bad_signature``, ``stale_timestamp``...), used as the error
    code in the answer and as the ``reason`` label of the rejected counter.
    """

    http_status = 400

    def __init__(self, provider: str, reason: str, message: str) -> None:
        self.provider = provider
        self.reason = reason
        self.message = message
        super().__init__(f"{provider} webhook rejected ({reason}): {message}")


class SignatureInvalid(WebhookRejected):
    pass


class PayloadInvalid(WebhookRejected):
    def __init__(self, provider: str, reason: str, message: str, *, http_status: int = 400) -> None:
        super().__init__(provider, reason, message)
        self.http_status = http_status


class CertificateUnavailable(WebhookRejected):
    """Transient: the provider retries the delivery later."""

    http_status = 503


class ProviderApiError(ResilienceError):
    """A call to a payment provider's API failed after all retries."""

    def __init__(self, provider: str, operation: str, attempts: int, reason: str) -> None:
        self.provider = provider
        self.operation = operation
        self.attempts = attempts
        self.reason = reason
        super().__init__(f"{provider} API {operation} failed after {attempts} attempt(s): {reason}")


class ErpError(ResilienceError):
    """The ERP could not give usable stock levels; nothing was written."""


class ErpUnavailable(ErpError):
    def __init__(self, attempts: int, reason: str) -> None:
        self.attempts = attempts
        self.reason = reason
        super().__init__(f"ERP stock API failed after {attempts} attempt(s): {reason}")


class ErpDataInvalid(ErpError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        shown = "; ".join(problems[:5])
        super().__init__(
            f"ERP stock levels refused, nothing written ({len(problems)} problem(s)): {shown}"
        )


class NotYetApplicable(ResilienceError):
    """An event depends on another that has not been applied yet (e.g. a refund before the
    payment it refunds); processing it again later may succeed."""


class UnprocessableEvent(ResilienceError):
    """A stored event can never be applied (e.g. it lacks the order it refers to); retrying
    cannot help, so it becomes a dead letter on its first attempt."""


class ShopError(ResilienceError):
    """The reference shop service refused an operation.

    ``code`` is a stable machine-readable identifier, used as ``error.code`` in JSON answers.
    """

    code = "shop_error"
    http_status = 400

    def details(self) -> dict[str, object]:
        """The data this error carries, for JSON answers and logs."""
        return {}


class NotFoundError(ShopError):
    code = "not_found"
    http_status = 404


class UnknownProduct(NotFoundError):
    code = "unknown_product"

    def __init__(self, product_id: int) -> None:
        self.product_id = product_id
        super().__init__(f"product {product_id} does not exist; list products with GET /products")

    def details(self) -> dict[str, object]:
        return {"product_id": self.product_id}


class UnknownOrder(NotFoundError):
    code = "unknown_order"

    def __init__(self, order_id: int) -> None:
        self.order_id = order_id
        super().__init__(f"order {order_id} does not exist")

    def details(self) -> dict[str, object]:
        return {"order_id": self.order_id}


class ConflictError(ShopError):
    code = "conflict"
    http_status = 409


class UnknownAlert(NotFoundError):
    code = "unknown_alert"

    def __init__(self, alert_id: int) -> None:
        self.alert_id = alert_id
        super().__init__(f"alert {alert_id} does not exist; see 'shop alerts list'")

    def details(self) -> dict[str, object]:
        return {"alert_id": self.alert_id}


class AlertResolved(ConflictError):
    code = "alert_resolved"

    def __init__(self, alert_id: int, action: str) -> None:
        self.alert_id = alert_id
        self.action = action
        super().__init__(f"alert {alert_id} is already resolved; nothing to {action}")

    def details(self) -> dict[str, object]:
        return {"alert_id": self.alert_id}


class IllegalTransition(ConflictError):
    """The order state machine has no transition for ``event`` from ``status``."""

    code = "illegal_transition"

    def __init__(self, status: str, event: str, allowed: tuple[str, ...]) -> None:
        self.status = status
        self.event = event
        self.allowed = allowed
        hint = ", ".join(allowed) if allowed else "none (the order is final)"
        super().__init__(
            f"an order in status {status!r} cannot take event {event!r}; "
            f"events allowed from {status!r}: {hint}"
        )

    def details(self) -> dict[str, object]:
        return {"status": self.status, "event": self.event, "allowed": list(self.allowed)}


class InsufficientStock(ConflictError):
    code = "insufficient_stock"

    def __init__(self, product_id: int, requested: int, available: int) -> None:
        self.product_id = product_id
        self.requested = requested
        self.available = available
        super().__init__(
            f"product {product_id} has {available} in stock, {requested} requested; "
            "lower the quantity or adjust stock"
        )

    def details(self) -> dict[str, object]:
        return {
            "product_id": self.product_id,
            "requested": self.requested,
            "available": self.available,
        }


class IdempotencyConflict(ConflictError):
    code = "idempotency_key_reused"

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(
            f"Idempotency-Key {key!r} was already used for a different request body; "
            "send a new key for a new order"
        )

    def details(self) -> dict[str, object]:
        return {"idempotency_key": self.key}


class OrderLocked(ConflictError):
    code = "order_locked"

    def __init__(
        self, order_id: int, status: str, action: str, allowed_in: tuple[str, ...]
    ) -> None:
        self.order_id = order_id
        self.status = status
        self.action = action
        self.allowed_in = allowed_in
        super().__init__(
            f"order {order_id} is {status}; {action} is allowed only while "
            f"{' or '.join(allowed_in)}"
        )

    def details(self) -> dict[str, object]:
        return {
            "order_id": self.order_id,
            "status": self.status,
            "action": self.action,
            "allowed_in": list(self.allowed_in),
        }


class InvalidRefund(ConflictError):
    code = "invalid_refund"

    def __init__(self, order_id: int, amount_cents: int, refundable_cents: int) -> None:
        self.order_id = order_id
        self.amount_cents = amount_cents
        self.refundable_cents = refundable_cents
        super().__init__(
            f"refund of {amount_cents} cents on order {order_id} exceeds the "
            f"{refundable_cents} cents still refundable"
        )

    def details(self) -> dict[str, object]:
        return {
            "order_id": self.order_id,
            "amount_cents": self.amount_cents,
            "refundable_cents": self.refundable_cents,
        }


class LimitExceeded(ShopError):
    code = "limit_exceeded"
    http_status = 422

    def __init__(self, what: str, value: int, limit: int, setting: str) -> None:
        self.what = what
        self.value = value
        self.limit = limit
        self.setting = setting
        super().__init__(f"{what} is {value}, above the limit of {limit} ({setting})")

    def details(self) -> dict[str, object]:
        return {
            "what": self.what,
            "value": self.value,
            "limit": self.limit,
            "setting": self.setting,
        }


class DuplicateSku(ShopError):
    code = "duplicate_sku"
    http_status = 409

    def __init__(self, sku: str) -> None:
        self.sku = sku
        super().__init__(f"a product with SKU {sku!r} already exists; choose another SKU")

    def details(self) -> dict[str, object]:
        return {"sku": self.sku}
