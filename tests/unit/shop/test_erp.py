"""The ERP client: transient failures retried, everything else refused whole, naming each
problem; the sync writes all levels or none. The real-server behaviour is in the erp-outage
scenario (a real fake ERP behind Toxiproxy)."""

from __future__ import annotations

import httpx
import pytest

from harness.fakes.erp import parse_stock
from resilience.errors import ErpDataInvalid, ErpUnavailable
from resilience.shop.erp import ErpClient, ErpSync


def client(*answers: httpx.Response | Exception) -> tuple[ErpClient, list[str]]:
    calls: list[str] = []
    queue = list(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    http = httpx.Client(transport=httpx.MockTransport(handler))
    return ErpClient("http://erp.test/", http, attempts=3, sleep=lambda _s: None), calls


def ok(items: object) -> httpx.Response:
    return httpx.Response(200, json={"items": items})


def test_levels_are_fetched_after_transient_failures() -> None:
    erp, calls = client(
        httpx.ConnectError("refused"),
        httpx.Response(503),
        ok([{"sku": "A", "stock": 4}, {"sku": "B", "stock": 0, "extra": "ignored"}]),
    )
    levels = erp.fetch_stock()
    assert [(level.sku, level.stock) for level in levels] == [("A", 4), ("B", 0)]
    assert calls == ["/stock"] * 3


def test_an_erp_down_on_every_attempt_is_unavailable() -> None:
    erp, calls = client(httpx.Response(503))
    with pytest.raises(ErpUnavailable, match="after 3 attempt"):
        erp.fetch_stock()
    assert len(calls) == 3


def test_a_client_error_is_not_retried() -> None:
    erp, calls = client(httpx.Response(404))
    with pytest.raises(ErpUnavailable, match="after 1 attempt"):
        erp.fetch_stock()
    assert calls == ["/stock"]


@pytest.mark.parametrize(
    ("items", "problem"),
    [
        ([{"sku": "A", "stock": -1}], "items[0].stock"),
        ([{"sku": "A", "stock": "lots"}], "items[0].stock"),
        ([{"sku": "A", "stock": 1}, {"sku": "A", "stock": 2}], "'A' appears twice"),
        ([{"stock": 1}], "items[0].sku"),
        ("not a list", "answer"),
    ],
)
def test_nonsense_is_refused_whole_naming_the_problem(items: object, problem: str) -> None:
    erp, _ = client(ok(items))
    with pytest.raises(ErpDataInvalid) as refused:
        erp.fetch_stock()
    assert problem in str(refused.value)


class FakeShop:
    def __init__(self) -> None:
        self.applied: list[list[tuple[str, int]]] = []

    def sync_stock(self, levels: object) -> dict[str, int]:
        self.applied.append(list(levels))  # type: ignore[call-overload]
        return {"changed": len(self.applied[-1]), "unchanged": 0, "unknown": 0}


class Flags:
    def __init__(self) -> None:
        self.keys: set[str] = set()

    def exists(self, *names: str) -> int:
        return sum(n in self.keys for n in names)

    def set(self, name: str, value: str) -> None:
        self.keys.add(name)

    def delete(self, *names: str) -> None:
        self.keys -= set(names)


def test_a_paused_sync_fetches_and_changes_nothing() -> None:
    erp, calls = client(ok([{"sku": "A", "stock": 4}]))
    shop = FakeShop()
    sync = ErpSync(erp, shop, Flags())
    sync.pause()
    assert sync.run() is None and calls == [] and shop.applied == []
    sync.resume()
    assert sync.run() == {"changed": 1, "unchanged": 0, "unknown": 0}
    assert shop.applied == [[("A", 4)]]


def test_invalid_levels_never_reach_the_shop() -> None:
    erp, _ = client(ok([{"sku": "A", "stock": 4}, {"sku": "B", "stock": -2}]))
    shop = FakeShop()
    with pytest.raises(ErpDataInvalid):
        ErpSync(erp, shop, Flags()).run()
    assert shop.applied == []


def test_the_fake_erps_stock_option_names_a_bad_part() -> None:
    assert parse_stock("A=1, B=22") == {"A": 1, "B": 22}
    with pytest.raises(ValueError, match="'B=x'"):
        parse_stock("A=1,B=x")
