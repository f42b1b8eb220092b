"""A minimal Toxiproxy helper for tests (the harness's typed client comes with the fault engine)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from harness.provision import free_port
from tests.support.servers import HOST, ToxiproxyServer


@dataclass
class Proxy:
    api: httpx.Client
    name: str
    port: int

    def set_enabled(self, enabled: bool) -> None:
        self.api.post(f"/proxies/{self.name}", json={"enabled": enabled}).raise_for_status()


@contextmanager
def proxy(server: ToxiproxyServer, name: str, upstream_port: int) -> Iterator[Proxy]:
    with httpx.Client(base_url=server.api_url, timeout=5) as api:
        port = free_port()
        api.post(
            "/proxies",
            json={
                "name": name,
                "listen": f"{HOST}:{port}",
                "upstream": f"{HOST}:{upstream_port}",
                "enabled": True,
            },
        ).raise_for_status()
        try:
            yield Proxy(api, name, port)
        finally:
            api.delete(f"/proxies/{name}")
