"""What Stripe, PayPal and Standard Webhooks events do to the shop's orders.

Each handler reads the order id the shop put into the payment (Stripe ``metadata.order_id``,
PayPal ``custom_id``, Standard Webhooks ``data.order_id``), confirms it with the provider's API
when one is configured (a Stripe success; every PayPal capture, denial and refund), and calls an
idempotent service method, so duplicates and out-of-order events are harmless.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from resilience.errors import NotYetApplicable, UnprocessableEvent
from resilience.shop.schemas import PaymentIn
from resilience.shop.service import ShopService
from resilience.webhooks.processor import Handler, StoredEvent
from resilience.webhooks.provider_api import ProviderApi

__all__ = ["ShopWebhookHandlers"]

# What the provider's API must report before an event is applied. PayPal signs a body only
# through its CRC32, so with the API configured no PayPal event changes state unconfirmed.
STRIPE_SUCCEEDED = frozenset({"succeeded"})
#: a capture later refunded still completed
PAYPAL_CAPTURED = frozenset({"COMPLETED", "PARTIALLY_REFUNDED", "REFUNDED"})
PAYPAL_DENIED = frozenset({"DECLINED", "FAILED"})
#: PAYMENT.CAPTURE.REFUNDED carries the refund; its own status
PAYPAL_REFUNDED = frozenset({"COMPLETED"})


def _dig(document: Mapping[str, Any], *path: str) -> Any:
    node: Any = document
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            raise UnprocessableEvent(f"event has no {'.'.join(path)}")
        node = node[key]
    return node


def _order_id(value: Any, where: str) -> int:
    try:
        order_id = int(value)
    except (TypeError, ValueError):
        raise UnprocessableEvent(f"{where} {value!r} is not an order id") from None
    if order_id <= 0:
        raise UnprocessableEvent(f"{where} {value!r} is not an order id")
    return order_id


def _cents(value: Any, where: str) -> int:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise UnprocessableEvent(f"{where} {value!r} is not an amount") from None
    cents = amount * 100
    if cents != cents.to_integral_value() or cents < 0:
        raise UnprocessableEvent(f"{where} {value!r} is not an amount in cents")
    return int(cents)


class ShopWebhookHandlers:
    """The shop's handlers, keyed by (provider, event type) in :meth:`table`."""

    def __init__(self, service: ShopService, api: ProviderApi) -> None:
        self._service = service
        self._api = api

    def table(self) -> dict[tuple[str, str], Handler]:
        return {
            ("stripe", "payment_intent.succeeded"): self.stripe_payment_succeeded,
            ("stripe", "payment_intent.payment_failed"): self.stripe_payment_failed,
            ("stripe", "charge.refunded"): self.stripe_charge_refunded,
            ("paypal", "PAYMENT.CAPTURE.COMPLETED"): self.paypal_capture_completed,
            ("paypal", "PAYMENT.CAPTURE.DENIED"): self.paypal_capture_denied,
            ("paypal", "PAYMENT.CAPTURE.REFUNDED"): self.paypal_capture_refunded,
            ("standard", "payment.succeeded"): self.standard_payment_succeeded,
            ("standard", "payment.failed"): self.standard_payment_failed,
            ("standard", "refund.succeeded"): self.standard_refund_succeeded,
        }

    def _confirm(
        self, provider: str, ref: str, expected: frozenset[str], *, refund: bool = False
    ) -> None:
        if not self._api.configured(provider):
            return
        lookup = self._api.refund_status if refund else self._api.payment_status
        status = lookup(provider, ref)
        if status not in expected:
            raise NotYetApplicable(
                f"{provider} reports {'refund' if refund else 'payment'} {ref} as {status!r}, "
                f"not {' or '.join(sorted(expected))}"
            )

    # -- Stripe ------------------------------------------------------------------------------

    def _stripe_intent(self, event: StoredEvent) -> tuple[int, str, str]:
        intent = _dig(event.document, "data", "object")
        order_id = _order_id(_dig(intent, "metadata", "order_id"), "metadata.order_id")
        ref = str(_dig(intent, "id"))
        methods = intent.get("payment_method_types") or ["card"]
        return order_id, ref, str(methods[0])

    def stripe_payment_succeeded(self, event: StoredEvent) -> str:
        order_id, ref, method = self._stripe_intent(event)
        self._confirm("stripe", ref, STRIPE_SUCCEEDED)
        return self._service.apply_provider_payment(
            order_id, PaymentIn(provider="stripe", method=method, succeeded=True, provider_ref=ref)
        )

    def stripe_payment_failed(self, event: StoredEvent) -> str:
        order_id, ref, method = self._stripe_intent(event)
        return self._service.apply_provider_payment(
            order_id, PaymentIn(provider="stripe", method=method, succeeded=False, provider_ref=ref)
        )

    def stripe_charge_refunded(self, event: StoredEvent) -> str:
        charge = _dig(event.document, "data", "object")
        order_id = _order_id(_dig(charge, "metadata", "order_id"), "metadata.order_id")
        total = _dig(charge, "amount_refunded")
        if not isinstance(total, int) or total < 0:
            raise UnprocessableEvent(f"amount_refunded {total!r} is not a count of cents")
        return self._service.apply_provider_refund(
            order_id,
            provider_ref=f"stripe:{_dig(charge, 'id')}:{total}",
            refunded_total_cents=total,
            reason=f"Stripe charge.refunded {event.event_id}",
        )

    # -- PayPal ------------------------------------------------------------------------------

    def _paypal_capture(self, event: StoredEvent) -> tuple[int, str]:
        resource = _dig(event.document, "resource")
        return _order_id(_dig(resource, "custom_id"), "resource.custom_id"), str(
            _dig(resource, "id")
        )

    def paypal_capture_completed(self, event: StoredEvent) -> str:
        order_id, ref = self._paypal_capture(event)
        self._confirm("paypal", ref, PAYPAL_CAPTURED)
        return self._service.apply_provider_payment(
            order_id,
            PaymentIn(provider="paypal", method="paypal", succeeded=True, provider_ref=ref),
        )

    def paypal_capture_denied(self, event: StoredEvent) -> str:
        order_id, ref = self._paypal_capture(event)
        self._confirm("paypal", ref, PAYPAL_DENIED)
        return self._service.apply_provider_payment(
            order_id,
            PaymentIn(provider="paypal", method="paypal", succeeded=False, provider_ref=ref),
        )

    def paypal_capture_refunded(self, event: StoredEvent) -> str:
        order_id, ref = self._paypal_capture(event)
        amount = _cents(_dig(event.document, "resource", "amount", "value"), "amount.value")
        self._confirm("paypal", ref, PAYPAL_REFUNDED, refund=True)
        return self._service.apply_provider_refund(
            order_id,
            provider_ref=f"paypal:{ref}",
            amount_cents=amount,
            reason=f"PayPal PAYMENT.CAPTURE.REFUNDED {event.event_id}",
        )

    # -- Standard Webhooks -------------------------------------------------------------------
    # A provider signing with the Standard Webhooks scheme sends {"type", "timestamp", "data"};
    # the shop reads data.order_id, data.payment_id (its reference) and data.method.

    def _standard_payment(self, event: StoredEvent) -> tuple[int, PaymentIn]:
        data = _dig(event.document, "data")
        order_id = _order_id(_dig(data, "order_id"), "data.order_id")
        ref = str(_dig(data, "payment_id"))
        method = str(data.get("method") or "card")
        succeeded = event.event_type == "payment.succeeded"
        payment = PaymentIn(
            provider="standard", method=method, succeeded=succeeded, provider_ref=ref
        )
        return order_id, payment

    def standard_payment_succeeded(self, event: StoredEvent) -> str:
        return self._service.apply_provider_payment(*self._standard_payment(event))

    def standard_payment_failed(self, event: StoredEvent) -> str:
        return self._service.apply_provider_payment(*self._standard_payment(event))

    def standard_refund_succeeded(self, event: StoredEvent) -> str:
        data = _dig(event.document, "data")
        order_id = _order_id(_dig(data, "order_id"), "data.order_id")
        amount = _dig(data, "amount_cents")
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            raise UnprocessableEvent(f"data.amount_cents {amount!r} is not a count of cents")
        return self._service.apply_provider_refund(
            order_id,
            provider_ref=f"standard:{_dig(data, 'refund_id')}",
            amount_cents=amount,
            reason=f"refund.succeeded {event.event_id}",
        )
