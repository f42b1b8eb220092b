"""The container backend (``--env docker``): every service is a container on a network made for
the scenario, each from its kind's recipe (``harness/provision/kinds/``).

- Services reach each other by name on that network (``${services.db.url}`` inside a container
  is ``postgresql://postgres@db:5432/shop``), and reach a dependency through the Toxiproxy
  container where the scenario declares a proxy.
- The harness reaches every service through ports published on 127.0.0.1 only, each at a host
  port chosen here and kept across a kill and restart of the container.
- Containers start with testcontainers (``DockerContainer``); faults and teardown use the
  Docker SDK. Everything carries the labels of ``daemon.py``; a run that died (SIGKILL, a
  crash) leaves containers and a network that the next start on this host sweeps, by label.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, cast

from harness.errors import ImageMissing, ProvisionError
from harness.provision.backend import RunningService, Stack
from harness.provision.docker.control import (
    ContainerControl,
    container_logs,
    container_state,
    wait_until_ready,
)
from harness.provision.docker.daemon import (
    LABEL_MANAGED,
    LABEL_OWNER,
    LABEL_SCENARIO,
    LABEL_SERVICE,
    connect,
    owner,
    short,
    sweep,
)
from harness.provision.images import Images
from harness.provision.kinds import HOST, KINDS, ContainerSpec, KindStart
from harness.provision.process import free_port
from harness.provision.templates import Endpoint, TemplateContext
from harness.provision.waves import WaveProvisioner
from harness.scenario.model import Scenario

if TYPE_CHECKING:
    from docker.models.containers import Container
    from docker.models.networks import Network

    from docker import DockerClient

__all__ = ["DockerProvisioner"]

#: proxies listen inside the Toxiproxy container from this port on, one per proxy
PROXY_PORT_BASE = 20000


class DockerProvisioner(WaveProvisioner):
    """Start a scenario's services as containers.

    Parameters:
        seed: the run's seed (``${run.seed}``).
        time_scale: multiplies ``${scaled:SECONDS}``.
        images: image names (default: from the environment, :meth:`Images.from_env`).
        client: a Docker client (default: :func:`connect`).
    """

    name: ClassVar[str] = "docker"
    unsupported_faults: ClassVar[frozenset[str]] = frozenset()

    def __init__(
        self,
        *,
        seed: int = 0,
        time_scale: float = 1.0,
        images: Images | None = None,
        client: DockerClient | None = None,
    ) -> None:
        super().__init__()
        from testcontainers.core.config import testcontainers_config

        testcontainers_config.ryuk_disabled = True
        self._seed = seed
        self._time_scale = time_scale
        self._images = images or Images.from_env()
        self._client = client or connect()
        #: what a dead earlier run left behind, removed now
        self.swept = sweep(self._client)
        self._present: set[str] = set()
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._run = ""
        self._network: Network | None = None
        self._containers: dict[str, Any] = {}  # name -> testcontainers DockerContainer
        self._inner: dict[str, Endpoint] = {}
        self._inner_proxies: dict[str, Endpoint] = {}
        self.proxy_ports: dict[str, int] = {}
        self._specs: dict[str, ContainerSpec] = {}
        self.run_dir = Path()

    @property
    def images(self) -> Images:
        return self._images

    def close(self) -> None:
        with contextlib.suppress(Exception):
            sweep(self._client, owner=owner())  # ours still there (a stop was interrupted)
            self._client.close()

    def __enter__(self) -> DockerProvisioner:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- images ---------------------------------------------------------------------------

    def check_images(self, scenario: Scenario) -> None:
        """Every image the scenario needs is here (or pulled, with ``pull: missing``), before
        anything starts."""
        import docker

        for name, service in scenario.services.items():
            image, setting = self._images.for_service(name, service)
            if image in self._present:
                continue
            try:
                self._client.images.get(image)
            except docker.errors.ImageNotFound:
                self._pull(image, setting)
            except docker.errors.DockerException as exc:
                raise ProvisionError(f"services.{name}: image {image!r}: {short(exc)}") from None
            self._present.add(image)

    def _pull(self, image: str, setting: str) -> None:
        import docker

        project = setting in (Images.setting("app"), Images.setting("harness"))
        hint = (
            "build it from the project's Dockerfile (docker build -t chaosgate:latest .), or "
            "without a registry with docker/offline/build-images, or set " + setting
            if project
            else "pull it where a registry is reachable, build an equivalent without one with "
            "docker/offline/build-images, or set " + setting + " to an image you have"
        )
        if self._images.pull == "never":
            raise ImageMissing(image, setting, "CHAOSGATE_PULL=never", hint)
        try:
            self._client.images.pull(image)
        except docker.errors.DockerException as exc:
            raise ImageMissing(image, setting, short(exc), hint) from None

    # -- start ----------------------------------------------------------------------------

    def start(self, scenario: Scenario, run_dir: Path) -> Stack:
        self.check_images(scenario)
        self._reset()
        self._run = f"{scenario.id[:40]}-{secrets.token_hex(3)}"
        self.run_dir = run_dir.resolve()
        self.proxy_ports = {p: PROXY_PORT_BASE + i for i, p in enumerate(scenario.proxies)}
        try:
            self._network = self._client.networks.create(
                f"cg-{self._run}", driver="bridge", labels=self._labels()
            )
        except Exception as exc:
            raise ProvisionError(
                f"cannot create the network cg-{self._run}: {short(exc)}"
            ) from None
        return super().start(scenario, run_dir)

    def _labels(self) -> dict[str, str]:
        return {LABEL_MANAGED: "true", LABEL_OWNER: owner(), LABEL_SCENARIO: self._run}

    # -- what a recipe may ask for (kinds.ContainerHost) -----------------------------------

    def context(self, extra: dict[str, Endpoint]) -> TemplateContext:
        return TemplateContext(
            {**self._inner, **extra},
            dict(self._inner_proxies),
            str(self.run_dir),
            self._seed,
            self._time_scale,
        )

    def _start_one(
        self, name: str, scenario: Scenario, stack: Stack, run_dir: Path
    ) -> RunningService:
        from testcontainers.core.container import DockerContainer

        service = scenario.services[name]
        directory = run_dir / "services" / name
        directory.mkdir(parents=True, exist_ok=True)
        image, _setting = self._images.for_service(name, service)
        start = KindStart(name, service, directory, run_dir, self._seed)
        spec = KINDS.get_kind(service.kind).container(start, self)
        self._specs[name] = spec
        if spec.before_start is not None:
            self._before_start(name, image, spec, directory / f"{name}.log")
        assert self._network is not None
        running = RunningService(
            name, service.kind, Endpoint(HOST, 0, ""), directory / f"{name}.log", files=spec.files
        )
        host_ports: dict[int, int] = {}
        for attempt in range(3):
            host_ports = {port: free_port(HOST) for port in spec.ports}
            container = DockerContainer(image)
            container.with_name(f"cg-{self._run}-{name}")
            container.with_network(cast(Any, _NetworkRef(str(self._network.name))))
            container.with_network_aliases(name)
            if spec.command is not None:
                container.with_command(spec.command)
            for key, value in spec.env.items():
                container.with_env(key, value)
            for port, host_port in host_ports.items():
                # published on loopback only, at a port that survives a restart
                container.ports[f"{port}/tcp"] = cast(Any, (HOST, host_port))
            for source, target, mode in spec.volumes:
                container.with_volume_mapping(source, target, mode)
            container.with_kwargs(
                labels=self._labels() | {LABEL_SERVICE: name},
                stop_signal=spec.stop_signal,
                init=True,
            )
            with self._lock:
                self._containers[name] = container
            stack.services[name] = running  # removed by stop() even if it never becomes ready
            try:
                container.start()
                break
            except Exception as exc:
                text = str(exc)
                self._remove(name)
                taken = "port is already allocated" in text or "address already in use" in text
                if taken and attempt < 2:
                    continue
                raise ProvisionError(
                    f"services.{name}: container from {image} did not start: {short(exc)}"
                ) from None
        wrapped: Container = self._containers[name].get_wrapped_container()
        running.endpoint = spec.outer(host_ports)
        running.inner = self._inner[name] = spec.inner
        check = spec.ready

        def wait_ready() -> None:
            if check is None:
                wait_until_ready(name, wrapped, lambda: True, spec.ready_timeout_s, spec.describe)
                return
            wait_until_ready(
                name,
                wrapped,
                lambda: check(running.endpoint, wrapped),
                spec.ready_timeout_s,
                spec.describe,
            )

        running.control = ContainerControl(
            name, wrapped, self._network, wait_ready, spec.stop_timeout_s
        )
        wait_ready()
        if spec.after_ready is not None:  # once: a restart keeps what it made
            spec.after_ready(running.endpoint)
        return running

    def _before_start(self, name: str, image: str, spec: ContainerSpec, log: Path) -> None:
        """The service's one-shot command in a container of its image, env and network."""
        assert self._network is not None  # start() made it
        assert spec.before_start is not None
        where = f"services.{name}.before_start"
        try:
            container = self._client.containers.run(
                image,
                spec.before_start,
                environment=spec.env,
                network=str(self._network.name),
                volumes={src: {"bind": dst, "mode": mode} for src, dst, mode in spec.volumes},
                labels=self._labels() | {LABEL_SERVICE: f"{name}.before_start"},
                detach=True,
            )
        except Exception as exc:
            raise ProvisionError(f"{where}: could not start: {short(exc)}") from None
        try:
            code = int(container.wait(timeout=600).get("StatusCode", -1))
            output = container_logs(container)
        except Exception as exc:
            raise ProvisionError(f"{where}: {short(exc)}") from None
        finally:
            with contextlib.suppress(Exception):
                container.remove(force=True, v=True)
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as out:
            out.write(output)
        if code != 0:
            tail = "\n".join(output.splitlines()[-20:])
            raise ProvisionError(
                f"{where}: {' '.join(spec.before_start)} exited {code}; last lines:\n{tail}"
            )

    def _create_proxies(self, scenario: Scenario, stack: Stack) -> None:
        if stack.toxiproxy is None:
            return
        toxi_name = next(n for n, s in scenario.services.items() if s.kind == "toxiproxy")
        toxi = self._containers[toxi_name].get_wrapped_container()
        for name, proxy in scenario.proxies.items():
            upstream = stack.services.get(proxy.upstream)
            if name in stack.proxies or upstream is None:
                continue
            inner_up = self._inner[proxy.upstream]
            listen = self.proxy_ports[name]
            stack.toxiproxy.create_proxy(
                name, listen=f"0.0.0.0:{listen}", upstream=f"{inner_up.host}:{inner_up.port}"
            )
            self._inner_proxies[name] = Endpoint(
                toxi_name,
                listen,
                inner_up.url.replace(f"{inner_up.host}:{inner_up.port}", f"{toxi_name}:{listen}"),
            )
            published = int(toxi.ports[f"{listen}/tcp"][0]["HostPort"])
            outer_up = upstream.endpoint
            stack.proxies[name] = Endpoint(
                HOST,
                published,
                outer_up.url.replace(f"{outer_up.host}:{outer_up.port}", f"{HOST}:{published}"),
            )

    # -- stop -----------------------------------------------------------------------------

    def _remove(self, name: str) -> None:
        with self._lock:
            container = self._containers.pop(name, None)
        if container is not None:
            with contextlib.suppress(Exception):
                container.stop(force=True, delete_volume=True)

    def _stop_one(self, name: str, stack: Stack) -> str | None:
        running = stack.services[name]
        with self._lock:
            container = self._containers.get(name)
        if container is None:
            return None
        spec = self._specs.get(name)
        problem = None
        try:
            wrapped: Container = container.get_wrapped_container()
            with contextlib.suppress(Exception):
                if container_state(wrapped).get("Status") == "paused":
                    wrapped.unpause()  # a paused container ignores its stop signal
            with contextlib.suppress(Exception):
                wrapped.stop(timeout=max(1, round(spec.stop_timeout_s if spec else 5)))
            running.log_path.parent.mkdir(parents=True, exist_ok=True)
            with running.log_path.open("a") as log:  # after what before_start wrote
                log.write(container_logs(wrapped))
        except Exception as exc:
            problem = f"service {name}: {short(exc)}"
        finally:
            self._remove(name)
        return problem

    def _stop_rest(self, stack: Stack) -> list[str]:
        problems: list[str] = []
        for name in list(self._containers):
            self._remove(name)
        if self._run:
            # Anything of this scenario run still there is a teardown problem: say so, remove it.
            left = sweep(self._client, scenario=self._run, networks=False)
            problems.extend(f"{what} was still there; removed" for what in left)
        if self._network is not None:
            try:
                self._network.remove()
            except Exception as exc:
                problems.append(f"network {self._network.name}: {short(exc)}")
            self._network = None
        return problems


@dataclass(frozen=True)
class _NetworkRef:
    """What testcontainers reads of a network: its name (the SDK makes the network, with our
    name and labels)."""

    name: str
