"""``shop worker --health-port``: ``GET /health`` answers 200 once the worker consumes its
queues, 503 while it stops — what an orchestrator (or a chaos harness) waits for before it
counts the worker as up. The standard library's threading HTTP server: one route, no
dependencies, on its own daemon thread."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["HealthServer"]


class HealthServer:
    """Serve ``GET /health`` on ``host:port`` from ``status()`` (``None``: not ready)."""

    def __init__(self, host: str, port: int, status: Callable[[], dict[str, Any] | None]) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?", 1)[0] != "/health":
                    self._answer(404, {"error": "not_found"})
                    return
                current = status()
                if current is None:
                    self._answer(503, {"status": "stopping"})
                else:
                    self._answer(200, {"status": "ok", **current})

            def _answer(self, code: int, document: dict[str, Any]) -> None:
                body = json.dumps(document).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return  # a probe every 50 ms is not worth a log line

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="worker-health", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
