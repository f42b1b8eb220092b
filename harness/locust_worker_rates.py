"""Each worker's request rate, as the Locust master received it, for a load step with workers.

Loaded by Locust only (``-f user_locustfile.py,<this file>``), never imported by the harness:
Locust patches the interpreter with gevent. In a worker started by chaosgate
(``CG_WORKER_NAME``) it stamps every stats report with the worker's name; in the master
(``CG_WORKER_RATES_FILE``) it writes one line of JSON per report received: which worker, when,
and the requests and failures per second since that worker's previous report (Locust's reports
carry counts since the last one). A worker attached from another machine without this file is
named by its Locust client id.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from locust import events
from locust.runners import WORKER_REPORT_INTERVAL

__all__: list[str] = []

_NAME = os.environ.get("CG_WORKER_NAME", "")
_PATH = os.environ.get("CG_WORKER_RATES_FILE", "")
_out = open(_PATH, "a", buffering=1) if _PATH else None  # noqa: SIM115  # for the process
_last: dict[str, float] = {}


def _stamp(client_id: str, data: dict[str, Any], **_: Any) -> None:
    data["cg_worker"] = _NAME


def _received(client_id: str, data: dict[str, Any], **_: Any) -> None:
    if _out is None:
        return
    total = data.get("stats_total") or {}
    name = str(data.get("cg_worker") or client_id)
    now = time.time()
    interval = max(now - _last.get(name, now - WORKER_REPORT_INTERVAL), 1e-3)
    _last[name] = now
    line = {
        "worker": name,
        "at": now,
        "requests": int(total.get("num_requests", 0)),
        "failures": int(total.get("num_failures", 0)),
        "interval_s": round(interval, 3),
    }
    _out.write(json.dumps(line) + "\n")


if _NAME:
    events.report_to_master.add_listener(_stamp)  # type: ignore[no-untyped-call]
if _out is not None:
    events.worker_report.add_listener(_received)  # type: ignore[no-untyped-call]
