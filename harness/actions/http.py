"""HTTP actions: a request to a service; its answer's fields captured as ``${vars.NAME}``."""

from __future__ import annotations

import time
from typing import Any

import httpx

from harness import httpclient
from harness.actions import ACTIONS, ActionResult, resolve_json
from harness.history import classify, key_of
from harness.probes import dig
from harness.provision.backend import Stack
from harness.provision.templates import TemplateContext, resolve
from harness.scenario.model import HttpAction

__all__: list[str] = []


@ACTIONS.register("http")
def _http(action: HttpAction, stack: Stack, context: TemplateContext, key: str) -> ActionResult:
    url = stack.services[action.service].endpoint.url + resolve(
        action.path, context, where="action.path"
    )
    headers = {
        k: resolve(v, context, where=f"action.headers.{k}") for k, v in action.headers.items()
    }
    body = resolve_json(action.json_body, context, "action.json_body")
    op: dict[str, Any] = {"op": "http", "invoke_at": time.time()}
    try:
        response = httpclient.request(
            action.method, url, json=body, headers=headers, timeout=action.timeout_s
        )
    except httpx.HTTPError as exc:
        detail = f"{action.method} {url}: {type(exc).__name__}: {exc}"
        op.update(
            complete_at=time.time(),
            result="info",
            status=None,
            key=key_of(action.key, request=body),
            detail=detail,
        )
        return ActionResult(False, detail, history=[op])
    detail = f"{action.method} {url} -> {response.status_code} {response.text[:300]}"
    op.update(
        complete_at=time.time(),
        result=classify(response.status_code),
        status=response.status_code,
        key=key_of(action.key, text=response.text, headers=response.headers, request=body),
        detail=detail[:200],
    )
    ok = response.status_code == action.status if action.status else response.is_success
    if not ok:
        return ActionResult(False, detail, history=[op])
    captured: dict[str, str] = {}
    try:
        document = response.json() if action.capture else None
        for var, path in action.capture.items():
            captured[var] = str(dig(document, path))
    except (ValueError, KeyError) as exc:
        return ActionResult(False, f"{detail}; capture failed: {exc}", history=[op])
    return ActionResult(True, detail, captured, history=[op])
