"""Faults on a container, each read back from the daemon's view of it; and waiting for a
container to be ready."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from harness.errors import ProcessExited, ServiceNeverReady
from harness.provision.backend import Outcome
from harness.provision.docker.daemon import short

if TYPE_CHECKING:
    from docker.models.containers import Container
    from docker.models.networks import Network

__all__ = ["ContainerControl", "container_logs", "container_state", "wait_until_ready"]

_POLL_S = 0.1


def container_state(container: Container) -> dict[str, Any]:
    container.reload()
    state: dict[str, Any] = container.attrs.get("State", {})
    return state


def container_logs(container: Container, tail: int | Literal["all"] = "all") -> str:
    try:
        data: bytes = container.logs(stdout=True, stderr=True, tail=tail)
    except Exception as exc:
        return f"(logs unavailable: {short(exc)})"
    return data.decode(errors="replace")


def wait_until_ready(
    name: str,
    container: Container,
    check: Callable[[], bool],
    timeout_s: float,
    describe: str,
) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        state = container_state(container)
        if state.get("Status") in ("exited", "dead"):
            raise ProcessExited(name, int(state.get("ExitCode", -1)), container_logs(container, 20))
        if check():
            return
        if time.monotonic() > deadline:
            raise ServiceNeverReady(name, timeout_s, describe, container_logs(container, 20))
        time.sleep(_POLL_S)


class ContainerControl:
    """Faults on a container: kill, stop/start, restart, pause/unpause, disconnect/reconnect,
    each read back from the daemon's view of the container."""

    def __init__(
        self,
        name: str,
        container: Container,
        network: Network,
        wait_ready: Callable[[], None],
        stop_timeout_s: float,
    ) -> None:
        self._name = name
        self._container = container
        self._network = network
        self._wait_ready = wait_ready
        self._stop_timeout_s = stop_timeout_s

    @property
    def label(self) -> str:
        return f"container {self._container.name}"

    def _status(self) -> tuple[str, int]:
        state = container_state(self._container)
        return str(state.get("Status")), int(state.get("ExitCode", 0))

    def _settle(self, wanted: set[str], timeout_s: float = 10.0) -> tuple[str, int]:
        deadline = time.monotonic() + timeout_s
        status, code = self._status()
        while status not in wanted and time.monotonic() < deadline:
            time.sleep(_POLL_S)
            status, code = self._status()
        return status, code

    def _not_running(self) -> Outcome | None:
        status, code = self._status()
        if status == "running":
            return None
        return Outcome(False, f"{self._name}: container was not running ({status}, code {code})")

    def kill(self) -> Outcome:
        if (down := self._not_running()) is not None:
            return down
        self._container.kill()
        status, code = self._settle({"exited", "dead"})
        return Outcome(
            status == "exited" and code == 137,
            f"{self._name}: container {status}, exit code {code} (137 = SIGKILL)",
        )

    def stop(self) -> Outcome:
        if (down := self._not_running()) is not None:
            return down
        self._container.stop(timeout=max(1, round(self._stop_timeout_s)))
        status, code = self._settle({"exited", "dead"})
        return Outcome(status == "exited", f"{self._name}: container {status}, exit code {code}")

    def start(self) -> Outcome:
        self._container.start()
        self._wait_ready()
        status, _ = self._status()
        return Outcome(status == "running", f"{self._name}: container started again, {status}")

    def restart(self) -> Outcome:
        before = container_state(self._container).get("StartedAt")
        self._container.restart(timeout=max(1, round(self._stop_timeout_s)))
        self._wait_ready()
        after = container_state(self._container)
        return Outcome(
            after.get("Status") == "running" and after.get("StartedAt") != before,
            f"{self._name}: container restarted (started {before} -> {after.get('StartedAt')})",
        )

    def pause(self) -> Outcome:
        if (down := self._not_running()) is not None:
            return down
        self._container.pause()
        status, _ = self._settle({"paused"}, 2.0)
        return Outcome(status == "paused", f"{self._name}: container {status}")

    def unpause(self) -> Outcome:
        self._container.unpause()
        status, _ = self._status()
        return Outcome(status == "running", f"{self._name}: container {status}")

    def _networks(self) -> list[str]:
        container_state(self._container)
        networks = self._container.attrs.get("NetworkSettings", {}).get("Networks") or {}
        return sorted(networks)

    def disconnect(self) -> Outcome:
        self._network.disconnect(self._container, force=True)
        networks = self._networks()
        return Outcome(
            self._network.name not in networks,
            f"{self._name}: container on networks {networks} (run network {self._network.name})",
        )

    def reconnect(self) -> Outcome:
        self._network.connect(self._container, aliases=[self._name])
        networks = self._networks()
        return Outcome(
            self._network.name in networks,
            f"{self._name}: reconnected to {self._network.name} as {self._name!r}",
        )
