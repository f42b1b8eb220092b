"""Faults: what the harness breaks. Each ``type`` is a module of this package that registers an
implementation in :data:`FAULTS`; applying a fault returns an :class:`ActiveFault`, whose
``revert`` undoes it.

Applying a fault also collects evidence that it took hold (the proxy reports disabled, the toxic
is listed, the process or container is stopped, dead or off the network, read back through the
backend's ``ServiceControl``): a fault that did not fire makes the scenario fail, since it then
proved nothing.

- ``proxy.py`` — ``proxy_down``, ``toxic`` (Toxiproxy);
- ``service.py`` — ``kill``, ``stop``, ``restart``, ``pause``, ``disconnect`` (the backend's
  service control);
- ``provider.py`` — ``provider_errors`` (a fake provider's failure schedule).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.errors import FaultError
from harness.provision.backend import Stack
from harness.registry import Registry
from harness.scenario.model import Fault

__all__ = ["FAULTS", "ActiveFault", "FaultError", "FaultKind", "apply_fault"]


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
    #: the operations it made, as history entries with unix times (a load's requests)
    history: list[dict[str, Any]] = field(default_factory=list)


class FaultKind(Protocol):
    """Applies one fault ``type``: ``key`` names it where the target needs a name (a toxic).

    Raises:
        FaultError: the fault could not be applied (the harness's trouble, not the system's).
    """

    def __call__(self, fault: Any, stack: Stack, key: str, /) -> ActiveFault: ...


#: every fault type, by its YAML ``type``
FAULTS: Registry[FaultKind] = Registry("fault", __name__)


def apply_fault(
    fault: Fault, stack: Stack, key: str, *, kinds: Registry[FaultKind] = FAULTS
) -> ActiveFault:
    """Apply ``fault``; ``key`` names it where the target needs a name (a toxic)."""
    return kinds.get_kind(fault.type)(fault, stack, key)
