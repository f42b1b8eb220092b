"""What the fake servers share: JSON answers, JSON bodies, no access log, where they listen."""

from __future__ import annotations

import json
import os
from http.server import BaseHTTPRequestHandler
from typing import Any

__all__ = ["JsonHandler", "fake_host", "serve_until_stopped"]


def fake_host() -> str:
    """Where a fake listens by default: loopback, or ``CHAOSGATE_FAKE_HOST`` (the project's
    image sets ``0.0.0.0``: in a container, loopback is not reachable from the network)."""
    return os.environ.get("CHAOSGATE_FAKE_HOST") or "127.0.0.1"


class JsonHandler(BaseHTTPRequestHandler):
    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length", "0"))
        return json.loads(self.rfile.read(length) or b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        return


def serve_until_stopped(server: Any) -> None:
    """Serve until SIGTERM or Ctrl-C (how the harness stops a fake), then close the socket."""
    import signal

    def interrupt(_signo: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
