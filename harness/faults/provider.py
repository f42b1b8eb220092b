"""The ``provider_errors`` fault: a ``fake-provider`` service fails the calls it is scheduled to."""

from __future__ import annotations

from typing import Any

import httpx

from harness import httpclient
from harness.errors import FaultError
from harness.faults import FAULTS, ActiveFault
from harness.provision.backend import Stack
from harness.scenario.model import ProviderErrorsFault

__all__: list[str] = []


@FAULTS.register("provider_errors")
def _provider_errors(fault: ProviderErrorsFault, stack: Stack, key: str) -> ActiveFault:
    service = stack.services.get(fault.service)
    if service is None or service.kind != "fake-provider":
        raise FaultError(
            f"provider_errors needs a service of kind fake-provider, not {fault.service!r}"
        )
    base = service.endpoint.url

    def call(method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            response = httpclient.request(method, base + path, json=body, timeout=5)
            response.raise_for_status()
            result: dict[str, Any] = response.json()
            return result
        except httpx.HTTPError as exc:
            raise FaultError(f"fake provider {fault.service!r}: {exc}") from exc

    before = call("GET", "/_fake/stats")
    config: dict[str, Any] = {"timeout_s": fault.timeout_s}
    config.update({"rate": fault.rate} if fault.rate is not None else {"pattern": fault.pattern})
    call("POST", "/_fake/config", config)
    what = f"rate {fault.rate:g}" if fault.rate is not None else f"pattern {fault.pattern}"
    active = ActiveFault(f"{fault.service} fails calls ({what})", lambda: None)

    def revert() -> None:
        call("POST", "/_fake/config", {"rate": 0})
        after = call("GET", "/_fake/stats")
        failed = (after["errors"] - before["errors"]) + (after["timeouts"] - before["timeouts"])
        # Fired only if the system actually called the provider and got failures.
        active.fired = failed > 0
        active.evidence = [
            f"{fault.service} served {after['calls'] - before['calls']} call(s), "
            f"{failed} of them failed"
        ]

    active.revert = revert
    active.evidence = ["failures scheduled; the count of failures served is read on revert"]
    active.fired = None
    return active
