"""``kind: toxiproxy``: the Toxiproxy server the proxies and network faults go through."""

from __future__ import annotations

from harness.provision.backend import RunningService, Stack
from harness.provision.kinds import KINDS, ContainerHost, ContainerSpec, KindStart, LocalHost
from harness.provision.servers import HOST, ToxiproxyServer, toxiproxy_answers
from harness.provision.templates import Endpoint

__all__ = ["ToxiproxyKind"]

API_PORT = 8474


class ToxiproxyKind:
    image_role = "toxiproxy"

    def local(self, start: KindStart, host: LocalHost, stack: Stack) -> RunningService:
        server = ToxiproxyServer(start.directory)
        host.on_stop(start.name, server.stop)
        server.start()
        assert server.process is not None
        endpoint = Endpoint(HOST, server.port, server.api_url)
        return RunningService(
            start.name, "toxiproxy", endpoint, server.process.log_path, server.process
        )

    def container(self, start: KindStart, host: ContainerHost) -> ContainerSpec:
        return ContainerSpec(
            ["-host=0.0.0.0", f"-port={API_PORT}"],
            {},
            [API_PORT, *host.proxy_ports.values()],
            Endpoint(start.name, API_PORT, f"http://{start.name}:{API_PORT}"),
            lambda p: Endpoint(HOST, p[API_PORT], f"http://{HOST}:{p[API_PORT]}"),
            lambda e, c: toxiproxy_answers(e.url),
            "GET /version answers 200",
        )


KINDS.register("toxiproxy")(ToxiproxyKind())
