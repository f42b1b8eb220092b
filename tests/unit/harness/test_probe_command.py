"""``chaosgate probe URL``, the health check a runbook's on-call runs: exit 0 on the status
expected, 1 on another or no answer, 2 on a URL it will not ask; the answer is printed."""

from __future__ import annotations

import http.server
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(int(self.path.strip("/")))
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def probe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", "probe", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_2xx_is_up_by_default_and_anything_else_is_not(server: str) -> None:
    up = probe(f"{server}/204")
    assert up.returncode == 0 and f"{server}/204: 204 No Content in" in up.stdout
    down = probe(f"{server}/503")
    assert down.returncode == 1 and "503 Service Unavailable" in down.stdout
    assert "(expected a 2xx)" in down.stdout


def test_the_expected_status_can_be_named(server: str) -> None:
    assert probe(f"{server}/503", "--status", "503").returncode == 0
    wrong = probe(f"{server}/200", "--status", "503", "--status", "429")
    assert wrong.returncode == 1 and "(expected 503, 429)" in wrong.stdout


def test_no_answer_and_a_bad_url_are_said() -> None:
    with socket.socket() as bound:  # bound, never listening: the port is ours and refuses
        bound.bind(("127.0.0.1", 0))
        refused = probe(f"http://127.0.0.1:{bound.getsockname()[1]}/x", "--timeout", "2")
    assert refused.returncode == 1 and "no answer (ConnectError" in refused.stdout
    bad = probe("file:///etc/passwd")
    assert bad.returncode == 2
    assert "'file:///etc/passwd' is not an http:// or https:// URL" in bad.stderr
