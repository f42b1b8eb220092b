"""The provisioning contract: a backend turns a scenario's services into a running stack.

Scenarios never name a backend; ``--env local`` (processes) or a container backend provisions
the same file. Faults reach services through :class:`RunningService`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from harness.provision.process import ManagedProcess
from harness.provision.templates import Endpoint
from harness.scenario.model import Scenario
from harness.toxiproxy import ToxiproxyClient

__all__ = ["Provisioner", "RunningService", "Stack"]


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


@dataclass
class Stack:
    """Everything a backend started for one scenario run, in start order."""

    services: dict[str, RunningService] = field(default_factory=dict)
    proxies: dict[str, Endpoint] = field(default_factory=dict)
    toxiproxy: ToxiproxyClient | None = None


class Provisioner(Protocol):
    """Starts and stops the services of a scenario."""

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
