"""The provisioning contract: a backend turns a scenario's services into a running stack.

Scenarios never name a backend; ``--env local`` (processes) or ``--env docker`` (containers)
provisions the same file. Faults reach services through :class:`ServiceControl`. Both backends
start services in dependency waves (``waves.py``), each by its kind's recipe (``kinds/``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Protocol

from harness.provision.process import ManagedProcess
from harness.provision.templates import Endpoint
from harness.scenario.model import Scenario
from harness.toxiproxy import ToxiproxyClient

__all__ = [
    "Outcome",
    "Provisioner",
    "RunningService",
    "ServiceControl",
    "Stack",
]


@dataclass(frozen=True)
class Outcome:
    """What a control operation did: whether it took hold, and the evidence read back."""

    fired: bool
    evidence: str


class ServiceControl(Protocol):
    """What faults do to a running service, whatever runs it (a process group, a container).

    Each operation reads back the state it caused (an exit code, a process or container state)
    as its :class:`Outcome`; one a backend cannot do raises ``FaultError`` naming the backend.
    """

    @property
    def label(self) -> str:
        """How the service is named in evidence ("pid 4242", "container cg-1a2b-worker")."""
        ...

    def kill(self) -> Outcome: ...
    def stop(self) -> Outcome: ...
    def start(self) -> Outcome: ...
    def restart(self) -> Outcome: ...
    def pause(self) -> Outcome: ...
    def unpause(self) -> Outcome: ...
    def disconnect(self) -> Outcome: ...
    def reconnect(self) -> Outcome: ...


@dataclass
class RunningService:
    """A started service: where it answers, its log, and (locally) its process."""

    name: str
    kind: str
    endpoint: Endpoint
    log_path: Path
    process: ManagedProcess | None = None
    #: start the service again as it was first started (same command, env, readiness check)
    restart: Callable[[], None] | None = None
    #: files the service shares with the harness (a fake provider's PayPal signing key)
    files: dict[str, Path] = field(default_factory=dict)
    #: what faults act through (kill, stop, pause, disconnect, ...)
    control: ServiceControl | None = None
    #: where the system's own services reach it, when that differs from ``endpoint`` (in
    #: containers: by name on the run's network); what goes into a URL the system will fetch
    inner: Endpoint | None = None


@dataclass
class Stack:
    """Everything a backend started for one scenario run, in start order."""

    services: dict[str, RunningService] = field(default_factory=dict)
    proxies: dict[str, Endpoint] = field(default_factory=dict)
    toxiproxy: ToxiproxyClient | None = None


class Provisioner(Protocol):
    """Starts and stops the services of a scenario."""

    #: ``--env`` name of the backend
    name: ClassVar[str]
    #: fault types this backend cannot apply (checked before anything starts)
    unsupported_faults: ClassVar[frozenset[str]]

    def start(self, scenario: Scenario, run_dir: Path) -> Stack:
        """Start every service in dependency order, each checked ready, proxies in place.

        On any failure, stops what it started before raising.

        Raises:
            ProvisionError: naming the service and why (missing program, port in use,
                exited while starting, never ready).
        """
        ...

    def stop(self, stack: Stack) -> list[str]:
        """Stop everything in ``stack``, whatever state it is in; returns problems met (never
        raises, so teardown always completes)."""
        ...

    def close(self) -> None:
        """Release what the backend keeps between scenarios (templates, images, networks)."""
        ...
