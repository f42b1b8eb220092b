"""The local backend: every service is a process on this machine, on free loopback ports."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from harness.errors import FaultError, ProvisionError
from harness.fakes.identity import signing_identity
from harness.provision.backend import Outcome, RunningService, Stack, WaveProvisioner
from harness.provision.process import ManagedProcess, free_port, http_ok, port_is_open
from harness.provision.recipes import (
    HOST,
    PostgresServer,
    PostgresTemplate,
    RedisServer,
    ToxiproxyServer,
)
from harness.provision.templates import Endpoint, TemplateContext, resolve
from harness.scenario.model import ReadyCheck, Scenario, Service
from harness.toxiproxy import ToxiproxyClient

__all__ = ["LocalProvisioner", "ProcessControl"]

_SIGNALS = {"TERM": signal.SIGTERM, "INT": signal.SIGINT, "KILL": signal.SIGKILL}


def _process_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return "gone"


class ProcessControl:
    """Faults on a local service: signals to its process group, and its recipe to start again.

    Services the provisioner cannot start again (the Redis, PostgreSQL and Toxiproxy recipes)
    can be killed, stopped and paused, not started.
    """

    def __init__(self, running: RunningService) -> None:
        self._running = running

    @property
    def label(self) -> str:
        process = self._running.process
        return f"pid {process.pid}" if process is not None else "no process"

    def _process(self) -> tuple[ManagedProcess, int]:
        process = self._running.process
        if process is None or process.pid is None:
            raise FaultError(f"service {self._running.name!r} has no process to signal")
        return process, process.pid

    def _not_running(self, process: ManagedProcess) -> Outcome | None:
        code = process.returncode
        if code is None:
            return None
        return Outcome(False, f"{self._running.name} was not running (exit code {code})")

    def kill(self) -> Outcome:
        process, _ = self._process()
        if (dead := self._not_running(process)) is not None:
            return dead
        process.signal(signal.SIGKILL)
        try:
            code: int | None = process.wait(timeout_s=5)
        except TimeoutError:
            code = None
        return Outcome(code == -signal.SIGKILL, f"{self._running.name} exited with {code}")

    def stop(self) -> Outcome:
        process, pid = self._process()
        if (dead := self._not_running(process)) is not None:
            return dead
        code = process.stop()
        return Outcome(
            code is not None and _process_state(pid) == "gone",
            f"{self._running.name} stopped, exit code {code}",
        )

    def start(self) -> Outcome:
        if self._running.restart is None:
            raise FaultError(
                f"service {self._running.name!r} ({self._running.kind}) cannot be started again "
                "by the local backend; give the fault restart: false / start: false"
            )
        self._running.restart()
        process = self._running.process
        alive = process is not None and process.returncode is None
        return Outcome(alive, f"{self._running.name} started again as {self.label}")

    def restart(self) -> Outcome:
        before = self.label
        outcome = self.start()
        return Outcome(outcome.fired and self.label != before, f"{before} -> {outcome.evidence}")

    def pause(self) -> Outcome:
        process, pid = self._process()
        process.signal(signal.SIGSTOP)
        # SIGSTOP is delivered asynchronously: give the kernel a moment before reading the state.
        deadline = time.monotonic() + 2.0
        while (state := _process_state(pid)) != "T" and time.monotonic() < deadline:
            time.sleep(0.01)
        return Outcome(state == "T", f"{self._running.name} process state {state!r} (T = stopped)")

    def unpause(self) -> Outcome:
        process, pid = self._process()
        process.signal(signal.SIGCONT)
        return Outcome(True, f"{self._running.name} continued (state {_process_state(pid)!r})")

    def disconnect(self) -> Outcome:
        raise FaultError(
            "the local backend cannot cut a process off the network (it shares the host's "
            "loopback); run the scenario with --env docker"
        )

    reconnect = disconnect


class LocalProvisioner(WaveProvisioner):
    """Start a scenario's services as local processes.

    Parameters:
        seed: the run's seed (``${run.seed}``).
        time_scale: multiplies ``${scaled:SECONDS}``.
    """

    name: ClassVar[str] = "local"
    #: a process shares the host's loopback: there is no network to cut it off from
    unsupported_faults: ClassVar[frozenset[str]] = frozenset({"disconnect"})

    def __init__(self, *, seed: int = 0, time_scale: float = 1.0) -> None:
        super().__init__()
        self._seed = seed
        self._time_scale = time_scale
        self._recipes: dict[str, RedisServer | PostgresServer | ToxiproxyServer] = {}
        self._dirs: dict[str, Path] = {}
        self._pg_template = PostgresTemplate()

    def close(self) -> None:
        """Remove what is kept between scenarios (the PostgreSQL template cluster)."""
        self._pg_template.close()

    def __enter__(self) -> LocalProvisioner:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _context(self, stack: Stack, run_dir: Path, extra: dict[str, Endpoint]) -> TemplateContext:
        services = {n: s.endpoint for n, s in stack.services.items()} | extra
        return TemplateContext(services, stack.proxies, str(run_dir), self._seed, self._time_scale)

    def _start_one(
        self, name: str, scenario: Scenario, stack: Stack, run_dir: Path
    ) -> RunningService:
        running = self._start_service(name, scenario, stack, run_dir)
        running.control = ProcessControl(running)
        return running

    def _start_service(
        self, name: str, scenario: Scenario, stack: Stack, run_dir: Path
    ) -> RunningService:
        service = scenario.services[name]
        directory = run_dir / "services" / name
        directory.mkdir(parents=True, exist_ok=True)
        self._dirs[name] = directory
        if service.kind == "redis":
            redis_server = RedisServer(directory).start()
            self._recipes[name] = redis_server
            assert redis_server.process is not None
            endpoint = Endpoint(HOST, redis_server.port, redis_server.url)
            return RunningService(
                name, "redis", endpoint, redis_server.process.log_path, redis_server.process
            )
        if service.kind == "postgres":
            pg = PostgresServer(template=self._pg_template.data())
            self._recipes[name] = pg
            pg.start()
            database = service.database or "postgres"
            if service.database:
                pg.create_database(service.database)
            assert pg.process is not None
            url = f"postgresql://{pg.role}@{HOST}:{pg.port}/{database}"
            return RunningService(
                name, "postgres", Endpoint(HOST, pg.port, url), pg.process.log_path, pg.process
            )
        if service.kind == "toxiproxy":
            toxi = ToxiproxyServer(directory).start()
            self._recipes[name] = toxi
            stack.toxiproxy = ToxiproxyClient(toxi.api_url)
            assert toxi.process is not None
            return RunningService(
                name,
                "toxiproxy",
                Endpoint(HOST, toxi.port, toxi.api_url),
                toxi.process.log_path,
                toxi.process,
            )
        if service.kind == "fake-provider":
            return self._start_fake_provider(name, directory)
        if service.kind == "notify-capture":
            return self._start_capture(name, directory)
        return self._start_process(name, service, stack, run_dir, directory)

    def _start_fake_provider(self, name: str, directory: Path) -> RunningService:
        port = free_port(HOST)
        key_path, cert_path = signing_identity(directory)
        argv = [
            sys.executable,
            "-m",
            "harness.fakes.provider",
            "--port",
            str(port),
            "--seed",
            str(self._seed),
            "--cert",
            str(cert_path),
        ]
        process = ManagedProcess(name, argv, log_path=directory / f"{name}.log")
        endpoint = Endpoint(HOST, port, f"http://{HOST}:{port}")
        running = RunningService(
            name,
            "fake-provider",
            endpoint,
            process.log_path,
            process,
            files={"paypal_key": key_path, "paypal_cert": cert_path},
        )
        process.start()
        stats = f"{endpoint.url}/_fake/stats"
        try:
            process.wait_ready(
                lambda: http_ok(stats), timeout_s=30, describe=f"GET {stats} answers"
            )
        except BaseException:
            process.stop()
            raise
        return running

    def _start_capture(self, name: str, directory: Path) -> RunningService:
        port, smtp_port = free_port(HOST), free_port(HOST)
        argv = [
            sys.executable,
            "-m",
            "harness.fakes.notify",
            "--port",
            str(port),
            "--smtp-port",
            str(smtp_port),
        ]
        process = ManagedProcess(name, argv, log_path=directory / f"{name}.log")
        endpoint = Endpoint(
            HOST, port, f"http://{HOST}:{port}", extra={"smtp_port": str(smtp_port)}
        )
        process.start()
        try:
            process.wait_ready(
                lambda: port_is_open(HOST, port) and port_is_open(HOST, smtp_port),
                timeout_s=30,
                describe=f"HTTP {port} and SMTP {smtp_port} accept connections",
            )
        except BaseException:
            process.stop()
            raise
        return RunningService(name, "notify-capture", endpoint, process.log_path, process)

    def _start_process(
        self, name: str, service: Service, stack: Stack, run_dir: Path, directory: Path
    ) -> RunningService:
        port = free_port(HOST)
        endpoint = Endpoint(HOST, port, f"http://{HOST}:{port}")
        context = self._context(stack, run_dir, {name: endpoint})
        where = f"services.{name}"
        assert service.command is not None
        argv = [resolve(a, context, where=f"{where}.command") for a in service.command]
        env = {k: resolve(v, context, where=f"{where}.env.{k}") for k, v in service.env.items()}
        if shutil.which(argv[0]) is None and not Path(argv[0]).exists():
            raise ProvisionError(
                f"{where}: program {argv[0]!r} is not installed or not on PATH; install it or "
                "give its full path in the scenario"
            )
        running = RunningService(name, "process", endpoint, directory / f"{name}.log")
        stack.services[name] = running  # stopped by stop() even if it never becomes ready

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
                check, describe = self._ready_check(service.ready, endpoint, context, where, env)
                process.wait_ready(check, timeout_s=service.ready_timeout_s, describe=describe)

        def restart() -> None:
            if running.process is not None:
                running.process.stop()
            launch()

        running.restart = restart
        launch()
        return running

    @staticmethod
    def _ready_check(
        ready: ReadyCheck,
        endpoint: Endpoint,
        context: TemplateContext,
        where: str,
        env: dict[str, str],
    ) -> tuple[Callable[[], bool], str]:
        if ready.http is not None:
            url = endpoint.url + resolve(ready.http, context, where=f"{where}.ready.http")
            return (lambda: http_ok(url)), f"GET {url} answers 2xx"
        if ready.command is not None:
            argv = [resolve(a, context, where=f"{where}.ready.command") for a in ready.command]

            def command_ok() -> bool:
                try:
                    return (
                        subprocess.run(
                            argv,
                            capture_output=True,
                            timeout=10,
                            check=False,
                            env={**os.environ, **env},
                        ).returncode
                        == 0
                    )
                except (OSError, subprocess.TimeoutExpired):
                    return False

            return command_ok, f"{' '.join(argv)} exits 0"
        return (lambda: port_is_open(endpoint.host, endpoint.port)), f"port {endpoint.port} open"

    def _create_proxies(self, scenario: Scenario, stack: Stack) -> None:
        if stack.toxiproxy is None:
            return
        for name, proxy in scenario.proxies.items():
            upstream = stack.services.get(proxy.upstream)
            if name in stack.proxies or upstream is None:
                continue
            listen_port = free_port(HOST)
            stack.toxiproxy.create_proxy(
                name, listen=f"{HOST}:{listen_port}", upstream=f"{HOST}:{upstream.endpoint.port}"
            )
            url = upstream.endpoint.url.replace(f":{upstream.endpoint.port}", f":{listen_port}", 1)
            stack.proxies[name] = Endpoint(HOST, listen_port, url)

    def _stop_rest(self, stack: Stack) -> list[str]:
        # A server whose start failed half-way is not in the stack, but must not outlive it.
        problems: list[str] = []
        for name in [n for n in self._recipes if n not in stack.services]:
            try:
                self._recipes.pop(name).stop()
            except Exception as exc:
                problems.append(f"service {name}: {exc}")
        return problems

    def _stop_one(self, name: str, stack: Stack) -> str | None:
        running = stack.services[name]
        try:
            recipe = self._recipes.pop(name, None)
            if recipe is not None:
                if isinstance(recipe, PostgresServer) and recipe.process is not None:
                    self._keep_log(recipe.process.log_path, running, self._dirs.get(name))
                recipe.stop()
            elif running.process is not None:
                running.process.stop()
        except Exception as exc:
            return f"service {name}: {exc}"
        return None

    @staticmethod
    def _keep_log(source: Path, running: RunningService, directory: Path | None) -> None:
        # PostgreSQL's directory is removed on stop; its log is kept in the run directory.
        if directory is None:
            return
        target = directory / "postgres.log"
        try:
            shutil.copyfile(source, target)
            running.log_path = target
        except OSError:
            pass
