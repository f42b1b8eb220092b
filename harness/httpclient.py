"""The one HTTP client the harness's probes, actions, faults and readiness checks share.

``httpx.get(...)`` builds a client — and its TLS context, about 25 ms of CPU — on every call.
Probes sample every 0.2 s and readiness checks poll every 50 ms, so on a loaded machine running
several scenarios at once that cost alone delayed a fault's set-up past the delivery it was
meant to fail. The shared client keeps the TLS context and nothing else: keep-alive is off, so
every request still opens its own connection, as a fresh client's would — a probe through a
Toxiproxy proxy sees the proxy as a new caller does. ``httpx.Client`` is thread-safe.
"""

from __future__ import annotations

import threading
from typing import Any

import httpx

__all__ = ["request", "shared"]

_lock = threading.Lock()
_client: httpx.Client | None = None


def shared() -> httpx.Client:
    """The process-wide client (made on first use)."""
    global _client
    with _lock:
        if _client is None:
            _client = httpx.Client(
                limits=httpx.Limits(max_keepalive_connections=0), follow_redirects=False
            )
        return _client


def request(method: str, url: str, *, timeout: float, **kwargs: Any) -> httpx.Response:
    """``httpx.request`` on the shared client."""
    return shared().request(method, url, timeout=timeout, **kwargs)
