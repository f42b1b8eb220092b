"""The ERP client against a real HTTP server (the harness's fake ERP on loopback): levels
fetched, 503 and slow answers retried then refused, nonsense refused whole."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest

from harness.fakes.erp import serve
from harness.provision import free_port
from resilience.errors import ErpDataInvalid, ErpUnavailable
from resilience.shop.erp import ErpClient


@pytest.fixture
def erp() -> Iterator[tuple[str, httpx.Client]]:
    port = free_port()
    server = serve(port, {"A": 4, "B": 0})
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    control = httpx.Client(base_url=base, timeout=5)
    try:
        yield base, control
    finally:
        control.close()
        server.shutdown()
        server.server_close()
        thread.join()


def client(base: str, timeout_s: float = 2.0) -> ErpClient:
    return ErpClient(base, httpx.Client(timeout=timeout_s), attempts=2, backoff_min_s=0.01)


def test_levels_come_from_the_real_server(erp: tuple[str, httpx.Client]) -> None:
    base, _ = erp
    assert [(x.sku, x.stock) for x in client(base).fetch_stock()] == [("A", 4), ("B", 0)]


def test_503_and_slow_answers_are_retried_then_unavailable(erp: tuple[str, httpx.Client]) -> None:
    base, control = erp
    control.post("/_fake/mode", json={"mode": "503"})
    with pytest.raises(ErpUnavailable, match=r"after 2 attempt.*503"):
        client(base).fetch_stock()
    control.post("/_fake/mode", json={"mode": "slow", "delay_s": 0.5})
    with pytest.raises(ErpUnavailable, match=r"after 2 attempt.*Timeout"):
        client(base, timeout_s=0.1).fetch_stock()
    assert control.get("/_fake/stats").json()["503"] == 2


def test_nonsense_from_the_real_server_is_refused_whole(erp: tuple[str, httpx.Client]) -> None:
    base, control = erp
    control.post("/_fake/mode", json={"mode": "wrong"})
    with pytest.raises(ErpDataInvalid, match=r"items\[0\]\.stock"):
        client(base).fetch_stock()
