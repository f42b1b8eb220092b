"""The Docker daemon: a client that answers (or a message saying what to do), the labels every
container and network of a run carries, and the sweep that removes what dead runs left.

Ryuk (testcontainers' reaper) is off: it is one more image to pull, which machines without a
registry cannot, and the sweep by owner covers what it would.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import DockerUnavailable

if TYPE_CHECKING:
    from docker import DockerClient

__all__ = [
    "LABEL_MANAGED",
    "LABEL_OWNER",
    "LABEL_SCENARIO",
    "LABEL_SERVICE",
    "connect",
    "owner",
    "short",
    "sweep",
]

LABEL_MANAGED = "io.chaosgate.managed"
#: ``hostname:pid`` of the harness process that made it
LABEL_OWNER = "io.chaosgate.owner"
#: ``<scenario id>-<random>``: one scenario run
LABEL_SCENARIO = "io.chaosgate.scenario"
#: the scenario's name for the service
LABEL_SERVICE = "io.chaosgate.service"


def connect() -> DockerClient:
    """A client of the Docker daemon that answers, or :class:`DockerUnavailable` saying why."""
    try:
        import docker
    except ImportError:
        raise DockerUnavailable(
            "--env docker needs the Docker SDK and testcontainers: "
            "pip install 'chaosgate[containers]'"
        ) from None
    where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    # Ping at the oldest API first: the SDK's own version probe leaks its socket on failure.
    from docker.constants import MINIMUM_DOCKER_API_VERSION

    socket_path = where.removeprefix("unix://") if where.startswith("unix://") else None
    if socket_path is not None and not Path(socket_path).exists():
        installed = shutil.which("dockerd") or shutil.which("docker")
        if "DOCKER_HOST" not in os.environ and not installed:
            raise DockerUnavailable(
                "Docker is not installed (no docker, no dockerd, no /var/run/docker.sock): "
                "install it (Debian/Ubuntu: apt-get install docker.io), start the daemon, or "
                "run with --env local"
            )
        raise DockerUnavailable(
            f"the Docker daemon does not answer at {where} (no socket there): start it "
            "(systemctl start docker, or run dockerd as root), or set DOCKER_HOST to where it "
            "listens; or run with --env local"
        )

    probe: DockerClient | None = None
    try:
        probe = docker.from_env(version=MINIMUM_DOCKER_API_VERSION, timeout=60)
        probe.ping()
        version = str(probe.version()["ApiVersion"])
    except (docker.errors.DockerException, KeyError) as exc:
        raise DockerUnavailable(
            f"the Docker daemon does not answer at {where} ({short(exc)}): start it "
            "(systemctl start docker, or run dockerd as root), make sure this user may use it "
            "(the docker group), or set DOCKER_HOST; or run with --env local"
        ) from None
    finally:
        if probe is not None:
            probe.close()
    return docker.from_env(version=version, timeout=60)


def short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _owner_gone(owner: str) -> bool:
    host, _, pid_text = owner.rpartition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False  # another machine's run, or not ours to judge
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def sweep(
    client: DockerClient,
    *,
    scenario: str | None = None,
    owner: str | None = None,
    networks: bool = True,
) -> list[str]:
    """Remove containers (with their anonymous volumes) and networks chaosgate made: by default
    those of runs whose harness process on this host is gone; with ``scenario``, those of that
    scenario run; with ``owner``, those of that harness process. Returns what was removed, as
    ``kind name``."""
    if scenario:
        label = f"{LABEL_SCENARIO}={scenario}"
    elif owner:
        label = f"{LABEL_OWNER}={owner}"
    else:
        label = LABEL_MANAGED
    removed: list[str] = []

    def abandoned(labels: dict[str, str]) -> bool:
        return bool(scenario or owner) or _owner_gone(labels.get(LABEL_OWNER, ""))

    # Another run (--jobs) may remove its containers between the listing and the inspection of
    # each one that docker-py does; a container gone by then is nothing to sweep.
    listed = client.containers.list(all=True, filters={"label": label}, ignore_removed=True)
    for container in listed:
        if abandoned(container.labels):
            with contextlib.suppress(Exception):
                container.remove(force=True, v=True)
                removed.append(f"container {container.name}")
    for network in client.networks.list(filters={"label": label}) if networks else []:
        if abandoned(network.attrs.get("Labels") or {}):
            with contextlib.suppress(Exception):
                network.remove()
                removed.append(f"network {network.name}")
    return removed
