"""``kind: notify-capture``: records what alerting sends — Slack- and Twilio-shaped HTTP on its
``url``, a real SMTP server on its ``smtp_port`` — read back at ``/_capture/messages``."""

from __future__ import annotations

import smtplib
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
from harness.provision.process import free_port, http_ok, port_is_open
from harness.provision.templates import Endpoint

__all__ = ["NotifyCaptureKind"]

SMTP_PORT = 8025


def argv(python: str, host: str, port: int, smtp_port: int) -> list[str]:
    return [
        *(python, "-m", "harness.fakes.notify", "--host", host),
        *("--port", str(port), "--smtp-port", str(smtp_port)),
    ]


def endpoint(host: str, port: int, smtp_port: int) -> Endpoint:
    return Endpoint(host, port, f"http://{host}:{port}", extra={"smtp_port": str(smtp_port)})


def _smtp_ok(host: str, port: int) -> bool:
    try:
        with smtplib.SMTP(host, port, timeout=1) as smtp:
            return smtp.noop()[0] == 250
    except (OSError, smtplib.SMTPException):
        return False


class NotifyCaptureKind:
    image_role = "harness"

    def local(self, start: KindStart, host: LocalHost, stack: Stack) -> RunningService:
        port, smtp_port = free_port(HOST), free_port(HOST)
        process = start_fake(
            start.name,
            argv(sys.executable, HOST, port, smtp_port),
            start.directory,
            lambda: port_is_open(HOST, port) and port_is_open(HOST, smtp_port),
            f"HTTP {port} and SMTP {smtp_port} accept connections",
        )
        return RunningService(
            start.name, "notify-capture", endpoint(HOST, port, smtp_port), process.log_path, process
        )

    def container(self, start: KindStart, host: ContainerHost) -> ContainerSpec:
        return ContainerSpec(
            argv("python", ALL_INTERFACES, APP_PORT, SMTP_PORT),
            {},
            [APP_PORT, SMTP_PORT],
            endpoint(start.name, APP_PORT, SMTP_PORT),
            lambda p: endpoint(HOST, p[APP_PORT], p[SMTP_PORT]),
            lambda e, c: (
                http_ok(f"{e.url}/_capture/messages") and _smtp_ok(HOST, int(e.extra["smtp_port"]))
            ),
            "HTTP answers and SMTP greets",
        )


KINDS.register("notify-capture")(NotifyCaptureKind())
