"""The real-server fixtures: each server answers, and Toxiproxy really sits in the path."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
import redis

from harness.provision import free_port, port_is_open, process, servers
from harness.provision.local import LocalProvisioner
from harness.toxiproxy import ToxiproxyClient
from tests.support.servers import HOST, PostgresServer, RedisServer, ToxiproxyServer


def test_redis_answers(redis_server: RedisServer) -> None:
    with redis_server.client() as client:
        client.set("k", "v")
        assert client.get("k") == b"v"


def test_postgres_answers(postgres_server: PostgresServer, postgres_url: str) -> None:
    with psycopg.connect(postgres_url.replace("+psycopg", "")) as conn:
        assert conn.execute("SELECT 1 + 1").fetchone() == (2,)


def test_redis_through_a_toxiproxy_proxy_and_its_outage(
    toxiproxy_server: ToxiproxyServer, redis_server: RedisServer
) -> None:
    api = httpx.Client(base_url=toxiproxy_server.api_url, timeout=5)
    listen = free_port()
    r = api.post(
        "/proxies",
        json={
            "name": "redis_test",
            "listen": f"{HOST}:{listen}",
            "upstream": f"{HOST}:{redis_server.port}",
            "enabled": True,
        },
    )
    assert r.status_code == 201, r.text
    try:
        with redis.Redis(host=HOST, port=listen, socket_timeout=1) as proxied:
            assert proxied.ping()
        api.post("/proxies/redis_test", json={"enabled": False}).raise_for_status()
        with (
            redis.Redis(host=HOST, port=listen, socket_timeout=1) as cut,
            pytest.raises(redis.ConnectionError),
        ):
            cut.ping()
    finally:
        api.delete("/proxies/redis_test")
        api.close()


def test_stopped_servers_leave_no_port_open(tmp_path_factory: pytest.TempPathFactory) -> None:
    server = RedisServer(tmp_path_factory.mktemp("redis-stop")).start()
    port = server.port
    assert port_is_open(HOST, port)
    server.stop()
    assert not port_is_open(HOST, port)


def test_listen_ports_are_chosen_below_the_ephemeral_range() -> None:
    """Outgoing connections take their local ports from the ephemeral range; a listen port chosen
    there can be taken by any client socket before the server binds it (seen in CI)."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = {free_port() for _ in range(50)}
    assert all(port < low for port in ports), sorted(ports)
    assert len(ports) > 40  # random, not one port handed out again and again


@contextlib.contextmanager
def first_port_taken(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """The next free port handed out is one a listener holds (the race CI lost), the one after
    it really free; yields the taken one."""
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        busy = taken.getsockname()[1]
        ports = iter([busy, free_port()])
        monkeypatch.setattr(process, "free_port", lambda host: next(ports))
        yield busy


def test_a_server_that_stays_up_after_a_failed_bind_is_restarted_on_another_port(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Toxiproxy logs "address already in use" and keeps running; the start must not wait out
    its readiness timeout on that port but try a new one."""
    with first_port_taken(monkeypatch) as busy:
        started = time.monotonic()
        server = ToxiproxyServer(tmp_path_factory.mktemp("toxiproxy-busy")).start()
        try:
            assert server.port != busy
            assert httpx.get(f"{server.api_url}/version", timeout=5).is_success
            assert time.monotonic() - started < servers.READY_TIMEOUT_S
        finally:
            server.stop()


def test_a_proxy_whose_port_was_taken_is_created_on_another(
    toxiproxy_server: ToxiproxyServer, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real Toxiproxy refuses a listen address in use; the proxy then gets a new port."""
    with first_port_taken(monkeypatch) as busy:
        client = ToxiproxyClient(toxiproxy_server.api_url)
        port = LocalProvisioner._create_proxy(client, "redis_moved", f"{HOST}:{redis_server.port}")
        try:
            assert port != busy
            with redis.Redis(host=HOST, port=port, socket_timeout=1) as proxied:
                assert proxied.ping()
        finally:
            client.delete_proxy("redis_moved")
            client.close()
