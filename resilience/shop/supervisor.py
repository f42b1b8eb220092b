"""A pool of worker processes that operators resize while it runs.

``shop worker --pool NAME --processes N`` starts a :class:`WorkerPool`: it keeps N ``shop
worker`` child processes running (a child that dies is started again) and, every poll, reads the
pool's desired size from Redis, where ``shop queue scale NAME N`` writes it. Every supervisor of
the pool (one per machine) then runs N children; scaling down stops the newest ones gracefully
(Dramatiq requeues what they had prefetched). ``shop queue scale NAME --reset`` removes the
override, and each supervisor returns to its own ``--processes``.

Each supervisor publishes its state under a key that expires after a few polls plus one graceful
worker stop (a scale-down blocks that long), so ``shop queue workers`` lists only supervisors that
are alive, and one busy stopping workers is not mistaken for a dead one.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import redis

if TYPE_CHECKING:
    from resilience.shop.signals import SignalStop

__all__ = ["PoolState", "WorkerPool", "pool_states", "reset_desired", "set_desired"]

log = logging.getLogger(__name__)

PREFIX = "shop:workers"


def _desired_key(pool: str) -> str:
    return f"{PREFIX}:{pool}:desired"


def _state_pattern(pool: str) -> str:
    return f"{PREFIX}:{pool}:supervisor:*"


@dataclass(frozen=True)
class PoolState:
    """What one supervisor reports: who it is, how many children run, how many it wants."""

    pool: str
    host: str
    pid: int
    processes: int  # running now
    desired: int  # what it is converging to
    default: int  # its own --processes, used when no override is set
    restarts: int
    queues: list[str] = field(default_factory=list)
    children: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class WorkerPool:
    """Keep ``desired`` copies of ``command`` running until ``stop`` is set.

    Parameters:
        client: the Redis holding the desired size and the published state.
        pool: the pool's name (``shop queue scale`` addresses it).
        command: one worker process's command line.
        processes: the size when no ``shop queue scale`` override is set.
        poll_s: how often the desired size is read and dead children are replaced.
        stop_timeout_s: a child that has not exited this long after SIGTERM is killed.
        queues: shown in ``shop queue workers``.
        spawn: starts one child (tests replace it); defaults to :class:`subprocess.Popen`.
    """

    def __init__(
        self,
        client: redis.Redis,
        pool: str,
        command: Sequence[str],
        *,
        processes: int,
        poll_s: float = 1.0,
        stop_timeout_s: float = 10.0,
        queues: Sequence[str] = (),
        spawn: Callable[[Sequence[str]], subprocess.Popen[bytes]] | None = None,
    ) -> None:
        if processes < 0:
            raise ValueError(f"processes={processes} must be 0 or more")
        self.client = client
        self.pool = pool
        self.command = list(command)
        self.processes = processes
        self.poll_s = poll_s
        self.stop_timeout_s = stop_timeout_s
        self.queues = list(queues)
        self._spawn = spawn or _spawn
        self.children: list[subprocess.Popen[bytes]] = []
        self.restarts = 0
        self.desired = processes
        self._state_key = f"{PREFIX}:{pool}:supervisor:{socket.gethostname()}:{os.getpid()}"

    def run(self, stop: threading.Event | SignalStop) -> None:
        """Supervise until ``stop`` is set; always stops every child before returning."""
        try:
            while not stop.is_set():
                self.step()
                stop.wait(self.poll_s)
        finally:
            self._resize(0)
            with contextlib.suppress(redis.RedisError):
                self.client.delete(self._state_key)

    def step(self) -> None:
        """One round: replace dead children, follow the desired size, publish the state."""
        self._reap()
        self.desired = self._read_desired()
        self._resize(self.desired)
        self._publish()

    def _read_desired(self) -> int:
        try:
            raw = self.client.get(_desired_key(self.pool))
        except redis.RedisError as exc:
            log.warning("pool %s: Redis unreachable (%s); keeping %d", self.pool, exc, self.desired)
            return self.desired
        if raw is None:
            return self.processes
        try:
            value = int(raw)
        except ValueError:
            log.error("pool %s: desired size %r is not a number; ignoring it", self.pool, raw)
            return self.desired
        return max(0, value)

    def _reap(self) -> None:
        alive = []
        for child in self.children:
            code = child.poll()
            if code is None:
                alive.append(child)
            else:
                self.restarts += 1
                log.warning(
                    "pool %s: worker %d exited with %s; starting another",
                    self.pool,
                    child.pid,
                    code,
                )
        self.children = alive

    def _resize(self, size: int) -> None:
        while len(self.children) < size:
            child = self._spawn(self.command)
            self.children.append(child)
            log.info(
                "pool %s: started worker %d (%d/%d)", self.pool, child.pid, len(self.children), size
            )
        surplus = self.children[size:]
        self.children = self.children[:size]
        for child in surplus:
            _signal(child, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout_s
        for child in surplus:
            try:
                child.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("pool %s: worker %d ignored SIGTERM; killing it", self.pool, child.pid)
                _signal(child, signal.SIGKILL)
                child.wait()
            log.info("pool %s: stopped worker %d", self.pool, child.pid)

    def state(self) -> PoolState:
        return PoolState(
            pool=self.pool,
            host=socket.gethostname(),
            pid=os.getpid(),
            processes=len(self.children),
            desired=self.desired,
            default=self.processes,
            restarts=self.restarts,
            queues=self.queues,
            children=[c.pid for c in self.children],
        )

    def _publish(self) -> None:
        # Alive for three polls, plus a graceful stop of workers (a resize blocks that long
        # between two publications): a supervisor busy scaling down must not look gone.
        ttl_ms = max(1000, round((self.poll_s * 3 + self.stop_timeout_s) * 1000))
        try:
            self.client.set(self._state_key, json.dumps(self.state().to_dict()), px=ttl_ms)
        except redis.RedisError as exc:
            log.warning("pool %s: cannot publish state (%s)", self.pool, exc)


def _spawn(command: Sequence[str]) -> subprocess.Popen[bytes]:
    # On Linux a worker gets SIGTERM when its supervisor dies, even by SIGKILL: no orphans.
    return subprocess.Popen(list(command), preexec_fn=_die_with_parent)


def _die_with_parent() -> None:
    if sys.platform == "linux":
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _signal(child: subprocess.Popen[bytes], signo: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        child.send_signal(signo)


def set_desired(client: redis.Redis, pool: str, processes: int) -> None:
    """Ask every supervisor of ``pool`` to run ``processes`` workers."""
    if processes < 0:
        raise ValueError(f"processes={processes} must be 0 or more")
    client.set(_desired_key(pool), processes)


def reset_desired(client: redis.Redis, pool: str) -> None:
    """Remove the override: each supervisor returns to its own ``--processes``."""
    client.delete(_desired_key(pool))


def pool_states(client: redis.Redis, pool: str = "*") -> list[PoolState]:
    """The live supervisors of ``pool`` (all pools by default), sorted by pool, host, pid."""
    states = []
    for key in client.scan_iter(match=_state_pattern(pool), count=100):
        raw = client.get(key)
        if raw is None:
            continue  # expired between SCAN and GET
        states.append(PoolState(**json.loads(raw)))
    return sorted(states, key=lambda s: (s.pool, s.host, s.pid))
