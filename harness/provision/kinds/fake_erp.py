"""``kind: fake-erp``: a fake ERP stock API (``GET /stock``, ``GET /health``) with outage modes
set at ``/_fake/mode``; ``stock:`` its initial levels."""

from __future__ import annotations

import sys

from harness.provision.backend import RunningService, Stack
from harness.provision.kinds import (
    ALL_INTERFACES,
    APP_PORT,
    HOST,
    KINDS,
    ContainerHost,
    ContainerSpec,
    KindStart,
    LocalHost,
)
from harness.provision.kinds._fake import start_fake
from harness.provision.process import free_port, http_ok
from harness.provision.templates import Endpoint

__all__ = ["FakeErpKind"]


def argv(python: str, host: str, port: int, start: KindStart) -> list[str]:
    stock = ",".join(f"{sku}={level}" for sku, level in (start.service.stock or {}).items())
    return [
        *(python, "-m", "harness.fakes.erp", "--host", host, "--port", str(port)),
        *("--stock", stock),
    ]


class FakeErpKind:
    image_role = "harness"

    def local(self, start: KindStart, host: LocalHost, stack: Stack) -> RunningService:
        port = free_port(HOST)
        endpoint = Endpoint(HOST, port, f"http://{HOST}:{port}")
        process = start_fake(
            start.name,
            argv(sys.executable, HOST, port, start),
            start.directory,
            lambda: http_ok(f"{endpoint.url}/_fake/stats"),
            f"GET {endpoint.url}/_fake/stats answers",
        )
        return RunningService(start.name, "fake-erp", endpoint, process.log_path, process)

    def container(self, start: KindStart, host: ContainerHost) -> ContainerSpec:
        return ContainerSpec(
            argv("python", ALL_INTERFACES, APP_PORT, start),
            {},
            [APP_PORT],
            Endpoint(start.name, APP_PORT, f"http://{start.name}:{APP_PORT}"),
            lambda p: Endpoint(HOST, p[APP_PORT], f"http://{HOST}:{p[APP_PORT]}"),
            lambda e, c: http_ok(f"{e.url}/_fake/stats"),
            "GET /_fake/stats answers",
        )


KINDS.register("fake-erp")(FakeErpKind())
