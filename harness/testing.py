"""The fast lane: fakes shipped for tests of the runner and of scenario logic, at zero wall time.

- :class:`VirtualClock` — time that passes only when every thread of the run waits on it, so
  a 30 s timeline runs in milliseconds and every sample lands at an exact time;
- :class:`FakeProvisioner` — a stack of :class:`FakeService` s, each with a
  :class:`FakeControl` (kill, stop, pause... change its state and say so), and a fake Toxiproxy
  API (:class:`FakeToxiproxy`, a plain function behind ``httpx.MockTransport``);
- :func:`answering` — probe kinds that ask a function of yours what the system shows, and
  :func:`acting` — action kinds that call one.

Example::

    clock = VirtualClock()
    fake = FakeProvisioner()
    kinds = Kinds(probes=answering(lambda probe: 503 if fake.toxiproxy.down("cache") else 200))
    record = ScenarioRunner(fake, seed=1, time_scale=1, clock=clock, kinds=kinds).run(...)

The fakes behave as the real parts do where a scenario can tell (the contract tests in
``tests/integration/harness/test_fakes_contract.py`` run the same steps on both).
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import httpx

from harness.actions import ACTIONS, ActionKind, ActionResult
from harness.clock import Task
from harness.probes import PROBES, Observation, ProbeKind
from harness.provision.backend import Outcome, RunningService, Stack
from harness.provision.templates import Endpoint, TemplateContext
from harness.registry import Registry
from harness.scenario.model import Probe, Scenario
from harness.toxiproxy import ToxiproxyClient

__all__ = [
    "FakeControl",
    "FakeProvisioner",
    "FakeService",
    "FakeToxiproxy",
    "VirtualClock",
    "acting",
    "answering",
]

#: real seconds a virtual wait may block before the clock calls it a deadlock (a thread that
#: waits on something other than the clock)
_STUCK_S = 30.0


class VirtualClock:
    """Virtual time for a scenario run: it advances, to the earliest wake-up, only when every
    thread started through it (and the one that made it) waits on it — trio's autojump clock
    for threads. Work between waits takes no virtual time; :meth:`sleep` inside a fake is how
    it takes some (a slow probe).
    """

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._cond = threading.Condition()
        self._threads = {threading.get_ident()}
        self._starting = 0
        #: thread -> (wake-up time, what else ends its wait)
        self._waiting: dict[int, tuple[float, Callable[[], bool] | None]] = {}

    def monotonic(self) -> float:
        return self._now

    def sleep(self, seconds: float) -> None:
        self._block(max(0.0, seconds), None)

    def event(self) -> threading.Event:
        return _Event(self._cond)

    def wait(self, event: threading.Event, timeout_s: float | None) -> bool:
        return self._block(math.inf if timeout_s is None else max(0.0, timeout_s), event.is_set)

    def spawn(self, target: Callable[[], None], name: str) -> Task:
        task = _VirtualTask()
        with self._cond:
            self._starting += 1

        def run() -> None:
            with self._cond:
                self._threads.add(threading.get_ident())
                self._starting -= 1
            try:
                target()
            finally:
                with self._cond:
                    self._threads.discard(threading.get_ident())
                    task.done = True
                    self._advance()
                    self._cond.notify_all()

        task.thread = threading.Thread(target=run, name=name, daemon=True)
        task.thread.start()
        return task

    def join(self, task: Task) -> None:
        if isinstance(task, _VirtualTask):
            self._block(math.inf, lambda: task.done)
        task.join()

    def _block(self, timeout_s: float, ready: Callable[[], bool] | None) -> bool:
        me = threading.get_ident()
        with self._cond:
            if me not in self._threads:
                raise RuntimeError(
                    "a thread the virtual clock does not know waits on it: start threads "
                    "with clock.spawn()"
                )
            wake = self._now + timeout_s

            def over() -> bool:
                return (ready is not None and ready()) or self._now >= wake

            while not over():
                self._waiting[me] = (wake, ready)
                self._advance()  # the last thread to wait lets time pass
                if not over() and not self._cond.wait(timeout=_STUCK_S) and not over():
                    del self._waiting[me]
                    raise RuntimeError(
                        f"virtual clock stuck at {self._now:g} for {_STUCK_S:g} s: a thread "
                        "waits on something other than the clock"
                    )
                self._waiting.pop(me, None)
            return ready() if ready is not None else True

    def _advance(self) -> None:
        """Jump to the earliest wake-up once every known thread waits (the lock is held).

        A thread counts as waiting only while its wait is not over: one woken (its time came,
        its event was set, the task it joins finished) but not yet running again is runnable,
        so time does not pass without it."""
        if self._starting:
            return
        wakes = []
        for thread in self._threads:
            entry = self._waiting.get(thread)
            if entry is None:
                return  # it runs
            wake, ready = entry
            if wake <= self._now or (ready is not None and ready()):
                return  # its wait is over: it is about to run
            wakes.append(wake)
        earliest = min(wakes, default=math.inf)
        if math.isinf(earliest):
            return  # every thread waits for another to act: they are woken by events
        self._now = earliest
        self._cond.notify_all()


class _Event(threading.Event):
    """An event that wakes the virtual clock's waiters when set."""

    def __init__(self, cond: threading.Condition) -> None:
        super().__init__()
        self._clock_cond = cond

    def set(self) -> None:
        super().set()
        with self._clock_cond:
            self._clock_cond.notify_all()


@dataclass
class _VirtualTask:
    thread: threading.Thread | None = None
    done: bool = False

    def join(self) -> None:
        if self.thread is not None:
            self.thread.join()

    def is_alive(self) -> bool:
        return not self.done


@dataclass
class FakeService:
    """A service of a fake stack: its state, and every control operation done to it."""

    name: str
    kind: str
    running: bool = True
    paused: bool = False
    connected: bool = True
    starts: int = 1
    calls: list[str] = field(default_factory=list)


class FakeControl:
    """Faults on a :class:`FakeService`, answering as a backend's control does: an operation on
    a service that is not running did not fire."""

    def __init__(self, service: FakeService) -> None:
        self._service = service

    @property
    def label(self) -> str:
        return f"fake {self._service.name} (start {self._service.starts})"

    def _do(self, what: str) -> FakeService:
        self._service.calls.append(what)
        return self._service

    def _not_running(self) -> Outcome | None:
        if self._service.running:
            return None
        return Outcome(False, f"{self._service.name} was not running")

    def kill(self) -> Outcome:
        if (down := self._not_running()) is not None:
            return down
        self._do("kill").running = False
        return Outcome(True, f"{self._service.name} killed")

    def stop(self) -> Outcome:
        if (down := self._not_running()) is not None:
            return down
        self._do("stop").running = False
        return Outcome(True, f"{self._service.name} stopped")

    def start(self) -> Outcome:
        service = self._do("start")
        service.running, service.paused = True, False
        service.starts += 1
        return Outcome(True, f"{service.name} started again as {self.label}")

    def restart(self) -> Outcome:
        self._service.running = False
        outcome = self.start()
        return Outcome(outcome.fired, f"{self._service.name} restarted")

    def pause(self) -> Outcome:
        if (down := self._not_running()) is not None:
            return down
        self._do("pause").paused = True
        return Outcome(True, f"{self._service.name} paused")

    def unpause(self) -> Outcome:
        self._do("unpause").paused = False
        return Outcome(True, f"{self._service.name} continued")

    def disconnect(self) -> Outcome:
        self._do("disconnect").connected = False
        return Outcome(True, f"{self._service.name} disconnected")

    def reconnect(self) -> Outcome:
        self._do("reconnect").connected = True
        return Outcome(True, f"{self._service.name} reconnected")


class FakeToxiproxy:
    """Toxiproxy's HTTP API as a plain function (``handle``) for ``httpx.MockTransport``: the
    proxies the stack made, enabled or not, and their toxics."""

    def __init__(self) -> None:
        self.proxies: dict[str, dict[str, Any]] = {}
        self.toxics: dict[str, list[dict[str, Any]]] = {}

    def down(self, proxy: str) -> bool:
        """Whether ``proxy`` is disabled now."""
        return not self.proxies.get(proxy, {}).get("enabled", True)

    def client(self) -> ToxiproxyClient:
        return ToxiproxyClient("http://toxiproxy.fake", transport=httpx.MockTransport(self.handle))

    def handle(self, request: httpx.Request) -> httpx.Response:
        parts = [p for p in request.url.path.split("/") if p]
        body = json.loads(request.content) if request.content else {}
        method = request.method
        if parts == ["version"]:
            return httpx.Response(200, text="2.12.0")
        if parts == ["proxies"] and method == "GET":
            return httpx.Response(200, json=self.proxies)
        if parts == ["proxies"] and method == "POST":
            proxy = {"enabled": True, **body}
            self.proxies[body["name"]] = proxy
            self.toxics[body["name"]] = []
            return httpx.Response(201, json=proxy)
        if len(parts) >= 2 and parts[0] == "proxies" and parts[1] not in self.proxies:
            return httpx.Response(404, json={"error": "proxy not found", "status": 404})
        if len(parts) == 2 and method == "POST":
            self.proxies[parts[1]].update(body)
            return httpx.Response(200, json=self.proxies[parts[1]])
        if len(parts) == 2 and method == "DELETE":
            del self.proxies[parts[1]], self.toxics[parts[1]]
            return httpx.Response(204)
        if len(parts) == 3 and method == "GET":
            return httpx.Response(200, json=self.toxics[parts[1]])
        if len(parts) == 3 and method == "POST":
            self.toxics[parts[1]].append(body)
            return httpx.Response(200, json=body)
        if len(parts) == 4 and method == "DELETE":
            kept = [t for t in self.toxics[parts[1]] if t["name"] != parts[3]]
            self.toxics[parts[1]] = kept
            return httpx.Response(204)
        return httpx.Response(404, json={"error": f"no route {method} {request.url.path}"})


class FakeProvisioner:
    """A backend that starts nothing: every service is a :class:`FakeService` with a
    :class:`FakeControl`; a ``toxiproxy`` service is a :class:`FakeToxiproxy`.

    Attributes:
        services: the fake services of the last stack, by name.
        toxiproxy: its fake Toxiproxy.
        started, stopped: how many stacks it started and stopped (nothing left behind when
            they are equal).
        fail_start: a message to raise ``ProvisionError`` with instead of starting.
    """

    name: ClassVar[str] = "fake"
    unsupported_faults: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, *, fail_start: str | None = None) -> None:
        self.services: dict[str, FakeService] = {}
        self.toxiproxy = FakeToxiproxy()
        self.started = 0
        self.stopped = 0
        self.fail_start = fail_start

    def start(self, scenario: Scenario, run_dir: Path) -> Stack:
        from harness.errors import ProvisionError

        if self.fail_start is not None:
            raise ProvisionError(self.fail_start)
        stack = Stack()
        self.services = {}
        for name, spec in scenario.services.items():
            fake = self.services[name] = FakeService(name, spec.kind)
            log = run_dir / "services" / name / f"{name}.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text(f"fake {spec.kind} {name}\n")
            endpoint = Endpoint(name, 1, f"fake://{name}")
            stack.services[name] = RunningService(
                name, spec.kind, endpoint, log, control=FakeControl(fake)
            )
            if spec.kind == "toxiproxy":
                stack.toxiproxy = self.toxiproxy.client()
        for name, proxy in scenario.proxies.items():
            if stack.toxiproxy is not None:
                stack.toxiproxy.create_proxy(name, listen=f"fake:{name}", upstream=proxy.upstream)
            stack.proxies[name] = Endpoint(name, 1, f"fake://proxy/{name}")
        self.started += 1
        return stack

    def stop(self, stack: Stack) -> list[str]:
        for service in self.services.values():
            service.running = False
        if stack.toxiproxy is not None:
            stack.toxiproxy.close()
        self.stopped += 1
        return []

    def close(self) -> None:
        pass


def answering(
    answer: Callable[[Probe], object],
    *,
    takes_s: float = 0.0,
    clock: VirtualClock | None = None,
) -> Registry[ProbeKind]:
    """Probe kinds (every ``type``) that observe ``answer(probe)``: a value, an
    :class:`Observation` as it is, or an exception, which becomes an observation's error.
    With ``clock``, each observation takes ``takes_s`` of its time (a slow probe)."""

    def probe(p: Any, stack: Stack, context: TemplateContext) -> Observation:
        if clock is not None and takes_s:
            clock.sleep(takes_s)
        try:
            value = answer(p)
        except Exception as exc:
            return Observation(None, error=f"{type(exc).__name__}: {exc}")
        return value if isinstance(value, Observation) else Observation(value, f"{value!r}")

    return PROBES.overriding(**dict.fromkeys(PROBES, probe))


def acting(
    act: Callable[[Any], ActionResult | None],
    *,
    takes_s: float = 0.0,
    clock: VirtualClock | None = None,
) -> Registry[ActionKind]:
    """Action kinds (every ``type``) that call ``act(action)``: its result, or ok when it
    returns None. With ``clock``, each action takes ``takes_s`` of its time."""

    def action(a: Any, stack: Stack, context: TemplateContext, key: str) -> ActionResult:
        if clock is not None and takes_s:
            clock.sleep(takes_s)
        result = act(a)
        return result if result is not None else ActionResult(True, f"{a.type} done")

    return ACTIONS.overriding(**dict.fromkeys(ACTIONS, action))
