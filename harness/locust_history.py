"""The request history chaosgate adds to any locustfile when a load step has ``history:``.

Loaded by Locust only (``-f user_locustfile.py,<this file>``), never imported by the harness:
Locust patches the interpreter with gevent. Every request becomes one line of JSON in
``CG_HISTORY_FILE``: when it was sent and answered, its status, and its key, found as
``CG_HISTORY_KEY`` says (``json_path:id``, ``request_path:sku``, ``header:Location``,
``regex:...``).
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from locust import events

__all__: list[str] = []

_PATH = os.environ.get("CG_HISTORY_FILE", "")
_KIND, _, _WHERE = os.environ.get("CG_HISTORY_KEY", "").partition(":")
_out = open(_PATH, "a", buffering=1) if _PATH else None  # noqa: SIM115  # for the process


def _dig(document: Any, path: str) -> Any:
    # harness.probes.dig's walk; this file runs in Locust's process and imports no harness.
    node = document
    for part in path.split("."):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return None
    return node


def _key(response: Any) -> str | None:
    value: Any = None
    try:
        if _KIND == "json_path":
            value = _dig(response.json(), _WHERE)
        elif _KIND == "request_path":
            body = getattr(getattr(response, "request", None), "body", None)
            value = _dig(json.loads(body or "null"), _WHERE)
        elif _KIND == "header":
            value = response.headers.get(_WHERE)
        elif _KIND == "regex":
            match = re.search(_WHERE, response.text or "")
            value = (match[1] if match.groups() else match[0]) if match else None
    except Exception:  # an answer without the key (a 429) has none
        return None
    return None if value is None or isinstance(value, dict | list) else str(value)


def _record(
    request_type: str,
    name: str,
    response_time: float,
    response: Any = None,
    exception: BaseException | None = None,
    start_time: float | None = None,
    **_: Any,
) -> None:
    if _out is None:
        return
    status = getattr(response, "status_code", None) or None
    if status is None or status >= 500:
        result = "info"
    elif status >= 400:
        result = "fail"
    else:
        result = "ok"
    started = start_time if start_time is not None else 0.0
    entry = {
        "op": "locust",
        "key": _key(response) if response is not None else None,
        "result": result,
        "status": status,
        "invoke_at": started,
        "complete_at": started + response_time / 1000,
        "detail": f"{request_type} {name} -> {status or type(exception).__name__}",
    }
    _out.write(json.dumps(entry) + "\n")


events.request.add_listener(_record)  # type: ignore[no-untyped-call]  # Locust leaves it bare
