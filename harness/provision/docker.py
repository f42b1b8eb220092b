"""The container backend (``--env docker``): every service is a container on a network made for
the scenario.

- Services reach each other by name on that network (``${services.db.url}`` inside a container
  is ``postgresql://postgres@db:5432/shop``), and reach a dependency through the Toxiproxy
  container where the scenario declares a proxy.
- The harness reaches every service through ports published on 127.0.0.1 only, each at a host
  port chosen here and kept across a kill and restart of the container.
- Containers start with testcontainers (``DockerContainer``); faults and teardown use the
  Docker SDK. Everything carries the labels below; a run that died (SIGKILL, a crash) leaves
  containers and a network that the next start on this host sweeps, by label.

Ryuk (testcontainers' reaper) is off: it is one more image to pull, which machines without a
registry cannot, and the sweep by owner covers what it would.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import smtplib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, cast

import psycopg
import redis

from harness.errors import (
    DockerUnavailable,
    ImageMissing,
    ProcessExited,
    ProvisionError,
    ServiceNeverReady,
)
from harness.fakes.identity import signing_identity
from harness.provision.backend import Outcome, RunningService, Stack, WaveProvisioner
from harness.provision.images import Images
from harness.provision.process import free_port, http_ok
from harness.provision.templates import Endpoint, TemplateContext, resolve
from harness.scenario.model import ReadyCheck, Scenario, Service
from harness.toxiproxy import ToxiproxyClient

if TYPE_CHECKING:
    from docker.models.containers import Container
    from docker.models.networks import Network

    from docker import DockerClient

__all__ = [
    "LABEL_MANAGED",
    "LABEL_OWNER",
    "LABEL_SCENARIO",
    "LABEL_SERVICE",
    "ContainerControl",
    "DockerProvisioner",
    "connect",
    "sweep",
]

HOST = "127.0.0.1"
#: inside a container a service listens on its network, which only the run's containers share
ALL_INTERFACES = "0.0.0.0"  # noqa: S104
LABEL_MANAGED = "io.chaosgate.managed"
#: ``hostname:pid`` of the harness process that made it
LABEL_OWNER = "io.chaosgate.owner"
#: ``<scenario id>-<random>``: one scenario run
LABEL_SCENARIO = "io.chaosgate.scenario"
#: the scenario's name for the service
LABEL_SERVICE = "io.chaosgate.service"
#: the port a process service listens on inside its container (``${services.X.port}``)
APP_PORT = 8000
SMTP_PORT = 8025
TOXIPROXY_API_PORT = 8474
#: proxies listen inside the Toxiproxy container from this port on, one per proxy
PROXY_PORT_BASE = 20000
FILES_DIR = "/chaosgate/files"
_POLL_S = 0.1


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
            f"the Docker daemon does not answer at {where} ({_short(exc)}): start it "
            "(systemctl start docker, or run dockerd as root), make sure this user may use it "
            "(the docker group), or set DOCKER_HOST; or run with --env local"
        ) from None
    finally:
        if probe is not None:
            probe.close()
    return docker.from_env(version=version, timeout=60)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def _owner() -> str:
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

    for container in client.containers.list(all=True, filters={"label": label}):
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


@dataclass
class _Spec:
    """How one service runs as a container."""

    image: str
    setting: str
    command: list[str] | None
    env: dict[str, str]
    ports: list[int]
    inner: Endpoint
    #: builds the published endpoint from the host ports (container port -> host port)
    outer: Callable[[dict[int, int]], Endpoint]
    ready: Callable[[Endpoint, Container], bool] | None
    describe: str
    ready_timeout_s: float = 60.0
    stop_signal: str = "SIGTERM"
    stop_timeout_s: float = 10.0
    volumes: list[tuple[str, str, str]] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)


def _redis_ok(endpoint: Endpoint) -> bool:
    try:
        with redis.Redis(host=endpoint.host, port=endpoint.port, socket_timeout=0.5) as client:
            return bool(client.ping())
    except redis.RedisError:
        return False


def _postgres_ok(endpoint: Endpoint, database: str) -> bool:
    try:
        with psycopg.connect(
            host=endpoint.host,
            port=endpoint.port,
            user="postgres",
            dbname=database,
            connect_timeout=1,
        ) as conn:
            conn.execute("select 1")
            return True
    except psycopg.Error:
        return False


def _smtp_ok(host: str, port: int) -> bool:
    try:
        with smtplib.SMTP(host, port, timeout=1) as smtp:
            return smtp.noop()[0] == 250
    except (OSError, smtplib.SMTPException):
        return False


def _held_open(host: str, port: int) -> bool:
    """A TCP connection is accepted and not closed at once: Docker's port proxy accepts on a
    published port even when nothing listens in the container, then closes."""
    try:
        with socket.create_connection((host, port), timeout=1) as conn:
            conn.settimeout(0.2)
            try:
                return conn.recv(1, socket.MSG_PEEK) != b""
            except TimeoutError:
                return True
    except OSError:
        return False


def _state(container: Container) -> dict[str, Any]:
    container.reload()
    state: dict[str, Any] = container.attrs.get("State", {})
    return state


def _logs(container: Container, tail: int | Literal["all"] = "all") -> str:
    try:
        data: bytes = container.logs(stdout=True, stderr=True, tail=tail)
    except Exception as exc:
        return f"(logs unavailable: {_short(exc)})"
    return data.decode(errors="replace")


def _wait_ready(
    name: str,
    container: Container,
    check: Callable[[], bool],
    timeout_s: float,
    describe: str,
) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        state = _state(container)
        if state.get("Status") in ("exited", "dead"):
            raise ProcessExited(name, int(state.get("ExitCode", -1)), _logs(container, 20))
        if check():
            return
        if time.monotonic() > deadline:
            raise ServiceNeverReady(name, timeout_s, describe, _logs(container, 20))
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
        state = _state(self._container)
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
        before = _state(self._container).get("StartedAt")
        self._container.restart(timeout=max(1, round(self._stop_timeout_s)))
        self._wait_ready()
        after = _state(self._container)
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
        _state(self._container)
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
        self._proxy_ports: dict[str, int] = {}
        self._specs: dict[str, _Spec] = {}
        self._run_dir = Path()

    @property
    def images(self) -> Images:
        return self._images

    def close(self) -> None:
        with contextlib.suppress(Exception):
            sweep(self._client, owner=_owner())  # ours still there (a stop was interrupted)
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
                raise ProvisionError(f"services.{name}: image {image!r}: {_short(exc)}") from None
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
            raise ImageMissing(image, setting, _short(exc), hint) from None

    # -- start ----------------------------------------------------------------------------

    def start(self, scenario: Scenario, run_dir: Path) -> Stack:
        self.check_images(scenario)
        self._reset()
        self._run = f"{scenario.id[:40]}-{secrets.token_hex(3)}"
        self._run_dir = run_dir.resolve()
        self._proxy_ports = {p: PROXY_PORT_BASE + i for i, p in enumerate(scenario.proxies)}
        try:
            self._network = self._client.networks.create(
                f"cg-{self._run}", driver="bridge", labels=self._labels()
            )
        except Exception as exc:
            raise ProvisionError(
                f"cannot create the network cg-{self._run}: {_short(exc)}"
            ) from None
        return super().start(scenario, run_dir)

    def _labels(self) -> dict[str, str]:
        return {LABEL_MANAGED: "true", LABEL_OWNER: _owner(), LABEL_SCENARIO: self._run}

    def _inner_context(self, extra: dict[str, Endpoint]) -> TemplateContext:
        return TemplateContext(
            {**self._inner, **extra},
            dict(self._inner_proxies),
            str(self._run_dir),
            self._seed,
            self._time_scale,
        )

    def _spec(self, name: str, service: Service, directory: Path) -> _Spec:
        image, setting = self._images.for_service(name, service)
        if service.kind == "redis":
            return _Spec(
                image,
                setting,
                ["redis-server", "--save", "", "--appendonly", "no", "--protected-mode", "no"],
                {},
                [6379],
                Endpoint(name, 6379, f"redis://{name}:6379/0"),
                lambda p: Endpoint(HOST, p[6379], f"redis://{HOST}:{p[6379]}/0"),
                lambda e, c: _redis_ok(e),
                "PING answers PONG",
            )
        if service.kind == "postgres":
            db = service.database or "postgres"
            return _Spec(
                image,
                setting,
                [
                    "postgres",
                    *("-c", "fsync=off", "-c", "synchronous_commit=off"),
                    *("-c", "full_page_writes=off", "-c", "max_connections=200"),
                ],
                {"POSTGRES_HOST_AUTH_METHOD": "trust", "POSTGRES_DB": db},
                [5432],
                Endpoint(name, 5432, f"postgresql://postgres@{name}:5432/{db}"),
                lambda p: Endpoint(HOST, p[5432], f"postgresql://postgres@{HOST}:{p[5432]}/{db}"),
                lambda e, c: _postgres_ok(e, db),
                f"a connection to database {db} succeeds",
                stop_signal="SIGINT",
            )
        if service.kind == "toxiproxy":
            api = TOXIPROXY_API_PORT
            return _Spec(
                image,
                setting,
                ["-host=0.0.0.0", f"-port={api}"],
                {},
                [api, *self._proxy_ports.values()],
                Endpoint(name, api, f"http://{name}:{api}"),
                lambda p: Endpoint(HOST, p[api], f"http://{HOST}:{p[api]}"),
                lambda e, c: http_ok(f"{e.url}/version"),
                "GET /version answers 200",
            )
        if service.kind == "fake-provider":
            key_path, cert_path = signing_identity(directory)
            return _Spec(
                image,
                setting,
                [
                    *("python", "-m", "harness.fakes.provider", "--host", ALL_INTERFACES),
                    *("--port", str(APP_PORT), "--seed", str(self._seed)),
                    *("--cert", f"{FILES_DIR}/{cert_path.name}"),
                ],
                {},
                [APP_PORT],
                Endpoint(name, APP_PORT, f"http://{name}:{APP_PORT}"),
                lambda p: Endpoint(HOST, p[APP_PORT], f"http://{HOST}:{p[APP_PORT]}"),
                lambda e, c: http_ok(f"{e.url}/_fake/stats"),
                "GET /_fake/stats answers",
                volumes=[(str(directory.resolve()), FILES_DIR, "ro")],
                files={"paypal_key": key_path, "paypal_cert": cert_path},
            )
        if service.kind == "notify-capture":
            return _Spec(
                image,
                setting,
                [
                    *("python", "-m", "harness.fakes.notify", "--host", ALL_INTERFACES),
                    *("--port", str(APP_PORT), "--smtp-port", str(SMTP_PORT)),
                ],
                {},
                [APP_PORT, SMTP_PORT],
                Endpoint(
                    name,
                    APP_PORT,
                    f"http://{name}:{APP_PORT}",
                    extra={"smtp_port": str(SMTP_PORT)},
                ),
                lambda p: Endpoint(
                    HOST,
                    p[APP_PORT],
                    f"http://{HOST}:{p[APP_PORT]}",
                    extra={"smtp_port": str(p[SMTP_PORT])},
                ),
                lambda e, c: (
                    http_ok(f"{e.url}/_capture/messages")
                    and _smtp_ok(HOST, int(e.extra["smtp_port"]))
                ),
                "HTTP answers and SMTP greets",
            )
        return self._process_spec(name, service, image, setting)

    def _process_spec(self, name: str, service: Service, image: str, setting: str) -> _Spec:
        inner = Endpoint(name, APP_PORT, f"http://{name}:{APP_PORT}")
        context = self._inner_context({name: inner})
        where = f"services.{name}"
        assert service.command is not None
        command = [resolve(a, context, where=f"{where}.command") for a in service.command]
        env = {k: resolve(v, context, where=f"{where}.env.{k}") for k, v in service.env.items()}
        ready, describe = self._ready(service.ready, context, where, env)
        return _Spec(
            image,
            setting,
            command,
            env,
            [APP_PORT],
            inner,
            lambda p: Endpoint(HOST, p[APP_PORT], f"http://{HOST}:{p[APP_PORT]}"),
            ready,
            describe,
            ready_timeout_s=service.ready_timeout_s,
            stop_signal=f"SIG{service.stop_signal}",
            stop_timeout_s=service.stop_timeout_s,
            # ${run.dir} means the same directory inside the container as outside
            volumes=[(str(self._run_dir), str(self._run_dir), "rw")],
        )

    @staticmethod
    def _ready(
        ready: ReadyCheck | None, context: TemplateContext, where: str, env: dict[str, str]
    ) -> tuple[Callable[[Endpoint, Container], bool] | None, str]:
        if ready is None:
            return None, "running"
        if ready.http is not None:
            path = resolve(ready.http, context, where=f"{where}.ready.http")
            return (lambda e, c: http_ok(e.url + path)), f"GET {path} answers 2xx"
        if ready.command is not None:
            argv = [resolve(a, context, where=f"{where}.ready.command") for a in ready.command]

            def command_ok(endpoint: Endpoint, container: Container) -> bool:
                # Run where the service runs: inside its container, with its environment.
                try:
                    result = container.exec_run(argv, environment=env)
                except Exception:
                    return False
                return bool(result.exit_code == 0)

            return command_ok, f"{' '.join(argv)} exits 0 in the container"
        return (lambda e, c: _held_open(e.host, e.port)), f"port {APP_PORT} accepts connections"

    def _start_one(
        self, name: str, scenario: Scenario, stack: Stack, run_dir: Path
    ) -> RunningService:
        from testcontainers.core.container import DockerContainer

        service = scenario.services[name]
        directory = run_dir / "services" / name
        directory.mkdir(parents=True, exist_ok=True)
        spec = self._spec(name, service, directory)
        self._specs[name] = spec
        assert self._network is not None
        running = RunningService(
            name, service.kind, Endpoint(HOST, 0, ""), directory / f"{name}.log", files=spec.files
        )
        host_ports: dict[int, int] = {}
        for attempt in range(3):
            host_ports = {port: free_port(HOST) for port in spec.ports}
            container = DockerContainer(spec.image)
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
                    f"services.{name}: container from {spec.image} did not start: {_short(exc)}"
                ) from None
        wrapped: Container = self._containers[name].get_wrapped_container()
        running.endpoint = spec.outer(host_ports)
        running.inner = self._inner[name] = spec.inner
        check = spec.ready

        def wait_ready() -> None:
            if check is None:
                _wait_ready(name, wrapped, lambda: True, spec.ready_timeout_s, spec.describe)
                return
            _wait_ready(
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
        if service.kind == "toxiproxy":
            stack.toxiproxy = ToxiproxyClient(running.endpoint.url)
        return running

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
            listen = self._proxy_ports[name]
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
                if _state(wrapped).get("Status") == "paused":
                    wrapped.unpause()  # a paused container ignores its stop signal
            with contextlib.suppress(Exception):
                wrapped.stop(timeout=max(1, round(spec.stop_timeout_s if spec else 5)))
            running.log_path.parent.mkdir(parents=True, exist_ok=True)
            running.log_path.write_text(_logs(wrapped))
        except Exception as exc:
            problem = f"service {name}: {_short(exc)}"
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
                problems.append(f"network {self._network.name}: {_short(exc)}")
            self._network = None
        return problems


@dataclass(frozen=True)
class _NetworkRef:
    """What testcontainers reads of a network: its name (the SDK makes the network, with our
    name and labels)."""

    name: str
