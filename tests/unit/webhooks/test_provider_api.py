"""Provider API calls: retried on transport errors, 429 and 5xx with full-jitter backoff; never on
other 4xx; sleep is injected so the backoff is observed, not waited."""

from __future__ import annotations

import httpx
import pytest

from resilience.errors import ProviderApiError
from resilience.webhooks.provider_api import STRIPE_PAYMENT_PATH, ProviderApi, ProviderEndpoint

ENDPOINT = {"stripe": ProviderEndpoint("https://api.stripe.test", "sk_test", STRIPE_PAYMENT_PATH)}


def api_answering(
    *responses: httpx.Response | Exception, attempts: int = 4
) -> tuple[ProviderApi, list[float], list[httpx.Request]]:
    queue = list(responses)
    seen: list[httpx.Request] = []
    sleeps: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        item = queue.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    api = ProviderApi(
        ENDPOINT,
        attempts=attempts,
        backoff_min_s=0.5,
        backoff_max_s=4,
        client=httpx.Client(transport=httpx.MockTransport(handler)),
        sleep=sleeps.append,
    )
    return api, sleeps, seen


def test_transient_failures_are_retried_with_jittered_backoff() -> None:
    api, sleeps, seen = api_answering(
        httpx.ConnectError("refused"),
        httpx.Response(503),
        httpx.Response(429),
        httpx.Response(200, json={"id": "pi_1", "status": "succeeded"}),
    )
    assert api.payment_status("stripe", "pi_1") == "succeeded"
    assert len(seen) == 4
    assert seen[-1].url.path == "/v1/payment_intents/pi_1"
    assert seen[-1].headers["Authorization"] == "Bearer sk_test"
    # Full jitter: each wait is drawn from [0, min(max, 0.5 * 2**n)].
    assert len(sleeps) == 3
    for n, slept in enumerate(sleeps):
        assert 0 <= slept <= min(4, 0.5 * 2 ** (n + 1))


def test_gives_up_after_the_configured_attempts() -> None:
    api, sleeps, seen = api_answering(*[httpx.Response(500)] * 3, attempts=3)
    with pytest.raises(ProviderApiError) as info:
        api.payment_status("stripe", "pi_2")
    assert info.value.attempts == 3
    assert len(seen) == 3
    assert len(sleeps) == 2


@pytest.mark.parametrize("status", [400, 401, 404])
def test_client_errors_are_not_retried(status: int) -> None:
    api, sleeps, seen = api_answering(httpx.Response(status))
    with pytest.raises(ProviderApiError, match=str(status)):
        api.payment_status("stripe", "pi_3")
    assert (len(seen), sleeps) == (1, [])


def test_answers_without_a_status_are_errors() -> None:
    api, _, _ = api_answering(httpx.Response(200, json={"id": "pi_4"}))
    with pytest.raises(ProviderApiError, match="'status'"):
        api.payment_status("stripe", "pi_4")


def test_unconfigured_provider() -> None:
    api, _, seen = api_answering()
    assert not api.configured("paypal")
    with pytest.raises(ProviderApiError, match="no API endpoint configured"):
        api.payment_status("paypal", "CAP-1")
    assert seen == []
