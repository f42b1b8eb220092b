"""HTTP actions: a request to a service; its answer's fields captured as ``${vars.NAME}``."""

from __future__ import annotations

import httpx

from harness.actions import ACTIONS, ActionResult, resolve_json
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
    try:
        response = httpx.request(
            action.method, url, json=body, headers=headers, timeout=action.timeout_s
        )
    except httpx.HTTPError as exc:
        return ActionResult(False, f"{action.method} {url}: {type(exc).__name__}: {exc}")
    detail = f"{action.method} {url} -> {response.status_code} {response.text[:300]}"
    ok = response.status_code == action.status if action.status else response.is_success
    if not ok:
        return ActionResult(False, detail)
    captured: dict[str, str] = {}
    try:
        document = response.json() if action.capture else None
        for var, path in action.capture.items():
            captured[var] = str(dig(document, path))
    except (ValueError, KeyError) as exc:
        return ActionResult(False, f"{detail}; capture failed: {exc}")
    return ActionResult(True, detail, captured)
