"""One recipe per service ``kind:``, used by both backends: what runs, its settings, how the
harness knows it is ready, its ``${services.X.*}`` values on this machine (local) and inside
the run's network (containers), and which image setting runs it.

A recipe registers itself in :data:`KINDS` under its YAML kind: ``redis.py``, ``postgres.py``,
``toxiproxy.py``, ``fake_provider.py``, ``notify_capture.py``, ``fake_erp.py``, ``process.py``.
The local backend calls :meth:`ServiceKind.local` (a process on a free loopback port); the
container backend calls :meth:`ServiceKind.container` (a :class:`ContainerSpec` it starts on the
run's network).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from harness.provision.backend import RunningService, Stack
from harness.provision.templates import Endpoint, TemplateContext
from harness.registry import Registry
from harness.scenario.model import Service

if TYPE_CHECKING:
    from docker.models.containers import Container

    from harness.provision.servers import PostgresServer

__all__ = [
    "ALL_INTERFACES",
    "APP_PORT",
    "FILES_DIR",
    "HOST",
    "KINDS",
    "ContainerHost",
    "ContainerSpec",
    "KindStart",
    "LocalHost",
    "ServiceKind",
    "image_setting",
]

HOST = "127.0.0.1"
#: inside a container a service listens on its network, which only the run's containers share
ALL_INTERFACES = "0.0.0.0"  # noqa: S104
#: the port a service listens on inside its container (``${services.X.port}`` there)
APP_PORT = 8000
#: where a container finds the files the harness shares with it (a certificate)
FILES_DIR = "/chaosgate/files"


@dataclass(frozen=True)
class KindStart:
    """One service to start.

    Attributes:
        name: its name in the scenario.
        service: its model.
        directory: its own directory in the run directory (logs, keys).
        run_dir: the scenario's run directory (``${run.dir}``).
        seed: the run's seed.
    """

    name: str
    service: Service
    directory: Path
    run_dir: Path
    seed: int


class LocalHost(Protocol):
    """What the local backend gives a recipe."""

    def context(self, stack: Stack, extra: dict[str, Endpoint]) -> TemplateContext:
        """The template context of the services started so far, plus ``extra``."""
        ...

    def postgres_template(self) -> Path:
        """An initdb'd data directory to copy (made once per run)."""
        ...

    def postgres_derived(
        self, key: str, build: Callable[[PostgresServer], None]
    ) -> tuple[Path, bool]:
        """A data directory to copy, prepared by ``build`` once per run and ``key``; and whether
        this call built it (see :meth:`PostgresTemplate.derived`)."""
        ...

    def on_stop(self, name: str, stop: Callable[[], None]) -> None:
        """Stop the service this way at teardown, even if it never joined the stack."""
        ...


class ContainerHost(Protocol):
    """What the container backend gives a recipe."""

    #: the port each proxy listens on inside the Toxiproxy container
    proxy_ports: dict[str, int]
    run_dir: Path

    def context(self, extra: dict[str, Endpoint]) -> TemplateContext:
        """The template context as services see it inside the network, plus ``extra``."""
        ...


@dataclass
class ContainerSpec:
    """How one service runs as a container.

    Attributes:
        command: the container's command (None: the image's own).
        ports: container ports published on 127.0.0.1 (at ports the backend chooses).
        inner: where the run's services reach it (by name on the network).
        outer: its endpoint for the harness, from the published ports (container -> host).
        ready: whether it answers (its published endpoint, the container); None: running.
        volumes: ``(host path, container path, mode)``.
        files: files it shares with the harness (a fake provider's signing key).
    """

    command: list[str] | None
    env: dict[str, str]
    ports: list[int]
    inner: Endpoint
    outer: Callable[[dict[int, int]], Endpoint]
    ready: Callable[[Endpoint, Container], bool] | None
    describe: str
    ready_timeout_s: float = 60.0
    stop_signal: str = "SIGTERM"
    stop_timeout_s: float = 10.0
    volumes: list[tuple[str, str, str]] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)
    #: a command run once, in a container of the same image, env and network, before it starts
    before_start: list[str] | None = None
    #: run once with its published endpoint when it is first ready, before dependents start
    after_ready: Callable[[Endpoint], None] | None = None


class ServiceKind(Protocol):
    """A recipe for one ``kind:`` of service."""

    #: which image setting runs it: ``CHAOSGATE_<ROLE>_IMAGE`` (``app``: the service's own
    #: ``image:`` first)
    image_role: str

    def local(self, start: KindStart, host: LocalHost, stack: Stack) -> RunningService:
        """Start it as a process of this machine, ready; its ``process`` set.

        Raises:
            ProvisionError: naming the service and why.
        """
        ...

    def container(self, start: KindStart, host: ContainerHost) -> ContainerSpec:
        """How it runs as a container on the run's network."""
        ...


#: every service kind, by its YAML ``kind``
KINDS: Registry[ServiceKind] = Registry("service kind", __name__)


def image_setting(kind: str) -> str:
    """The setting naming the image of ``kind`` (``CHAOSGATE_REDIS_IMAGE``)."""
    return f"CHAOSGATE_{KINDS.get_kind(kind).image_role.upper()}_IMAGE"
