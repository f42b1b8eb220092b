"""ERP stock sync: pull stock levels from the ERP's HTTP API and apply them, all or nothing.

``ErpClient.fetch_stock`` retries transient failures (transport errors, 429, 5xx) with
exponential backoff and full jitter (tenacity); what it returns is validated as a whole, so a
confused ERP (negative or non-numeric levels) writes nothing. ``sync_stock`` runs as the
``sync_stock`` job on the ``erp`` queue: a failure raises, Dramatiq retries the job with its own
backoff, and after the last retry it is a dead letter (``shop queue failed``) until
``shop queue retry-failed --job sync_stock``. Stock is never half-synced or wrong.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from tenacity import wait_random_exponential

from resilience.errors import ErpDataInvalid, ErpUnavailable
from resilience.http_retry import RetriedGetFailed, get_json

__all__ = ["ErpClient", "ErpSync", "StockLevel", "StockSync"]

log = logging.getLogger(__name__)


class StockLevel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)

    sku: str = Field(min_length=1, max_length=64)
    stock: int = Field(ge=0)


class _StockAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    items: list[Any]


class ErpClient:
    """The ERP's stock API.

    Parameters:
        base_url: e.g. ``http://erp.internal:8480``.
        client: an httpx client (its timeout bounds each call).
        attempts, backoff_min_s, backoff_max_s: tenacity's retry policy within one call.
    """

    def __init__(
        self,
        base_url: str,
        client: httpx.Client,
        *,
        attempts: int = 3,
        backoff_min_s: float = 0.2,
        backoff_max_s: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = client
        self._attempts = attempts
        self._wait = wait_random_exponential(multiplier=backoff_min_s, max=backoff_max_s)
        self._sleep = sleep

    def _get(self, path: str) -> Any:
        try:
            return get_json(
                self._client,
                self.base_url + path,
                attempts=self._attempts,
                wait=self._wait,
                sleep=self._sleep,
            )
        except RetriedGetFailed as exc:
            raise ErpUnavailable(exc.attempts, f"GET {path}: {exc}") from exc.cause

    def health(self) -> None:
        """Raise :class:`ErpUnavailable` unless ``GET /health`` answers 2xx."""
        self._get("/health")

    def fetch_stock(self) -> list[StockLevel]:
        """Every SKU's level, validated as a whole.

        Raises:
            ErpUnavailable: unreachable, 5xx or timeouts on every attempt.
            ErpDataInvalid: the answer is not a list of ``{sku, stock >= 0}``, or names a SKU
                twice; each problem is named.
        """
        document = self._get("/stock")
        try:
            answer = _StockAnswer.model_validate(document)
        except ValidationError as exc:
            raise ErpDataInvalid([f"answer: {e['msg']}" for e in exc.errors()]) from None
        levels: list[StockLevel] = []
        problems: list[str] = []
        for i, item in enumerate(answer.items):
            try:
                levels.append(StockLevel.model_validate(item))
            except ValidationError as exc:
                for e in exc.errors():
                    where = ".".join(str(p) for p in e["loc"])
                    problems.append(f"items[{i}].{where}: {e['msg']} (got {item!r:.60})")
        seen: set[str] = set()
        for level in levels:
            if level.sku in seen:
                problems.append(f"SKU {level.sku!r} appears twice")
            seen.add(level.sku)
        if problems:
            raise ErpDataInvalid(problems)
        return levels


class _Flags(Protocol):
    def exists(self, *names: str) -> Any: ...
    def set(self, name: str, value: str) -> Any: ...
    def delete(self, *names: str) -> Any: ...


class StockSync(Protocol):
    def sync_stock(self, levels: Sequence[tuple[str, int]]) -> dict[str, int]: ...


class ErpSync:
    """One stock sync run, and the operators' pause switch (a Redis key shared by every
    worker): while paused, ``run`` fetches nothing and changes nothing."""

    PAUSED_KEY = "shop:erp:paused"

    def __init__(self, erp: ErpClient, shop: StockSync, flags: _Flags) -> None:
        self.erp = erp
        self._shop = shop
        self._flags = flags

    def paused(self) -> bool:
        return bool(self._flags.exists(self.PAUSED_KEY))

    def pause(self) -> None:
        self._flags.set(self.PAUSED_KEY, "1")

    def resume(self) -> None:
        self._flags.delete(self.PAUSED_KEY)

    def run(self) -> dict[str, int] | None:
        """Fetch and apply; ``None`` when paused. Raises ErpError, writing nothing."""
        if self.paused():
            log.info("ERP sync paused (shop erp resume); nothing fetched")
            return None
        levels = self.erp.fetch_stock()
        counts = self._shop.sync_stock([(level.sku, level.stock) for level in levels])
        log.info("ERP sync applied: %s", counts)
        return counts
