"""Calls to payment providers' APIs during processing, retried with tenacity: exponential
backoff with full jitter, on transport errors, 429 and 5xx only."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from tenacity import RetryCallState, wait_random_exponential

from resilience.errors import ProviderApiError
from resilience.http_retry import RetriedGetFailed, get_json

__all__ = ["ProviderApi", "ProviderEndpoint"]


@dataclass(frozen=True)
class ProviderEndpoint:
    """Where one provider's API is and how to authenticate.

    Attributes:
        base_url: e.g. ``https://api.stripe.com``.
        token: bearer token (secret key) or ``None``.
        payment_path: path of a payment's status, with ``{ref}``.
        status_field: JSON field of the status in the answer.
        refund_path: path of a refund's status, with ``{ref}`` (None: refunds not looked up).
    """

    base_url: str
    token: str | None
    payment_path: str
    status_field: str = "status"
    refund_path: str | None = None


STRIPE_PAYMENT_PATH = "/v1/payment_intents/{ref}"
PAYPAL_PAYMENT_PATH = "/v2/payments/captures/{ref}"
PAYPAL_REFUND_PATH = "/v2/payments/refunds/{ref}"


class ProviderApi:
    """A small client for the provider calls that processing makes.

    Parameters:
        endpoints: provider name -> endpoint.
        attempts: tries per call, the first included.
        backoff_min_s, backoff_max_s: full-jitter exponential backoff between tries
            (tenacity's ``wait_random_exponential``).
        timeout_s: timeout of one HTTP request.
        client: the HTTP client (tests pass a mock transport or point at a local server).
        sleep: injectable so tests run in zero time.
    """

    def __init__(
        self,
        endpoints: Mapping[str, ProviderEndpoint],
        *,
        attempts: int = 4,
        backoff_min_s: float = 0.2,
        backoff_max_s: float = 5.0,
        timeout_s: float = 5.0,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_retry: Callable[[RetryCallState], None] | None = None,
    ) -> None:
        if attempts < 1:
            raise ValueError(f"attempts={attempts!r}: must be at least 1")
        self._endpoints = dict(endpoints)
        self._attempts = attempts
        self._wait = wait_random_exponential(multiplier=backoff_min_s, max=backoff_max_s)
        self._client = client or httpx.Client(timeout=timeout_s)
        self._sleep = sleep
        self._on_retry = on_retry
        self.calls = 0

    def configured(self, provider: str) -> bool:
        return provider in self._endpoints

    def payment_status(self, provider: str, ref: str) -> str:
        """The provider's status of payment ``ref`` (``succeeded``, ``COMPLETED``, ...).

        Raises:
            ProviderApiError: the call failed on every attempt, or with a non-retryable answer.
        """
        endpoint = self._endpoint(provider, "payment_status")
        return self._status(provider, "payment_status", endpoint, endpoint.payment_path, ref)

    def refund_status(self, provider: str, ref: str) -> str:
        """The provider's status of refund ``ref`` (PayPal: ``COMPLETED``, ``PENDING``...)."""
        endpoint = self._endpoint(provider, "refund_status")
        if endpoint.refund_path is None:
            raise ProviderApiError(provider, "refund_status", 0, "no refund path configured")
        return self._status(provider, "refund_status", endpoint, endpoint.refund_path, ref)

    def _endpoint(self, provider: str, operation: str) -> ProviderEndpoint:
        endpoint = self._endpoints.get(provider)
        if endpoint is None:
            raise ProviderApiError(provider, operation, 0, "no API endpoint configured")
        return endpoint

    def _status(
        self, provider: str, operation: str, endpoint: ProviderEndpoint, path: str, ref: str
    ) -> str:
        # The ref comes from an event body: one path segment, never a way around the path.
        url = endpoint.base_url.rstrip("/") + path.format(ref=quote(ref, safe=""))
        document = self._get_json(provider, operation, url, endpoint.token)
        status = document.get(endpoint.status_field) if isinstance(document, dict) else None
        if not isinstance(status, str):
            raise ProviderApiError(
                provider, operation, 1, f"answer has no string {endpoint.status_field!r}"
            )
        return status

    def _get_json(self, provider: str, operation: str, url: str, token: str | None) -> Any:
        def count() -> None:
            self.calls += 1

        try:
            return get_json(
                self._client,
                url,
                headers={"Authorization": f"Bearer {token}"} if token else None,
                attempts=self._attempts,
                wait=self._wait,
                sleep=self._sleep,
                before_sleep=self._on_retry,
                on_call=count,
            )
        except RetriedGetFailed as exc:
            raise ProviderApiError(provider, operation, exc.attempts, str(exc)) from exc.cause

    def close(self) -> None:
        self._client.close()
