"""``kind: redis``: a Redis server without persistence."""

from __future__ import annotations

from harness.provision.backend import RunningService, Stack
from harness.provision.kinds import KINDS, ContainerHost, ContainerSpec, KindStart, LocalHost
from harness.provision.servers import HOST, RedisServer, redis_answers, redis_url
from harness.provision.templates import Endpoint

__all__ = ["RedisKind"]

PORT = 6379


class RedisKind:
    image_role = "redis"

    def local(self, start: KindStart, host: LocalHost, stack: Stack) -> RunningService:
        server = RedisServer(start.directory)
        host.on_stop(start.name, server.stop)
        server.start()
        assert server.process is not None
        endpoint = Endpoint(HOST, server.port, redis_url(HOST, server.port))
        return RunningService(
            start.name, "redis", endpoint, server.process.log_path, server.process
        )

    def container(self, start: KindStart, host: ContainerHost) -> ContainerSpec:
        return ContainerSpec(
            ["redis-server", "--save", "", "--appendonly", "no", "--protected-mode", "no"],
            {},
            [PORT],
            Endpoint(start.name, PORT, redis_url(start.name, PORT)),
            lambda p: Endpoint(HOST, p[PORT], redis_url(HOST, p[PORT])),
            lambda e, c: redis_answers(e.host, e.port),
            "PING answers PONG",
        )


KINDS.register("redis")(RedisKind())
