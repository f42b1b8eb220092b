"""The local backend: every service is a process on this machine, on free loopback ports."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from harness.errors import FaultError, PortInUse
from harness.provision.backend import Outcome, RunningService, Stack
from harness.provision.kinds import HOST, KINDS, KindStart
from harness.provision.process import ManagedProcess, on_free_port
from harness.provision.servers import PostgresServer, PostgresTemplate
from harness.provision.templates import Endpoint, TemplateContext
from harness.provision.waves import WaveProvisioner
from harness.scenario.model import Scenario
from harness.toxiproxy import ToxiproxyClient, ToxiproxyError

__all__ = ["LocalProvisioner", "ProcessControl"]


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
    """Start a scenario's services as local processes, each by its kind's recipe.

    Parameters:
        seed: the run's seed (``${run.seed}``).
        time_scale: multiplies ``${scaled:SECONDS}``.
    """

    name: ClassVar[str] = "local"
    #: a process shares the host's loopback: there is no network to cut it off from
    unsupported_faults: ClassVar[frozenset[str]] = frozenset({"disconnect"})

    def __init__(
        self,
        *,
        seed: int = 0,
        time_scale: float = 1.0,
        postgres_templates: PostgresTemplate | None = None,
    ) -> None:
        super().__init__()
        self._seed = seed
        self._time_scale = time_scale
        self._stoppers: dict[str, Callable[[], None]] = {}
        self._lock = threading.Lock()
        #: shared by the backends of one run (scenarios at once), closed by whoever made it
        self._owns_templates = postgres_templates is None
        self._pg_template = postgres_templates or PostgresTemplate()

    def close(self) -> None:
        """Remove what is kept between scenarios (the PostgreSQL template clusters), unless
        they were handed in."""
        if self._owns_templates:
            self._pg_template.close()

    def __enter__(self) -> LocalProvisioner:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- what a recipe may ask for (kinds.LocalHost) ------------------------------------------

    def context(self, stack: Stack, extra: dict[str, Endpoint]) -> TemplateContext:
        services = {n: s.endpoint for n, s in stack.services.items()} | extra
        return TemplateContext(
            services, stack.proxies, str(self._run_dir), self._seed, self._time_scale
        )

    def postgres_template(self) -> Path:
        return self._pg_template.data()

    def postgres_derived(
        self, key: str, build: Callable[[PostgresServer], None]
    ) -> tuple[Path, bool]:
        return self._pg_template.derived(key, build)

    def on_stop(self, name: str, stop: Callable[[], None]) -> None:
        with self._lock:
            self._stoppers[name] = stop

    # -- the waves' hooks ------------------------------------------------------------------

    def start(self, scenario: Scenario, run_dir: Path) -> Stack:
        self._run_dir = run_dir
        return super().start(scenario, run_dir)

    def _start_one(
        self, name: str, scenario: Scenario, stack: Stack, run_dir: Path
    ) -> RunningService:
        service = scenario.services[name]
        directory = run_dir / "services" / name
        directory.mkdir(parents=True, exist_ok=True)
        start = KindStart(name, service, directory, run_dir, self._seed)
        running = KINDS.get_kind(service.kind).local(start, self, stack)
        running.control = ProcessControl(running)
        return running

    def _create_proxies(self, scenario: Scenario, stack: Stack) -> None:
        if stack.toxiproxy is None:
            return
        for name, proxy in scenario.proxies.items():
            upstream = stack.services.get(proxy.upstream)
            if name in stack.proxies or upstream is None:
                continue
            listen_port = self._create_proxy(
                stack.toxiproxy, name, f"{HOST}:{upstream.endpoint.port}"
            )
            url = upstream.endpoint.url.replace(f":{upstream.endpoint.port}", f":{listen_port}", 1)
            stack.proxies[name] = Endpoint(HOST, listen_port, url)

    @staticmethod
    def _create_proxy(toxiproxy: ToxiproxyClient, name: str, upstream: str) -> int:
        """Create the proxy on a free port; a new port if another listener took it meanwhile."""

        def create(port: int) -> int:
            try:
                toxiproxy.create_proxy(name, listen=f"{HOST}:{port}", upstream=upstream)
            except ToxiproxyError as exc:
                if "in use" in str(exc).lower():
                    raise PortInUse(HOST, port) from exc
                raise
            return port

        return on_free_port(create, HOST)

    def _stop_one(self, name: str, stack: Stack) -> str | None:
        with self._lock:
            stop = self._stoppers.pop(name, None)
        try:
            if stop is not None:
                stop()
            elif (process := stack.services[name].process) is not None:
                process.stop()
        except Exception as exc:
            return f"service {name}: {exc}"
        return None

    def _stop_rest(self, stack: Stack) -> list[str]:
        # A server whose start failed half-way is not in the stack, but must not outlive it.
        problems: list[str] = []
        with self._lock:
            left = {n: s for n, s in self._stoppers.items() if n not in stack.services}
            for name in left:
                del self._stoppers[name]
        for name, stop in left.items():
            try:
                stop()
            except Exception as exc:
                problems.append(f"service {name}: {exc}")
        return problems
