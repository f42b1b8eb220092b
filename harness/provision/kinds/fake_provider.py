"""``kind: fake-provider``: the harness's fake payment-provider API (its failures scheduled by
``provider_errors`` faults; a PayPal signing identity whose certificate it serves)."""

from __future__ import annotations

import sys

from harness.fakes.identity import SigningIdentity, signing_identity
from harness.provision.backend import RunningService, Stack
from harness.provision.kinds import (
    ALL_INTERFACES,
    APP_PORT,
    FILES_DIR,
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

__all__ = ["FakeProviderKind"]


def argv(python: str, host: str, port: int, seed: int, cert: str) -> list[str]:
    return [
        *(python, "-m", "harness.fakes.provider", "--host", host),
        *("--port", str(port), "--seed", str(seed), "--cert", cert),
    ]


def _extra(identity: SigningIdentity) -> dict[str, str]:
    """``${services.NAME.paypal_roots}``: the PEM of the root that issued the fake's PayPal
    certificate, for the system's trust anchors (``SHOP_PAYPAL_CERT_ROOTS`` in the shop)."""
    return {"paypal_roots": identity.root_pem()}


class FakeProviderKind:
    image_role = "harness"

    def local(self, start: KindStart, host: LocalHost, stack: Stack) -> RunningService:
        port = free_port(HOST)
        identity = signing_identity(start.directory)
        endpoint = Endpoint(HOST, port, f"http://{HOST}:{port}", extra=_extra(identity))
        stats = f"{endpoint.url}/_fake/stats"
        process = start_fake(
            start.name,
            argv(sys.executable, HOST, port, start.seed, str(identity.cert)),
            start.directory,
            lambda: http_ok(stats),
            f"GET {stats} answers",
        )
        files = {"paypal_key": identity.key, "paypal_cert": identity.cert}
        return RunningService(
            start.name, "fake-provider", endpoint, process.log_path, process, files=files
        )

    def container(self, start: KindStart, host: ContainerHost) -> ContainerSpec:
        identity = signing_identity(start.directory)
        extra, cert = _extra(identity), identity.cert.name
        return ContainerSpec(
            argv("python", ALL_INTERFACES, APP_PORT, start.seed, f"{FILES_DIR}/{cert}"),
            {},
            [APP_PORT],
            Endpoint(start.name, APP_PORT, f"http://{start.name}:{APP_PORT}", extra=extra),
            lambda p: Endpoint(HOST, p[APP_PORT], f"http://{HOST}:{p[APP_PORT]}", extra=extra),
            lambda e, c: http_ok(f"{e.url}/_fake/stats"),
            "GET /_fake/stats answers",
            volumes=[(str(start.directory.resolve()), FILES_DIR, "ro")],
            files={"paypal_key": identity.key, "paypal_cert": identity.cert},
        )


KINDS.register("fake-provider")(FakeProviderKind())
