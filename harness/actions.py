"""Actions: what a scenario does to the system besides faults (set-up, load, rollbacks)."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg

from harness.commands import run_command
from harness.fakes.identity import load_key
from harness.fakes.provider import CERT_PATH
from harness.fakes.webhooks import PayPalSigner, plan_deliveries
from harness.probes import dig
from harness.provision.backend import Stack
from harness.provision.templates import TemplateContext, resolve
from harness.scenario.model import Action, CommandAction, HttpAction, SqlAction, WebhooksAction

__all__ = ["ActionResult", "run_action"]


@dataclass(frozen=True)
class ActionResult:
    ok: bool
    detail: str
    captured: dict[str, str] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)


def _resolve_json(value: object, context: TemplateContext, where: str) -> object:
    if isinstance(value, str):
        return resolve(value, context, where=where)
    if isinstance(value, list):
        return [_resolve_json(v, context, where) for v in value]
    if isinstance(value, dict):
        return {k: _resolve_json(v, context, f"{where}.{k}") for k, v in value.items()}
    return value


def _command(action: CommandAction, stack: Stack, context: TemplateContext) -> ActionResult:
    outcome = run_command(
        action.command, action.env, context, timeout_s=action.timeout_s, where="action"
    )
    if outcome.error is not None:
        return ActionResult(False, outcome.error)
    ok = outcome.returncode == action.exit_code
    detail = f"{outcome.line} -> exit {outcome.returncode}"
    if not ok:
        detail += f" (expected {action.exit_code})"
    return ActionResult(ok, f"{detail}: {outcome.output[-500:]}")


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


def _webhooks(
    action: WebhooksAction, stack: Stack, context: TemplateContext, key: str
) -> ActionResult:
    path = action.path or f"/webhooks/{action.provider}"
    url = stack.services[action.service].endpoint.url + resolve(path, context, where="action.path")
    # Event ids and the shuffle come from the run's seed and the step, never from anything that
    # changes between runs (ports): the same seed, the same deliveries.
    rng = random.Random(f"{context.seed}:{key}")  # noqa: S311
    events = [
        {
            "id": resolve(e.id, context, where="action.events.id")
            if e.id
            else f"evt_{rng.getrandbits(64):016x}",
            "type": e.type,
            "object": _resolve_json(e.object, context, "action.events.object"),
        }
        for e in action.events
    ]
    paypal: PayPalSigner | None = None
    if action.provider == "paypal":
        assert action.signer is not None  # the model requires signer and webhook_id for PayPal
        assert action.webhook_id is not None
        signer = stack.services.get(action.signer)
        key_file = signer.files.get("paypal_key") if signer is not None else None
        if signer is None or key_file is None:
            return ActionResult(False, f"signer {action.signer!r} is not a fake-provider service")
        # The system fetches the certificate: the URL is the one its services reach.
        cert_base = (signer.inner or signer.endpoint).url
        paypal = PayPalSigner(load_key(key_file), cert_base + CERT_PATH, action.webhook_id)
    plan = plan_deliveries(
        events,
        secret=action.secret,
        paypal=paypal,
        copies=action.copies,
        resign=action.resign,
        shuffle=action.shuffle,
        bad_signatures=action.bad_signatures,
        rng=rng,
    )
    history: list[dict[str, Any]] = []
    unexpected: list[str] = []
    pause_s = action.pace_s * context.time_scale
    with httpx.Client(timeout=action.timeout_s) as client:
        for n, delivery in enumerate(plan):
            if pause_s and n and n % action.burst == 0:
                time.sleep(pause_s)
            entry: dict[str, Any] = {
                "event_id": delivery.event_id,
                "type": delivery.event_type,
                "attempt": delivery.attempt,
                "kind": delivery.kind,
            }
            try:
                response = client.post(
                    url,
                    content=delivery.body,
                    headers={**delivery.headers, "Content-Type": "application/json"},
                )
                entry["status"] = response.status_code
                try:
                    answer = response.json()
                    entry["answer"] = answer.get("status") or answer.get("error", {}).get("code")
                except (ValueError, AttributeError):
                    entry["answer"] = response.text[:100]
            except httpx.HTTPError as exc:
                entry["status"], entry["answer"] = None, f"{type(exc).__name__}: {exc}"
            history.append(entry)
            wanted = 400 if delivery.kind == "bad_signature" else action.status
            if entry["status"] != wanted:
                unexpected.append(
                    f"{delivery.event_id}#{delivery.attempt} ({delivery.kind}) -> "
                    f"{entry['status']} {entry['answer']}, expected {wanted}"
                )
    counts: dict[str, int] = {}
    for entry in history:
        key = f"{entry['status']} {entry['answer']}"
        counts[key] = counts.get(key, 0) + 1
    detail = f"{len(plan)} deliveries of {len(events)} event(s) to {url}: {counts}"
    if unexpected:
        detail += f"; unexpected: {unexpected[:5]}"
    return ActionResult(not unexpected, detail, history=history)


def _sql(action: SqlAction, stack: Stack, context: TemplateContext) -> ActionResult:
    url = stack.services[action.service].endpoint.url
    statements = [
        resolve(sql, context, where=f"action.statements[{i}]")
        for i, sql in enumerate(action.statements)
    ]
    done = []
    current = f"connect to {action.service}"
    try:
        with psycopg.connect(url, connect_timeout=max(1, round(action.timeout_s))) as conn:
            for current in statements:
                cursor = conn.execute(current.encode())
                done.append(f"{current[:80]} -> {cursor.rowcount} row(s)")
    except psycopg.Error as exc:
        return ActionResult(False, f"{current[:200]!r}: {type(exc).__name__}: {exc}".strip())
    return ActionResult(True, "; ".join(done))


def run_action(
    action: Action, stack: Stack, context: TemplateContext, *, key: str = "action"
) -> ActionResult:
    """Run one action; ``key`` names it for seeded choices (the same key and seed, the same
    event ids and order)."""
    if isinstance(action, CommandAction):
        return _command(action, stack, context)
    if isinstance(action, WebhooksAction):
        return _webhooks(action, stack, context, key)
    if isinstance(action, SqlAction):
        return _sql(action, stack, context)
    return _http(action, stack, context)
