"""Webhook actions: signed deliveries the way providers make them (repeats, re-signed
retries, shuffles, forged signatures), each answer kept in the step's history."""

from __future__ import annotations

import random
import time
from typing import Any

import httpx

from harness.actions import ACTIONS, ActionResult, resolve_json
from harness.fakes.identity import load_key
from harness.fakes.provider import CERT_PATH
from harness.fakes.webhooks import PayPalSigner, StandardSigner, plan_deliveries
from harness.history import classify
from harness.provision.backend import Stack
from harness.provision.templates import TemplateContext, resolve
from harness.scenario.model import WebhooksAction

__all__: list[str] = []


@ACTIONS.register("webhooks")
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
            "object": resolve_json(e.object, context, "action.events.object"),
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
            return ActionResult(
                False, f"signer {action.signer!r} is not a fake-provider service", errored=True
            )
        # The system fetches the certificate: the URL is the one its services reach.
        cert_base = (signer.inner or signer.endpoint).url
        paypal = PayPalSigner(load_key(key_file), cert_base + CERT_PATH, action.webhook_id)
    standard: StandardSigner | None = None
    if action.provider == "standard":
        secret = resolve(action.secret, context, where="action.secret") if action.secret else None
        signing_key = (
            resolve(action.signing_key, context, where="action.signing_key")
            if action.signing_key
            else None
        )
        standard = StandardSigner(secret, signing_key)
    try:
        plan = plan_deliveries(
            events,
            secret=action.secret if standard is None else None,
            paypal=paypal,
            standard=standard,
            copies=action.copies,
            resign=action.resign,
            shuffle=action.shuffle,
            bad_signatures=action.bad_signatures,
            rng=rng,
        )
    except ValueError as exc:  # a key that is not base64 once ${...} is resolved
        return ActionResult(False, f"cannot sign the deliveries: {exc}", errored=True)
    history: list[dict[str, Any]] = []
    unexpected: list[str] = []
    pause_s = action.pace_s * context.time_scale
    with httpx.Client(timeout=action.timeout_s) as client:
        for n, delivery in enumerate(plan):
            if pause_s and n and n % action.burst == 0:
                time.sleep(pause_s)
            entry: dict[str, Any] = {
                "op": "webhook",
                "key": delivery.event_id,
                "invoke_at": time.time(),
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
            entry["complete_at"] = time.time()
            entry["result"] = classify(entry["status"])
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
