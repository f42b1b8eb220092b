"""``POST /webhooks/{provider}`` and ``GET /metrics``.

The body is read as raw bytes, up to the size limit, and handed to the intake before any parsing:
signatures are computed over exactly what the provider sent.
"""

from __future__ import annotations

import logging

import anyio
import redis
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.exc import SQLAlchemyError

from resilience.errors import PayloadInvalid, WebhookRejected
from resilience.shop.api.errors import documented, error_response
from resilience.shop.context import ShopContext

__all__ = ["router"]

log = logging.getLogger(__name__)

router = APIRouter(tags=["webhooks"])


@router.post("/webhooks/{provider}", response_model=None, responses=documented(400, 404, 413, 503))
async def receive_webhook(provider: str, request: Request) -> Response:
    """Verify, deduplicate, store and acknowledge one delivery; a job applies it later."""
    ctx: ShopContext = request.app.state.ctx
    intake = ctx.intake
    if provider not in intake.verifiers:
        return error_response(
            404,
            "unknown_provider",
            f"webhooks for {provider[:40]!r} are not configured on this service (operators: "
            "SHOP_STRIPE_WEBHOOK_SECRETS or SHOP_PAYPAL_WEBHOOK_ID enable a provider)",
        )
    try:
        body = await _read_limited(request, provider, intake.max_body_bytes)
        headers = dict(request.headers)
        result = await anyio.to_thread.run_sync(lambda: intake.receive(provider, body, headers))
    except WebhookRejected as exc:
        if isinstance(exc, PayloadInvalid) and exc.reason == "body_too_large":
            log.warning("%s", exc)  # refused while reading, before the intake saw it
            ctx.metrics.count("received", provider)
            ctx.metrics.count("rejected", provider, exc.reason)
        return error_response(exc.http_status, exc.reason, str(exc), {"provider": provider})
    except SQLAlchemyError as exc:
        return error_response(
            503,
            "inbox_unavailable",
            f"the event could not be stored ({type(exc).__name__}); retry later",
            headers={"Retry-After": "5"},
        )
    content = {
        "status": result.outcome.value,
        "provider": result.provider,
        "event_id": result.event_id,
        "event_type": result.event_type,
        "duplicate_of": result.layer,
    }
    return JSONResponse(content)


async def _read_limited(request: Request, provider: str, limit: int) -> bytes:
    def too_large(size: str) -> PayloadInvalid:
        return PayloadInvalid(
            provider,
            "body_too_large",
            f"body is {size} bytes; the limit is {limit} (SHOP_WEBHOOK_MAX_BODY_BYTES)",
            http_status=413,
        )

    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(declared)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large(f"more than {limit}")
    return bytes(body)


@router.get(
    "/metrics",
    response_model=None,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {}}, "description": "Prometheus text"},
        **documented(503),
    },
)
async def metrics(request: Request) -> Response:
    """Prometheus text: webhook counters by provider and the dedup hit rate."""
    ctx: ShopContext = request.app.state.ctx
    try:
        text = await anyio.to_thread.run_sync(
            lambda: ctx.metrics.render_prometheus(window_s=ctx.settings.webhook_rate_window_s)
        )
    except (redis.RedisError, OSError) as exc:
        log.warning("metrics: counter store unreachable: %s", exc)
        return error_response(
            503,
            "metrics_unavailable",
            f"counter store unreachable ({type(exc).__name__}); see the service log",
        )
    return Response(text, media_type=CONTENT_TYPE_LATEST)
