"""Faults: each ``type`` is a function that applies it and returns how to revert it.

Registered in :data:`FAULTS` by the YAML ``type``. Applying a fault also collects evidence that
it took hold (the proxy reports disabled, the toxic is listed, the process is stopped or dead):
a fault that did not fire makes the scenario fail, since it then proved nothing.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from harness.errors import HarnessError
from harness.provision.backend import Stack
from harness.provision.process import ManagedProcess
from harness.scenario.model import (
    Fault,
    KillFault,
    PauseFault,
    ProviderErrorsFault,
    ProxyDownFault,
    ToxicFault,
)
from harness.toxiproxy import ToxiproxyClient

__all__ = ["FAULTS", "ActiveFault", "FaultError", "apply_fault"]


class FaultError(HarnessError):
    """A fault could not be applied (the harness's problem, not the system's)."""


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


def _process(stack: Stack, name: str) -> tuple[ManagedProcess, int]:
    service = stack.services.get(name)
    process = service.process if service is not None else None
    if process is None or process.pid is None:
        raise FaultError(f"service {name!r} has no process this backend can signal")
    return process, process.pid


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


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return "gone"


def _kill(fault: KillFault, stack: Stack, key: str) -> ActiveFault:
    process, pid = _process(stack, fault.service)
    running = stack.services[fault.service]
    process.signal(signal.SIGKILL)

    def revert() -> None:
        if fault.restart and running.restart is not None:
            running.restart()
            new_pid = running.process.pid if running.process else None
            active.evidence.append(f"{fault.service} restarted as pid {new_pid}")

    active = ActiveFault(f"kill -9 {fault.service} (pid {pid})", revert)
    try:
        code: int | None = process.wait(timeout_s=5)
    except TimeoutError:
        code = None
    active.fired = code == -signal.SIGKILL
    active.evidence.append(f"{fault.service} exited with {code}")
    return active


def _pause(fault: PauseFault, stack: Stack, key: str) -> ActiveFault:
    process, pid = _process(stack, fault.service)
    process.signal(signal.SIGSTOP)
    active = ActiveFault(f"pause {fault.service} (SIGSTOP)", lambda: process.signal(signal.SIGCONT))
    # SIGSTOP is delivered asynchronously: give the kernel a moment before reading the state.
    deadline = time.monotonic() + 2.0
    while (state := _state(pid)) != "T" and time.monotonic() < deadline:
        time.sleep(0.01)
    active.fired = state == "T"
    active.evidence.append(f"{fault.service} process state {state!r} (T = stopped)")
    return active


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
    "pause": _pause,
}


def apply_fault(fault: Fault, stack: Stack, key: str) -> ActiveFault:
    """Apply ``fault``; ``key`` names it where the target needs a name (a toxic)."""
    try:
        apply = FAULTS[fault.type]
    except KeyError:  # pragma: no cover - the model only admits registered types
        raise FaultError(f"unknown fault type {fault.type!r}; known: {', '.join(FAULTS)}") from None
    return apply(fault, stack, key)
