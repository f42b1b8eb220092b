"""Faults: each ``type`` is a function that applies it and returns how to revert it.

Registered in :data:`FAULTS` by the YAML ``type``. Applying a fault also collects evidence that
it took hold (the proxy reports disabled, the toxic is listed, the process or container is
stopped, dead or off the network, read back through the backend's ``ServiceControl``):
a fault that did not fire makes the scenario fail, since it then proved nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from harness.errors import FaultError
from harness.provision.backend import Outcome, ServiceControl, Stack
from harness.scenario.model import (
    DisconnectFault,
    Fault,
    KillFault,
    PauseFault,
    ProviderErrorsFault,
    ProxyDownFault,
    RestartFault,
    StopFault,
    ToxicFault,
)
from harness.toxiproxy import ToxiproxyClient

__all__ = ["FAULTS", "ActiveFault", "FaultError", "apply_fault"]


@dataclass
class ActiveFault:
    """A fault in force: ``revert`` undoes it (idempotent); ``evidence`` says it took hold."""

    description: str
    revert: Callable[[], None]
    evidence: list[str] = field(default_factory=list)
    fired: bool | None = False  # None: known only once reverted
    #: a promise the system broke while it was in force (e.g. a load's requests failed)
    broken: str | None = None
    #: numbers over time it measured, name -> [[unix time, value]] (a load's latencies)
    series: dict[str, list[list[float]]] = field(default_factory=dict)


def _toxiproxy(stack: Stack) -> ToxiproxyClient:
    if stack.toxiproxy is None:
        raise FaultError("this fault needs a service of kind toxiproxy in the scenario")
    return stack.toxiproxy


def _proxy_down(fault: ProxyDownFault, stack: Stack, key: str) -> ActiveFault:
    client = _toxiproxy(stack)
    state = client.set_enabled(fault.proxy, False)

    def revert() -> None:
        client.set_enabled(fault.proxy, True)

    active = ActiveFault(f"proxy {fault.proxy} down", revert)
    active.fired = not state.enabled and not client.proxies()[fault.proxy].enabled
    active.evidence.append(f"Toxiproxy reports proxy {fault.proxy} enabled={state.enabled}")
    return active


def _toxic(fault: ToxicFault, stack: Stack, key: str) -> ActiveFault:
    client = _toxiproxy(stack)
    attributes: dict[str, Any] = {
        k: int(v) if float(v).is_integer() else v for k, v in fault.attributes.items()
    }
    toxic = client.add_toxic(
        fault.proxy,
        fault.toxic,
        attributes=attributes,
        name=key,
        stream=fault.stream,
        toxicity=fault.toxicity,
    )

    def revert() -> None:
        if any(t.name == toxic.name for t in client.toxics(fault.proxy)):
            client.remove_toxic(fault.proxy, toxic.name)

    active = ActiveFault(f"{fault.toxic} on proxy {fault.proxy} {attributes}", revert)
    listed = [t.name for t in client.toxics(fault.proxy)]
    active.fired = toxic.name in listed
    active.evidence.append(f"Toxiproxy lists toxics {listed} on {fault.proxy}")
    return active


def _control(stack: Stack, name: str) -> ServiceControl:
    service = stack.services.get(name)
    if service is None or service.control is None:
        raise FaultError(f"service {name!r} has nothing this backend can act on")
    return service.control


def _on_service(
    service: str,
    describe: Callable[[ServiceControl], str],
    apply: Callable[[ServiceControl], Outcome],
    undo: Callable[[ServiceControl], Outcome] | None,
    stack: Stack,
) -> ActiveFault:
    """A fault through the backend's control of ``service``: ``apply`` now, ``undo`` on revert
    (when the step's duration ends, or the method does); each adds what it read back."""
    control = _control(stack, service)
    what = describe(control)  # before applying: a restarted process has another pid
    outcome = apply(control)

    def revert() -> None:
        if undo is not None:
            active.evidence.append(undo(control).evidence)

    active = ActiveFault(what, revert, [outcome.evidence])
    active.fired = outcome.fired
    return active


def _kill(fault: KillFault, stack: Stack, key: str) -> ActiveFault:
    undo = (lambda c: c.start()) if fault.restart else None
    return _on_service(
        fault.service,
        lambda c: f"kill -9 {fault.service} ({c.label})",
        lambda c: c.kill(),
        undo,
        stack,
    )


def _stop(fault: StopFault, stack: Stack, key: str) -> ActiveFault:
    undo = (lambda c: c.start()) if fault.start else None
    return _on_service(
        fault.service,
        lambda c: f"stop {fault.service} ({c.label})",
        lambda c: c.stop(),
        undo,
        stack,
    )


def _restart(fault: RestartFault, stack: Stack, key: str) -> ActiveFault:
    return _on_service(
        fault.service, lambda c: f"restart {fault.service}", lambda c: c.restart(), None, stack
    )


def _pause(fault: PauseFault, stack: Stack, key: str) -> ActiveFault:
    return _on_service(
        fault.service,
        lambda c: f"pause {fault.service} ({c.label})",
        lambda c: c.pause(),
        lambda c: c.unpause(),
        stack,
    )


def _disconnect(fault: DisconnectFault, stack: Stack, key: str) -> ActiveFault:
    return _on_service(
        fault.service,
        lambda c: f"disconnect {fault.service} ({c.label}) from the network",
        lambda c: c.disconnect(),
        lambda c: c.reconnect(),
        stack,
    )


def _provider_errors(fault: ProviderErrorsFault, stack: Stack, key: str) -> ActiveFault:
    service = stack.services.get(fault.service)
    if service is None or service.kind != "fake-provider":
        raise FaultError(
            f"provider_errors needs a service of kind fake-provider, not {fault.service!r}"
        )
    base = service.endpoint.url

    def call(method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            response = httpx.request(method, base + path, json=body, timeout=5)
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


FAULTS: dict[str, Callable[[Any, Stack, str], ActiveFault]] = {
    "provider_errors": _provider_errors,
    "proxy_down": _proxy_down,
    "toxic": _toxic,
    "kill": _kill,
    "stop": _stop,
    "restart": _restart,
    "pause": _pause,
    "disconnect": _disconnect,
}


def apply_fault(fault: Fault, stack: Stack, key: str) -> ActiveFault:
    """Apply ``fault``; ``key`` names it where the target needs a name (a toxic)."""
    try:
        apply = FAULTS[fault.type]
    except KeyError:  # pragma: no cover - the model only admits registered types
        raise FaultError(f"unknown fault type {fault.type!r}; known: {', '.join(FAULTS)}") from None
    return apply(fault, stack, key)
