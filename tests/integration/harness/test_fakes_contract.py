"""The fast lane's fakes behave as the real parts do where a scenario can tell: the same steps on
the fake Toxiproxy API and a real Toxiproxy server, on FakeControl and on a real process's
ProcessControl, give the same answers."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from harness.provision.backend import RunningService, ServiceControl
from harness.provision.local import ProcessControl
from harness.provision.process import ManagedProcess, free_port
from harness.provision.templates import Endpoint
from harness.testing import FakeControl, FakeService, FakeToxiproxy
from harness.toxiproxy import ToxiproxyClient, ToxiproxyError
from tests.support.servers import RedisServer, ToxiproxyServer


def proxy_steps(client: ToxiproxyClient, upstream: str) -> list[Any]:
    """What the faults and the backends do through Toxiproxy, and what they read back."""
    seen: list[Any] = []
    listen = f"127.0.0.1:{free_port()}"
    client.create_proxy("cache", listen=listen, upstream=upstream)
    seen.append(sorted(client.proxies()))
    seen.append(client.set_enabled("cache", False).enabled)
    seen.append(client.proxies()["cache"].enabled)
    seen.append(client.set_enabled("cache", True).enabled)
    toxic = client.add_toxic("cache", "latency", attributes={"latency": 100}, name="slow")
    seen.append((toxic.name, toxic.type, toxic.stream))
    seen.append([t.name for t in client.toxics("cache")])
    client.remove_toxic("cache", "slow")
    seen.append([t.name for t in client.toxics("cache")])
    with pytest.raises(ToxiproxyError):
        client.set_enabled("nope", False)
    client.delete_proxy("cache")
    seen.append(sorted(client.proxies()))
    return seen


def test_the_fake_toxiproxy_answers_as_the_real_one(
    toxiproxy_server: ToxiproxyServer, redis_server: RedisServer
) -> None:
    upstream = f"127.0.0.1:{redis_server.port}"
    real = ToxiproxyClient(toxiproxy_server.api_url)
    try:
        on_real = proxy_steps(real, upstream)
    finally:
        real.close()
    fake = FakeToxiproxy().client()
    assert proxy_steps(fake, upstream) == on_real


def control_steps(control: ServiceControl) -> list[bool]:
    """Faults in the order a scenario may apply them; whether each fired."""
    return [
        control.pause().fired,
        control.unpause().fired,
        control.kill().fired,
        control.kill().fired,  # not running: did not fire
        control.stop().fired,  # not running either
        control.start().fired,
        control.stop().fired,
        control.start().fired,
        control.restart().fired,
    ]


def test_fake_control_fires_as_a_real_process_control(tmp_path: Path) -> None:
    running = RunningService("sleeper", "process", Endpoint("127.0.0.1", 1, ""), tmp_path / "s.log")

    def launch() -> None:
        process = ManagedProcess(
            "sleeper",
            [sys.executable, "-c", "import time; time.sleep(60)"],
            log_path=running.log_path,
        )
        running.process = process
        process.start()

    def restart() -> None:
        if running.process is not None:
            running.process.stop()
        launch()

    running.restart = restart
    launch()
    try:
        on_real = control_steps(ProcessControl(running))
    finally:
        if running.process is not None:
            running.process.stop()
    assert control_steps(FakeControl(FakeService("sleeper", "process"))) == on_real
    assert on_real == [True, True, True, False, False, True, True, True, True]
