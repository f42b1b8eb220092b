"""The provisioning contract: a backend turns a scenario's services into a running stack.

Scenarios never name a backend; ``--env local`` (processes) or ``--env docker`` (containers)
provisions the same file. Faults reach services through :class:`ServiceControl`.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Protocol

from harness.errors import ProvisionError
from harness.provision.process import ManagedProcess
from harness.provision.templates import Endpoint, references
from harness.scenario.model import Scenario, Service
from harness.toxiproxy import ToxiproxyClient

__all__ = [
    "Outcome",
    "Provisioner",
    "RunningService",
    "ServiceControl",
    "Stack",
    "WaveProvisioner",
    "start_order",
    "start_waves",
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


def _texts(service: Service) -> list[str]:
    return [
        *(service.command or []),
        *service.env.values(),
        *(service.ready.command or [] if service.ready else []),
    ]


def start_waves(scenario: Scenario) -> list[list[str]]:
    """Services in waves: each wave needs only services of earlier waves, declared or referenced
    (``${services.X...}``; ``${proxies.P...}`` needs P's upstream and the toxiproxy service).
    The services of one wave start together."""
    toxiproxy = [n for n, s in scenario.services.items() if s.kind == "toxiproxy"]
    needs: dict[str, set[str]] = {}
    for name, service in scenario.services.items():
        deps = set(service.depends_on)
        for table, ref in references(_texts(service)):
            if table == "services" and ref != name:
                deps.add(ref)
            elif table == "proxies" and ref in scenario.proxies:
                deps.add(scenario.proxies[ref].upstream)
                deps.update(toxiproxy)
        needs[name] = deps & set(scenario.services)
    waves: list[list[str]] = []
    started: set[str] = set()
    while len(started) < len(needs):
        wave = [n for n in needs if n not in started and needs[n] <= started]
        if not wave:
            stuck = sorted(set(needs) - started)
            raise ProvisionError(f"services {stuck} wait on each other through ${{...}} references")
        waves.append(wave)
        started.update(wave)
    return waves


def start_order(scenario: Scenario) -> list[str]:
    """Services in an order where each starts after what it depends on."""
    return [name for wave in start_waves(scenario) for name in wave]


class WaveProvisioner:
    """Start services wave by wave (a wave in parallel), stop them in reverse waves.

    A backend says how one service starts and stops and how proxies are made; the order, the
    parallelism, and stopping what started when anything fails (or on Ctrl-C) live here.
    """

    def __init__(self) -> None:
        self._wave: dict[str, int] = {}

    def _start_one(
        self, name: str, scenario: Scenario, stack: Stack, run_dir: Path
    ) -> RunningService:
        raise NotImplementedError

    def _create_proxies(self, scenario: Scenario, stack: Stack) -> None:
        raise NotImplementedError

    def _stop_one(self, name: str, stack: Stack) -> str | None:
        raise NotImplementedError

    def _stop_rest(self, stack: Stack) -> list[str]:
        """Stop what started but never joined the stack (a start that failed half-way)."""
        return []

    def start(self, scenario: Scenario, run_dir: Path) -> Stack:
        stack = Stack()
        try:
            waves = start_waves(scenario)
            self._wave = {name: i for i, wave in enumerate(waves) for name in wave}
            for wave in waves:
                self._start_wave(wave, scenario, stack, run_dir)
                self._create_proxies(scenario, stack)
            # Keep the stack in start order whatever order the threads finished in.
            order = start_order(scenario)
            stack.services = {n: stack.services[n] for n in order if n in stack.services}
        except BaseException:
            self.stop(stack)
            raise
        return stack

    def _start_wave(self, wave: list[str], scenario: Scenario, stack: Stack, run_dir: Path) -> None:
        if len(wave) == 1:
            stack.services[wave[0]] = self._start_one(wave[0], scenario, stack, run_dir)
            return

        def start(name: str) -> None:
            stack.services[name] = self._start_one(name, scenario, stack, run_dir)

        with ThreadPoolExecutor(max_workers=len(wave), thread_name_prefix="cg-start") as pool:
            futures = [pool.submit(start, name) for name in wave]
            try:
                wait(futures)
            except BaseException:
                # Ctrl-C while services start: let each finish starting, so stop() sees it.
                wait(futures)
                raise
        for future in futures:
            future.result()  # the first failure, naming its service

    def _delete_proxies(self, stack: Stack) -> list[str]:
        problems: list[str] = []
        if stack.toxiproxy is not None:
            for name in list(stack.proxies):
                try:
                    stack.toxiproxy.delete_proxy(name)
                except Exception as exc:
                    problems.append(f"proxy {name}: {exc}")
            stack.toxiproxy.close()
        return problems

    def stop(self, stack: Stack) -> list[str]:
        problems = self._delete_proxies(stack)
        # Dependents stop before what they depend on: the reverse of start order, and the
        # services of one start wave together.
        for wave in self._stop_waves(list(stack.services)):
            with ThreadPoolExecutor(max_workers=max(1, len(wave))) as pool:
                for problem in pool.map(lambda n: self._stop_one(n, stack), wave):
                    if problem:
                        problems.append(problem)
        problems.extend(self._stop_rest(stack))
        return problems

    def _stop_waves(self, names: list[str]) -> list[list[str]]:
        waves: list[list[str]] = []
        for name in reversed(names):
            wave_of = self._wave.get(name, 0)
            if waves and self._wave.get(waves[-1][0], 0) == wave_of:
                waves[-1].append(name)
            else:
                waves.append([name])
        return waves
