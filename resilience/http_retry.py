"""One retried JSON GET for the service's outbound HTTP calls (payment providers, the ERP):
tenacity with exponential backoff and full jitter, retrying transport errors, 429 and 5xx only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_base

__all__ = ["RetriedGetFailed", "get_json", "transient"]


def transient(exc: BaseException) -> bool:
    """Worth another try: the network failed, or the server said 429 or 5xx."""
    if isinstance(exc, httpx.TransportError):
        return True
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code == 429 or exc.response.status_code >= 500
    return False


class RetriedGetFailed(Exception):
    """The GET failed on every attempt, or with an answer not worth retrying."""

    def __init__(self, attempts: int, cause: Exception) -> None:
        self.attempts = attempts
        self.cause = cause
        super().__init__(f"{type(cause).__name__}: {cause}")


def get_json(
    client: httpx.Client,
    url: str,
    *,
    attempts: int,
    wait: wait_base,
    sleep: Callable[[float], None],
    headers: Mapping[str, str] | None = None,
    before_sleep: Callable[[RetryCallState], None] | None = None,
    on_call: Callable[[], None] | None = None,
) -> Any:
    """The JSON body of ``GET url``; raises :class:`RetriedGetFailed` with the attempt count."""
    retrying = Retrying(
        stop=stop_after_attempt(attempts),
        wait=wait,
        retry=retry_if_exception(transient),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        for attempt in retrying:
            with attempt:
                if on_call is not None:
                    on_call()
                response = client.get(url, headers=dict(headers or {}))
                response.raise_for_status()
                return response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise RetriedGetFailed(retrying.statistics.get("attempt_number", 1), exc) from exc
    raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover
