"""The local backend: every service is a process on this machine, on free loopback ports."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

import httpx

from harness.errors import ProvisionError
from harness.fakes.identity import signing_identity
from harness.provision.backend import RunningService, Stack
from harness.provision.process import ManagedProcess, free_port, port_is_open
from harness.provision.recipes import (
    HOST,
    PostgresServer,
    PostgresTemplate,
    RedisServer,
    ToxiproxyServer,
)
from harness.provision.templates import Endpoint, TemplateContext, references, resolve
from harness.scenario.model import ReadyCheck, Scenario, Service
from harness.toxiproxy import ToxiproxyClient

__all__ = ["LocalProvisioner", "start_order", "start_waves"]

_SIGNALS = {"TERM": signal.SIGTERM, "INT": signal.SIGINT, "KILL": signal.SIGKILL}


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


class LocalProvisioner:
    """Start a scenario's services as local processes.

    Parameters:
        seed: the run's seed (``${run.seed}``).
        time_scale: multiplies ``${scaled:SECONDS}``.
    """

    def __init__(self, *, seed: int = 0, time_scale: float = 1.0) -> None:
        self._seed = seed
        self._time_scale = time_scale
        self._recipes: dict[str, RedisServer | PostgresServer | ToxiproxyServer] = {}
        self._dirs: dict[str, Path] = {}
        self._wave: dict[str, int] = {}
        self._pg_template = PostgresTemplate()

    def close(self) -> None:
        """Remove what is kept between scenarios (the PostgreSQL template cluster)."""
        self._pg_template.close()

    def __enter__(self) -> LocalProvisioner:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

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

    def _context(self, stack: Stack, run_dir: Path, extra: dict[str, Endpoint]) -> TemplateContext:
        services = {n: s.endpoint for n, s in stack.services.items()} | extra
        return TemplateContext(services, stack.proxies, str(run_dir), self._seed, self._time_scale)

    def _start_one(
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

        def answers() -> bool:
            try:
                return httpx.get(stats, timeout=1).is_success
            except httpx.HTTPError:
                return False

        try:
            process.wait_ready(answers, timeout_s=30, describe=f"GET {stats} answers")
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

            def http_ok() -> bool:
                try:
                    return httpx.get(url, timeout=1).is_success
                except httpx.HTTPError:
                    return False

            return http_ok, f"GET {url} answers 2xx"
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

    @staticmethod
    def _create_proxies(scenario: Scenario, stack: Stack) -> None:
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

    def stop(self, stack: Stack) -> list[str]:
        problems: list[str] = []
        if stack.toxiproxy is not None:
            for name in list(stack.proxies):
                try:
                    stack.toxiproxy.delete_proxy(name)
                except Exception as exc:
                    problems.append(f"proxy {name}: {exc}")
            stack.toxiproxy.close()
        # Dependents stop before what they depend on: the reverse of start order, and the
        # services of one start wave together.
        names = list(stack.services)
        waves = self._stop_waves(names)
        for wave in waves:
            with ThreadPoolExecutor(max_workers=max(1, len(wave))) as pool:
                for problem in pool.map(lambda n: self._stop_one(n, stack), wave):
                    if problem:
                        problems.append(problem)
        # A server whose start failed half-way is not in the stack, but must not outlive it.
        for name in [n for n in self._recipes if n not in names]:
            try:
                self._recipes.pop(name).stop()
            except Exception as exc:
                problems.append(f"service {name}: {exc}")
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
