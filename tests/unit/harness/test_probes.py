"""Probes against real local servers, and how expectations judge what they saw."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from harness.probes import Observation, dig, judge, observe
from harness.provision.backend import RunningService, Stack
from harness.provision.templates import Endpoint, TemplateContext
from harness.scenario.model import Check

METRICS = b"""# HELP webhooks_rejected_total refused
# TYPE webhooks_rejected_total counter
webhooks_rejected_total{provider="stripe",reason="bad_signature"} 5.0
webhooks_rejected_total{provider="stripe",reason="stale_timestamp"} 2.0
"""


@pytest.fixture
def app() -> Iterator[Stack]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body, status = {
                "/metrics": (METRICS, 200),
                "/order": (b'{"order": {"lines": [{"qty": 3}]}, "status": "paid"}', 200),
            }.get(self.path, (b"{}", 404))
            self.send_response(status)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    endpoint = Endpoint("127.0.0.1", port, f"http://127.0.0.1:{port}")
    yield Stack(services={"app": RunningService("app", "process", endpoint, Path("/dev/null"))})
    server.shutdown()
    server.server_close()


CONTEXT = TemplateContext({}, {}, "/tmp", 0, 1.0, {"id": "42"})


def check(probe: dict[str, Any], expect: dict[str, Any]) -> Check:
    return Check.model_validate({"name": "c", "probe": probe, "expect": expect})


@pytest.mark.parametrize(
    ("probe", "expect", "ok"),
    [
        ({"type": "http", "service": "app", "path": "/order"}, {"equals": 200}, True),
        ({"type": "http", "service": "app", "path": "/nope"}, {"equals": 200}, False),
        (
            {"type": "http", "service": "app", "path": "/order", "json_path": "order.lines.0.qty"},
            {"min": 3, "max": 3},
            True,
        ),
        (
            {"type": "http", "service": "app", "path": "/order", "json_path": "status"},
            {"matches": "^pa"},
            True,
        ),
        (
            {
                "type": "prometheus",
                "service": "app",
                "metric": "webhooks_rejected_total",
                "labels": {"reason": "bad_signature"},
            },
            {"equals": 5},
            True,
        ),
        (
            {
                "type": "prometheus",
                "service": "app",
                "metric": "webhooks_rejected_total",
                "labels": {"reason": "bad_json"},
            },
            {"equals": 0},
            False,
        ),
        (
            {
                "type": "command",
                "command": [sys.executable, "-c", "print('depth=17')"],
                "regex": r"depth=(\d+)",
            },
            {"max": 20},
            True,
        ),
        (
            {"type": "command", "command": [sys.executable, "-c", "raise SystemExit(3)"]},
            {"equals": 0},
            False,
        ),
        (
            {"type": "command", "command": ["echo", "${vars.id}"], "regex": r"\d+"},
            {"equals": 42},
            True,
        ),
    ],
)
def test_probes_observe_and_expectations_judge(
    app: Stack, probe: dict[str, Any], expect: dict[str, Any], ok: bool
) -> None:
    spec = check(probe, expect)
    assert judge(spec.expect, observe(spec.probe, app, CONTEXT))[0] is ok


def test_an_unreachable_service_is_an_observation_not_an_exception(app: Stack) -> None:
    app.services["app"].endpoint = Endpoint("127.0.0.1", 1, "http://127.0.0.1:1")
    spec = check({"type": "http", "service": "app"}, {"equals": 200})
    observation = observe(spec.probe, app, CONTEXT)
    assert observation.error is not None
    assert judge(spec.expect, observation) == (False, observation.error)


def test_judge_explains_each_failure() -> None:
    spec = check({"type": "http", "service": "app"}, {"min": 1, "max": 5})
    assert judge(spec.expect, Observation(9))[1] == "observed 9, above the maximum 5"
    assert judge(spec.expect, Observation(0))[1] == "observed 0, below the minimum 1"
    assert judge(spec.expect, Observation("x"))[1] == "observed 'x', not a number"


def test_dig_names_what_is_missing() -> None:
    assert dig({"a": [{"b": 1}]}, "a.0.b") == 1
    with pytest.raises(KeyError, match="no 'c'"):
        dig({"a": [{"b": 1}]}, "a.0.c")
