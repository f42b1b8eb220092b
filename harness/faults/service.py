"""Faults on a service through the backend's ``ServiceControl``: kill, stop, restart, pause,
disconnect, each undone when its step's duration ends (or the method does)."""

from __future__ import annotations

from collections.abc import Callable

from harness.errors import FaultError
from harness.faults import FAULTS, ActiveFault
from harness.provision.backend import Outcome, ServiceControl, Stack
from harness.scenario.model import (
    DisconnectFault,
    KillFault,
    PauseFault,
    RestartFault,
    StopFault,
)

__all__: list[str] = []


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


@FAULTS.register("kill")
def _kill(fault: KillFault, stack: Stack, key: str) -> ActiveFault:
    undo = (lambda c: c.start()) if fault.restart else None
    return _on_service(
        fault.service,
        lambda c: f"kill -9 {fault.service} ({c.label})",
        lambda c: c.kill(),
        undo,
        stack,
    )


@FAULTS.register("stop")
def _stop(fault: StopFault, stack: Stack, key: str) -> ActiveFault:
    undo = (lambda c: c.start()) if fault.start else None
    return _on_service(
        fault.service,
        lambda c: f"stop {fault.service} ({c.label})",
        lambda c: c.stop(),
        undo,
        stack,
    )


@FAULTS.register("restart")
def _restart(fault: RestartFault, stack: Stack, key: str) -> ActiveFault:
    return _on_service(
        fault.service, lambda c: f"restart {fault.service}", lambda c: c.restart(), None, stack
    )


@FAULTS.register("pause")
def _pause(fault: PauseFault, stack: Stack, key: str) -> ActiveFault:
    return _on_service(
        fault.service,
        lambda c: f"pause {fault.service} ({c.label})",
        lambda c: c.pause(),
        lambda c: c.unpause(),
        stack,
    )


@FAULTS.register("disconnect")
def _disconnect(fault: DisconnectFault, stack: Stack, key: str) -> ActiveFault:
    return _on_service(
        fault.service,
        lambda c: f"disconnect {fault.service} ({c.label}) from the network",
        lambda c: c.disconnect(),
        lambda c: c.reconnect(),
        stack,
    )
