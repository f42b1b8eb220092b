"""A fake ERP stock API as a real HTTP server, with outage modes the scenario switches at will.

    chaosgate fake erp --port 8480 --stock SKU-1=40,SKU-2=7

``GET /stock`` answers ``{"items": [{"sku": "SKU-1", "stock": 40}, ...]}`` and ``GET /health``
``{"status": "ok"}``, unless the mode says otherwise. The harness talks to ``/_fake/``:
``POST /_fake/mode`` ``{"mode": "ok" | "503" | "slow" | "wrong", "delay_s": 3}`` (503: every
call fails with 503; slow: every call waits ``delay_s`` first; wrong: stock levels that make no
sense — negative, not a number), ``POST /_fake/stock`` ``{"SKU-1": 12}`` changes the levels,
``GET /_fake/stats`` counts what was served per mode (the evidence a fault fired). An
unreachable ERP is a Toxiproxy proxy in front of this server.
"""

from __future__ import annotations

import threading
import time
from http.server import ThreadingHTTPServer
from typing import Any

from harness.fakes.http import JsonHandler

__all__ = ["MODES", "ErpState", "main", "parse_stock", "serve"]

MODES = ("ok", "503", "slow", "wrong")


def parse_stock(text: str) -> dict[str, int]:
    """``"A=1,B=2"`` -> ``{"A": 1, "B": 2}``; ValueError naming the bad part."""
    levels: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        sku, sep, value = part.partition("=")
        if not sep or not sku or not value.strip().lstrip("-").isdigit():
            raise ValueError(f"--stock part {part!r}: expected SKU=NUMBER, e.g. SKU-1=40")
        levels[sku.strip()] = int(value)
    return levels


class ErpState:
    def __init__(self, stock: dict[str, int]) -> None:
        self._lock = threading.Lock()
        self.stock = dict(stock)
        self.mode = "ok"
        self.delay_s = 3.0
        self.stats = {"calls": 0, **{m: 0 for m in MODES}}

    def set_mode(self, config: dict[str, Any]) -> None:
        mode = str(config.get("mode", "ok"))
        if mode not in MODES:
            raise ValueError(f"mode {mode!r}: expected one of {', '.join(MODES)}")
        with self._lock:
            self.mode = mode
            self.delay_s = float(config.get("delay_s", self.delay_s))

    def served(self) -> tuple[str, float]:
        with self._lock:
            self.stats["calls"] += 1
            self.stats[self.mode] += 1
            return self.mode, self.delay_s


def serve(port: int, stock: dict[str, int], host: str = "127.0.0.1") -> ThreadingHTTPServer:
    state = ErpState(stock)

    class Handler(JsonHandler):
        def do_GET(self) -> None:
            if self.path == "/_fake/stats":
                self._send(200, {**state.stats, "mode": state.mode})
                return
            if self.path not in ("/stock", "/health"):
                self._send(404, {"error": f"no route {self.path}"})
                return
            mode, delay_s = state.served()
            if mode == "slow":
                time.sleep(delay_s)
            if mode == "503":
                self._send(503, {"error": "ERP unavailable (injected)"})
            elif self.path == "/health":
                self._send(200, {"status": "ok"})
            elif mode == "wrong":
                items: list[dict[str, Any]] = [
                    {"sku": sku, "stock": -abs(level) - 1} for sku, level in state.stock.items()
                ]
                items.append({"sku": "BROKEN", "stock": "lots"})
                self._send(200, {"items": items})
            else:
                self._send(200, {"items": [{"sku": s, "stock": n} for s, n in state.stock.items()]})

        def do_POST(self) -> None:
            try:
                body = self._body()
                if self.path == "/_fake/mode":
                    state.set_mode(body)
                    self._send(200, {"mode": state.mode, "delay_s": state.delay_s})
                elif self.path == "/_fake/stock":
                    state.stock.update({str(k): int(v) for k, v in body.items()})
                    self._send(200, state.stock)
                else:
                    self._send(404, {"error": f"no route {self.path}"})
            except (ValueError, TypeError, AttributeError) as exc:
                self._send(400, {"error": str(exc)})

    return ThreadingHTTPServer((host, port), Handler)


def main(argv: list[str] | None = None) -> None:
    """``python -m harness.fakes.erp --port 8480 --stock SKU-1=40``: serve until stopped."""
    import argparse
    import sys

    from harness.fakes.http import fake_host, serve_until_stopped

    parser = argparse.ArgumentParser(description="fake ERP stock API for chaos scenarios")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default=fake_host(), help="address to listen on")
    parser.add_argument("--stock", default="", help="initial levels: SKU=NUMBER,...")
    args = parser.parse_args(argv)
    try:
        levels = parse_stock(args.stock)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    try:
        server = serve(args.port, levels, host=args.host)
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        sys.exit(2)
    serve_until_stopped(server)


if __name__ == "__main__":
    main()
