"""Fixtures shared by all tests: real servers (session-wide) and a fresh database per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from harness.errors import MissingBinary
from tests.support.servers import PostgresServer, RedisServer, ToxiproxyServer

pytest_plugins = ["tests.support.processes"]  # the ``spawned`` fixture

T = TypeVar("T")


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _require(start: Callable[[], T]) -> T:
    """Start a real server; a missing program fails the test with the fix (never a skip: a test
    that did not run verified nothing)."""
    try:
        return start()
    except MissingBinary as exc:
        where = ".ci/run must install it" if _in_ci() else "./run tests installs it"
        pytest.fail(f"{exc}\n({where})", pytrace=False)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    _require(server.start)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    client = redis_server.client()
    client.flushall()
    try:
        yield redis_server.url
    finally:
        client.flushall()
        client.close()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        _require(server.start)
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A new, empty database for this test."""
    return postgres_server.create_database(f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="session")
def toxiproxy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToxiproxyServer]:
    server = ToxiproxyServer(tmp_path_factory.mktemp("toxiproxy"))
    _require(server.start)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'shop.db'}"
