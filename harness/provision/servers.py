"""The servers every system depends on — Redis, PostgreSQL and Toxiproxy — as local processes,
and how to tell each of them answers (the container backend asks the same way).

Each starts on a free loopback port in a directory of its own, is checked until it answers, and
is stopped — its whole process group — whatever happened. The local backend's recipes
(``kinds/``) use them for services of ``kind: redis | postgres | toxiproxy``; the test suite
uses them as fixtures.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import redis

from harness.errors import PortInUse, ProcessExited, ProvisionError
from harness.extras import require
from harness.provision.binaries import find_binary
from harness.provision.process import ManagedProcess, http_ok, on_free_port, port_is_open
from harness.provision.reaper import Reaper, removable

__all__ = [
    "HOST",
    "PostgresServer",
    "PostgresTemplate",
    "RedisServer",
    "ToxiproxyServer",
    "initdb_cluster",
    "postgres_answers",
    "postgres_user",
    "redis_answers",
    "redis_url",
    "toxiproxy_answers",
]

HOST = "127.0.0.1"
READY_TIMEOUT_S = 30.0


def redis_url(host: str, port: int) -> str:
    return f"redis://{host}:{port}/0"


def redis_answers(host: str, port: int) -> bool:
    """PING answers PONG."""
    try:
        with redis.Redis(host=host, port=port, socket_timeout=0.5) as client:
            return bool(client.ping())
    except redis.RedisError:
        return False


def postgres_answers(host: str, port: int, user: str, database: str = "postgres") -> bool:
    """A connection to ``database`` succeeds and answers a query."""
    if not port_is_open(host, port):
        return False
    psycopg = require("psycopg")
    try:
        with psycopg.connect(
            host=host, port=port, user=user, dbname=database, connect_timeout=1
        ) as conn:
            conn.execute("select 1")
            return True
    except psycopg.Error:
        return False


def toxiproxy_answers(api_url: str) -> bool:
    """Its API answers ``GET /version``."""
    return http_ok(f"{api_url}/version", timeout_s=0.5)


def _port_taken(log_tail: str) -> bool:
    text = log_tail.lower()
    return "in use" in text or "already allocated" in text


def _start_on_free_port(
    make: Callable[[int], ManagedProcess], ready: Callable[[int], bool], what: str
) -> tuple[ManagedProcess, int]:
    """Start a server on a free port; a new port if another process took it first — whether the
    server exits on a failed bind or (like Toxiproxy) logs it and stays up."""

    def start(port: int) -> tuple[ManagedProcess, int]:
        proc = make(port)
        # The log is appended to across attempts: only what this attempt wrote counts.
        offset = proc.log_path.stat().st_size if proc.log_path.exists() else 0
        proc.start()

        def written() -> str:
            try:
                with proc.log_path.open("rb") as log:
                    log.seek(offset)
                    return log.read().decode(errors="replace")
            except OSError:
                return ""

        def check() -> bool:
            if ready(port):
                return True
            if _port_taken(written()):
                raise PortInUse(HOST, port)
            return False

        try:
            proc.wait_ready(check, timeout_s=READY_TIMEOUT_S, describe=what)
        except ProcessExited:
            proc.stop()
            if _port_taken(written()):
                raise PortInUse(HOST, port) from None
            raise
        except BaseException:
            proc.stop()
            raise
        return proc, port

    return on_free_port(start, HOST)


@dataclass
class RedisServer:
    directory: Path
    process: ManagedProcess | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return redis_url(HOST, self.port)

    def start(self) -> RedisServer:
        binary = find_binary("redis-server")

        def make(port: int) -> ManagedProcess:
            argv = [
                str(binary),
                "--port",
                str(port),
                "--bind",
                HOST,
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
                "--protected-mode",
                "yes",
            ]
            return ManagedProcess("redis", argv, log_path=self.directory / "redis.log")

        self.process, self.port = _start_on_free_port(
            make, partial(redis_answers, HOST), "PING answers PONG"
        )
        return self

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)

    def stop(self) -> None:
        if self.process:
            self.process.stop()


def postgres_user() -> str | None:
    """Who runs PostgreSQL: ``postgres`` when we are root (it refuses root), else us."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise ProvisionError(
            "PostgreSQL cannot run as root and there is no 'postgres' user; "
            "apt-get install postgresql creates it, or run the tests as another user"
        ) from None
    return "postgres"


def initdb_cluster(initdb: Path, data: Path, role: str, user: str | None) -> None:
    result = subprocess.run(
        [
            str(initdb),
            "-D",
            str(data),
            "-A",
            "trust",
            "-U",
            role,
            "-E",
            "UTF8",
            "--no-sync",
            "--no-instructions",
        ],
        user=user,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ProvisionError(f"initdb failed ({result.returncode}): {result.stderr.strip()}")


class PostgresTemplate:
    """Clusters made once and copied by each :class:`PostgresServer`: the initdb'd cluster
    (:meth:`data`), and clusters prepared from it by a build (:meth:`derived`: a database a
    system's migrations ran in). Thread-safe: scenarios running at once share one.

    ``close()`` removes them; so does interpreter exit, should an owner forget, and the harness's
    reaper when the process is killed (SIGKILL included).

    Parameters:
        reaper: what removes the directories if this process dies (default: the shared one).
    """

    def __init__(self, *, reaper: Reaper | None = None) -> None:
        self._lock = threading.Lock()
        self._reaper = reaper
        self._base: Path | None = None
        self._derived: dict[str, Path | ProvisionError] = {}
        self._building: dict[str, threading.Lock] = {}
        self._cleanups: list[Callable[[], object]] = []
        self._dirs: list[Path] = []

    def data(self) -> Path:
        """The initdb'd data directory, made on first use."""
        with self._lock:
            if self._base is None:
                directory = self._directory()
                user = postgres_user()
                role = user or pwd.getpwuid(os.getuid()).pw_name
                initdb_cluster(find_binary("initdb"), directory / "data", role, user)
                self._base = directory / "data"
            return self._base

    def derived(self, key: str, build: Callable[[PostgresServer], None]) -> tuple[Path, bool]:
        """The data directory of a cluster copied from :meth:`data`, started, changed by
        ``build`` and shut down cleanly — made once per ``key``; and whether this call made it.

        A build that failed is not tried again for the same key: the same error is raised.

        Raises:
            ProvisionError: the build (or the cluster) failed.
        """
        with self._lock:
            lock = self._building.setdefault(key, threading.Lock())
        with lock:  # one build per key; other keys build meanwhile
            with self._lock:
                made = self._derived.get(key)
            if isinstance(made, ProvisionError):
                raise ProvisionError(f"{made} (the first attempt's error; not tried again)")
            if made is not None:
                return made, False
            try:
                path = self._build(build)
            except ProvisionError as exc:
                with self._lock:
                    self._derived[key] = exc
                raise
            with self._lock:
                self._derived[key] = path
            return path, True

    def _build(self, build: Callable[[PostgresServer], None]) -> Path:
        server = PostgresServer(template=self.data())
        try:
            server.start()
            build(server)
            assert server.process is not None
            server.process.stop()  # SIGINT: a fast shutdown still ends with a checkpoint
            target = self._directory() / "data"
            shutil.move(str(server.directory / "data"), str(target))
        finally:
            server.stop()
        return target

    def directories(self) -> list[Path]:
        """The ``cg-pgtemplate-*`` directories made so far (until :meth:`close`)."""
        with self._lock:
            return list(self._dirs)

    def _directory(self) -> Path:
        """A new ``cg-pgtemplate-*`` directory, owned by PostgreSQL's user, removed by close()."""
        directory = Path(tempfile.mkdtemp(prefix="cg-pgtemplate-"))
        reaper = self._reaper or Reaper.shared()
        reaper.remove_on_death(directory)
        self._cleanups.append(weakref.finalize(self, _remove_tree, str(directory), reaper))
        self._dirs.append(directory)
        user = postgres_user()
        if user is not None:
            shutil.chown(directory, user=user)
        return directory

    def close(self) -> None:
        with self._lock:
            for cleanup in self._cleanups:
                cleanup()
            self._cleanups.clear()
            self._dirs.clear()
            self._base = None
            self._derived.clear()


def _remove_tree(path: str, reaper: Reaper) -> None:
    shutil.rmtree(path, ignore_errors=True)
    reaper.kept(Path(path))


@dataclass
class PostgresServer:
    """A throwaway PostgreSQL cluster (initdb) listening on loopback only.

    PostgreSQL refuses to run as root; when the tests run as root the cluster belongs to the
    ``postgres`` user that Debian's package creates.
    """

    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="cg-pg-")))
    process: ManagedProcess | None = None
    port: int = 0
    user: str | None = None
    #: a data directory made by :func:`initdb_cluster` to copy instead of running initdb
    template: Path | None = None

    def admin_url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.role}@{HOST}:{self.port}/{database}"

    @property
    def role(self) -> str:
        return self.user or pwd.getpwuid(os.getuid()).pw_name

    def start(self) -> PostgresServer:
        initdb, postgres = find_binary("initdb"), find_binary("postgres")
        if removable(self.directory):  # a directory of its own: gone with a killed harness too
            Reaper.shared().remove_on_death(self.directory)
        self.user = postgres_user()
        if self.user is not None:
            shutil.chown(self.directory, user=self.user)
        data = self.directory / "data"
        if self.template is not None:
            # A copy of a cluster initdb made earlier: a third of the time of a new initdb.
            # cp -a keeps the owner (postgres) and the 0700 mode PostgreSQL insists on.
            copied = subprocess.run(
                ["cp", "-a", str(self.template), str(data)],
                capture_output=True,
                text=True,
                check=False,
            )
            if copied.returncode != 0:
                raise ProvisionError(f"copying the PostgreSQL template failed: {copied.stderr}")
        else:
            initdb_cluster(initdb, data, self.role, self.user)

        def make(port: int) -> ManagedProcess:
            argv = [
                str(postgres),
                "-D",
                str(data),
                "-p",
                str(port),
                "-h",
                HOST,
                "-k",
                str(self.directory),
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
            ]
            return ManagedProcess(
                "postgres",
                argv,
                log_path=self.directory / "postgres.log",
                user=self.user,
                # SIGINT is PostgreSQL's "fast" shutdown: it does not wait for clients to leave.
                stop_signal=signal.SIGINT,
            )

        psycopg = require("psycopg")

        def accepts(port: int) -> bool:
            if not port_is_open(HOST, port):
                return False
            try:
                with psycopg.connect(
                    host=HOST, port=port, user=self.role, dbname="postgres", connect_timeout=1
                ):
                    return True
            except psycopg.OperationalError:
                return False

        self.process, self.port = _start_on_free_port(make, accepts, "a connection succeeds")
        return self

    def create_database(self, name: str) -> str:
        with require("psycopg").connect(
            host=HOST, port=self.port, user=self.role, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.admin_url(name)

    def stop(self) -> None:
        try:
            if self.process:
                self.process.stop()
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)
            if removable(self.directory):
                Reaper.shared().kept(self.directory)


@dataclass
class ToxiproxyServer:
    directory: Path
    process: ManagedProcess | None = None
    port: int = 0

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> ToxiproxyServer:
        binary = find_binary("toxiproxy-server")

        def make(port: int) -> ManagedProcess:
            argv = [str(binary), "-host", HOST, "-port", str(port)]
            return ManagedProcess("toxiproxy", argv, log_path=self.directory / "toxiproxy.log")

        def answers(port: int) -> bool:
            return toxiproxy_answers(f"http://{HOST}:{port}")

        self.process, self.port = _start_on_free_port(make, answers, "GET /version answers 200")
        return self

    def stop(self) -> None:
        if self.process:
            self.process.stop()
