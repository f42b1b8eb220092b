"""A supervised local process: started in its own process group, output captured to a log file,
checked for readiness, and always stopped — its whole group, escalating to SIGKILL. The group is
watched by the harness's :class:`~harness.provision.reaper.Reaper`, so it dies with the harness
even when the harness is killed with SIGKILL.

Time is injected (``clock``, ``sleep``) so readiness logic is testable without waiting.
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self, TypeVar

import httpx

from harness import httpclient
from harness.errors import PortInUse, ProcessExited, ServiceNeverReady
from harness.provision.reaper import Reaper

__all__ = [
    "PORT_ATTEMPTS",
    "ManagedProcess",
    "free_port",
    "http_ok",
    "on_free_port",
    "port_is_open",
]


_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LISTEN_FLOOR = 20000
_PICKS = 64
PORT_ATTEMPTS = 3
T = TypeVar("T")


@functools.cache
def _ephemeral_floor() -> int:
    """The lowest local port the kernel gives outgoing connections (Linux default 32768)."""
    try:
        return int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on right now.

    It is chosen at random *below* the kernel's ephemeral range: a port the kernel hands out for
    ``bind(0)`` is also the kind it gives every outgoing connection, so on a busy machine a client
    socket could take it in the moment between this check and the server's own bind. Outside that
    range only another listener can. The port is still released before returning, so a listener
    may still take it first: start servers through :func:`on_free_port`.
    """
    low = _ephemeral_floor()
    floor = min(_LISTEN_FLOOR, max(1024, low - 1000))
    rng = random.SystemRandom()
    if low - floor > _PICKS:
        for _ in range(_PICKS):
            port = rng.randrange(floor, low)
            if _bindable(host, port):
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        chosen: int = sock.getsockname()[1]
        return chosen


def on_free_port(start: Callable[[int], T], host: str = "127.0.0.1") -> T:
    """``start(port)`` on a free port; on :class:`PortInUse` (another listener took the port
    in the meantime) again on a new one, :data:`PORT_ATTEMPTS` times in all."""
    for _ in range(PORT_ATTEMPTS - 1):
        try:
            return start(free_port(host))
        except PortInUse:
            continue
    return start(free_port(host))


def http_ok(url: str, *, timeout_s: float = 1.0) -> bool:
    """True when ``GET url`` answers 2xx (a readiness check: any failure is False)."""
    try:
        return httpclient.request("GET", url, timeout=timeout_s).is_success
    except httpx.HTTPError:
        return False


def port_is_open(host: str, port: int, *, timeout_s: float = 0.2) -> bool:
    """True when a TCP connection to ``host:port`` succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


class ManagedProcess:
    """One long-running program of a system under test.

    Parameters:
        name: the service's name, used in errors and logs.
        argv: the program and its arguments.
        log_path: file that receives the process's stdout and stderr.
        env: extra environment variables (added to this process's environment).
        cwd: working directory.
        user: run as this user (needed for PostgreSQL when the harness runs as root).
        stop_signal: the signal that asks the program to shut down cleanly.
        stop_timeout_s: how long to wait after ``stop_signal`` before SIGKILL.
        reaper: what kills the group if the harness dies first (default: the process's own).

    Example::

        with ManagedProcess("redis", ["redis-server", "--port", "6390"], log_path=p) as redis:
            redis.wait_ready(lambda: port_is_open("127.0.0.1", 6390), timeout_s=10)
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        user: str | None = None,
        stop_signal: signal.Signals = signal.SIGTERM,
        stop_timeout_s: float = 10.0,
        reaper: Reaper | None = None,
    ) -> None:
        if not argv:
            raise ValueError(f"service {name!r}: argv is empty; give the program to run")
        self.name = name
        self.argv = tuple(argv)
        self.log_path = log_path
        self.env = dict(env or {})
        self.cwd = cwd
        self.user = user
        self.stop_signal = stop_signal
        self.stop_timeout_s = stop_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._reaper = reaper

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def returncode(self) -> int | None:
        return self._proc.poll() if self._proc else None

    def start(self) -> None:
        if self._proc is not None:
            raise RuntimeError(f"service {self.name!r} was already started")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self._proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env},
            cwd=self.cwd,
            user=self.user,
            # Its own process group: stop() reaches every child, and Ctrl-C in the terminal
            # does not hit the service before the harness can stop it in order.
            start_new_session=True,
        )
        (self._reaper or Reaper.shared()).watch(self._proc.pid)

    def wait_ready(
        self,
        check: Callable[[], bool],
        *,
        timeout_s: float,
        interval_s: float = 0.05,
        describe: str = "readiness check",
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Poll ``check`` until it returns True.

        Raises:
            ProcessExited: the process ended before it was ready.
            ServiceNeverReady: ``timeout_s`` passed first.
        """
        deadline = clock() + timeout_s
        while True:
            code = self.returncode
            if code is not None:
                raise ProcessExited(self.name, code, self.log_tail())
            if check():
                return
            if clock() >= deadline:
                raise ServiceNeverReady(self.name, timeout_s, describe, self.log_tail())
            sleep(interval_s)

    def stop(self) -> int | None:
        """Stop the whole process group; SIGKILL after ``stop_timeout_s``. Safe to call twice."""
        proc = self._proc
        if proc is None:
            return None
        try:
            if proc.poll() is None:
                self._signal_group(proc.pid, self.stop_signal)
                try:
                    proc.wait(timeout=self.stop_timeout_s)
                except subprocess.TimeoutExpired:
                    self._signal_group(proc.pid, signal.SIGKILL)
                    proc.wait()
            # Children that ignored the first signal die with the group.
            self._signal_group(proc.pid, signal.SIGKILL)
            (self._reaper or Reaper.shared()).forget(proc.pid)
            return proc.returncode
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None

    @staticmethod
    def _signal_group(pgid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)

    def wait(self, timeout_s: float) -> int:
        """Wait for the process to end; its return code (negative: killed by that signal).

        Raises:
            TimeoutError: it is still running after ``timeout_s``.
        """
        if self._proc is None:
            raise RuntimeError(f"service {self.name!r} was never started")
        try:
            return self._proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"service {self.name!r} still runs after {timeout_s} s") from None

    def signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the whole process group (faults: SIGKILL, SIGSTOP, SIGCONT)."""
        if self._proc is None:
            raise RuntimeError(f"service {self.name!r} was never started")
        self._signal_group(self._proc.pid, sig)

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log written)"
        tail = text.splitlines()[-lines:]
        return "\n".join(tail) if tail else "(log is empty)"

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
