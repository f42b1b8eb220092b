"""Services in dependency waves: each wave needs only what earlier waves started, and starts
in parallel; teardown goes in reverse waves. Both backends derive from :class:`WaveProvisioner`."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

from harness.errors import ProvisionError
from harness.provision.backend import RunningService, Stack
from harness.provision.templates import references
from harness.scenario.model import Scenario, Service
from harness.toxiproxy import ToxiproxyClient

__all__ = ["WaveProvisioner", "start_order", "start_waves"]


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
        def start(name: str) -> None:
            running = self._start_one(name, scenario, stack, run_dir)
            stack.services[name] = running
            if running.kind == "toxiproxy":  # the proxies and the faults on them go through it
                stack.toxiproxy = ToxiproxyClient(running.endpoint.url)

        if len(wave) == 1:
            start(wave[0])
            return

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
