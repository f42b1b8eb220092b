"""``kind: process``: the system's own programs — ``command`` with its ``env``, ready when its
``ready`` check passes; locally a process group on a free loopback port, in a container the
service's ``image:`` (default ``CHAOSGATE_APP_IMAGE``) listening on port 8000."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import ProvisionError
from harness.provision.backend import RunningService, Stack
from harness.provision.kinds import (
    APP_PORT,
    HOST,
    KINDS,
    ContainerHost,
    ContainerSpec,
    KindStart,
    LocalHost,
)
from harness.provision.process import ManagedProcess, free_port, http_ok, port_is_open
from harness.provision.templates import Endpoint, TemplateContext, resolve
from harness.scenario.model import ReadyCheck, Service

if TYPE_CHECKING:
    from docker.models.containers import Container

__all__ = ["ProcessKind"]

_SIGNALS = {"TERM": signal.SIGTERM, "INT": signal.SIGINT, "KILL": signal.SIGKILL}


def _resolved(
    name: str, service: Service, context: TemplateContext
) -> tuple[list[str], dict[str, str]]:
    where = f"services.{name}"
    assert service.command is not None  # the model requires it for kind process
    argv = [resolve(a, context, where=f"{where}.command") for a in service.command]
    env = {k: resolve(v, context, where=f"{where}.env.{k}") for k, v in service.env.items()}
    return argv, env


class ProcessKind:
    image_role = "app"

    def local(self, start: KindStart, host: LocalHost, stack: Stack) -> RunningService:
        name, service = start.name, start.service
        port = free_port(HOST)
        endpoint = Endpoint(HOST, port, f"http://{HOST}:{port}")
        context = host.context(stack, {name: endpoint})
        argv, env = _resolved(name, service, context)
        if shutil.which(argv[0]) is None and not Path(argv[0]).exists():
            raise ProvisionError(
                f"services.{name}: program {argv[0]!r} is not installed or not on PATH; install "
                "it or give its full path in the scenario"
            )
        running = RunningService(name, "process", endpoint, start.directory / f"{name}.log")
        if service.before_start is not None:
            _before_start(name, service.before_start, context, env, running.log_path)

        def stop() -> None:
            if running.process is not None:
                running.process.stop()

        host.on_stop(name, stop)  # stopped even if it never becomes ready

        def launch() -> None:
            process = ManagedProcess(
                name,
                argv,
                env=env,
                cwd=None,
                log_path=running.log_path,
                stop_signal=_SIGNALS[service.stop_signal],
                stop_timeout_s=service.stop_timeout_s,
            )
            running.process = process
            process.start()
            if service.ready is not None:
                check, describe = _local_ready(service.ready, endpoint, context, name, env)
                process.wait_ready(check, timeout_s=service.ready_timeout_s, describe=describe)

        def restart() -> None:
            stop()
            launch()

        running.restart = restart
        launch()
        return running

    def container(self, start: KindStart, host: ContainerHost) -> ContainerSpec:
        name, service = start.name, start.service
        inner = Endpoint(name, APP_PORT, f"http://{name}:{APP_PORT}")
        context = host.context({name: inner})
        command, env = _resolved(name, service, context)
        ready, describe = _container_ready(service.ready, context, name, env)
        return ContainerSpec(
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
            volumes=[(str(host.run_dir), str(host.run_dir), "rw")],
            before_start=(
                [
                    resolve(a, context, where=f"services.{name}.before_start")
                    for a in service.before_start
                ]
                if service.before_start is not None
                else None
            ),
        )


def _before_start(
    name: str, command: list[str], context: TemplateContext, env: dict[str, str], log: Path
) -> None:
    """Run the service's one-shot command (its output goes to the service's log).

    Raises:
        ProvisionError: it could not run, or did not exit 0.
    """
    where = f"services.{name}.before_start"
    argv = [resolve(a, context, where=where) for a in command]
    log.parent.mkdir(parents=True, exist_ok=True)
    try:
        with log.open("ab") as out:
            done = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **env},
                timeout=600,
                check=False,
            )
    except FileNotFoundError:
        raise ProvisionError(
            f"{where}: program {argv[0]!r} is not installed or not on PATH"
        ) from None
    except subprocess.TimeoutExpired:
        raise ProvisionError(f"{where}: {' '.join(argv)} still ran after 600 s") from None
    if done.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        raise ProvisionError(
            f"{where}: {' '.join(argv)} exited {done.returncode}; last lines of its log:\n{tail}"
        )


def _local_ready(
    ready: ReadyCheck,
    endpoint: Endpoint,
    context: TemplateContext,
    name: str,
    env: dict[str, str],
) -> tuple[Callable[[], bool], str]:
    where = f"services.{name}"
    if ready.http is not None:
        url = endpoint.url + resolve(ready.http, context, where=f"{where}.ready.http")
        return (lambda: http_ok(url)), f"GET {url} answers 2xx"
    if ready.command is not None:
        argv = [resolve(a, context, where=f"{where}.ready.command") for a in ready.command]

        def command_ok() -> bool:
            try:
                done = subprocess.run(
                    argv, capture_output=True, timeout=10, check=False, env={**os.environ, **env}
                )
            except (OSError, subprocess.TimeoutExpired):
                return False
            return done.returncode == 0

        return command_ok, f"{' '.join(argv)} exits 0"
    return (lambda: port_is_open(endpoint.host, endpoint.port)), f"port {endpoint.port} open"


def _container_ready(
    ready: ReadyCheck | None, context: TemplateContext, name: str, env: dict[str, str]
) -> tuple[Callable[[Endpoint, Container], bool] | None, str]:
    where = f"services.{name}"
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


KINDS.register("process")(ProcessKind())
