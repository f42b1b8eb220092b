"""The real-server fixtures: each server answers, and Toxiproxy really sits in the path."""

from __future__ import annotations

import httpx
import psycopg
import pytest
import redis

from harness.provision import free_port, port_is_open
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
