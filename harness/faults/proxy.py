"""Faults through Toxiproxy: a proxy disabled, a toxic added."""

from __future__ import annotations

from typing import Any

from harness.errors import FaultError
from harness.faults import FAULTS, ActiveFault
from harness.provision.backend import Stack
from harness.scenario.model import ProxyDownFault, ToxicFault
from harness.toxiproxy import ToxiproxyClient

__all__: list[str] = []


def _toxiproxy(stack: Stack) -> ToxiproxyClient:
    if stack.toxiproxy is None:
        raise FaultError("this fault needs a service of kind toxiproxy in the scenario")
    return stack.toxiproxy


@FAULTS.register("proxy_down")
def _proxy_down(fault: ProxyDownFault, stack: Stack, key: str) -> ActiveFault:
    client = _toxiproxy(stack)
    state = client.set_enabled(fault.proxy, False)

    def revert() -> None:
        client.set_enabled(fault.proxy, True)

    active = ActiveFault(f"proxy {fault.proxy} down", revert)
    active.fired = not state.enabled and not client.proxies()[fault.proxy].enabled
    active.evidence.append(f"Toxiproxy reports proxy {fault.proxy} enabled={state.enabled}")
    return active


@FAULTS.register("toxic")
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
