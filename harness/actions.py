"""Actions: what a scenario does to the system besides faults (set-up, load, rollbacks)."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field

import httpx

from harness.probes import dig
from harness.provision.backend import Stack
from harness.provision.templates import TemplateContext, resolve
from harness.scenario.model import Action, CommandAction, HttpAction

__all__ = ["ActionResult", "run_action"]


@dataclass(frozen=True)
class ActionResult:
    ok: bool
    detail: str
    captured: dict[str, str] = field(default_factory=dict)


def _resolve_json(value: object, context: TemplateContext, where: str) -> object:
    if isinstance(value, str):
        return resolve(value, context, where=where)
    if isinstance(value, list):
        return [_resolve_json(v, context, where) for v in value]
    if isinstance(value, dict):
        return {k: _resolve_json(v, context, f"{where}.{k}") for k, v in value.items()}
    return value


def _command(action: CommandAction, stack: Stack, context: TemplateContext) -> ActionResult:
    argv = [resolve(a, context, where="action.command") for a in action.command]
    env = {k: resolve(v, context, where=f"action.env.{k}") for k, v in action.env.items()}
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=action.timeout_s,
            check=False,
            env={**os.environ, **env},
        )
    except FileNotFoundError:
        return ActionResult(False, f"{argv[0]!r} is not installed or not on PATH")
    except subprocess.TimeoutExpired:
        return ActionResult(False, f"{' '.join(argv)} still ran after {action.timeout_s:g} s")
    output = (done.stdout + done.stderr).strip()
    ok = done.returncode == action.exit_code
    detail = f"{' '.join(argv)} -> exit {done.returncode}"
    if not ok:
        detail += f" (expected {action.exit_code})"
    return ActionResult(ok, f"{detail}: {output[-500:]}")


def _http(action: HttpAction, stack: Stack, context: TemplateContext) -> ActionResult:
    url = stack.services[action.service].endpoint.url + resolve(
        action.path, context, where="action.path"
    )
    headers = {
        k: resolve(v, context, where=f"action.headers.{k}") for k, v in action.headers.items()
    }
    body = _resolve_json(action.json_body, context, "action.json_body")
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


def run_action(action: Action, stack: Stack, context: TemplateContext) -> ActionResult:
    if isinstance(action, CommandAction):
        return _command(action, stack, context)
    return _http(action, stack, context)
