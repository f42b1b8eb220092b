"""A bound on every request body, applied before a route parses anything.

Without it one unauthenticated ``POST /orders`` of 32 MiB held the event loop and took memory by
the gigabyte. A declared ``Content-Length`` past the limit is refused at once; a chunked body is
counted as it streams and refused when it crosses the limit, so no more than the limit is ever
held. Webhook routes stream their own limit (``SHOP_WEBHOOK_MAX_BODY_BYTES``) and are left to it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimit", "BodyTooLarge", "body_too_large"]


class BodyTooLarge(HTTPException):
    """A streamed body crossed the limit; the app's handler answers 413.

    An HTTPException, because FastAPI turns any other error raised while it reads a body into
    ``400 There was an error parsing the body``.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(413, f"request body is larger than {limit} bytes")


def _answer(limit: int) -> tuple[int, bytes]:
    message = (
        f"request body is larger than the limit of {limit} bytes (SHOP_MAX_BODY_BYTES); "
        "send a smaller request"
    )
    body = {"error": {"code": "body_too_large", "message": message, "details": {"limit": limit}}}
    return 413, json.dumps(body).encode()


async def body_too_large(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BodyTooLarge)
    status, body = _answer(exc.limit)
    return JSONResponse(json.loads(body), status_code=status)


class BodyLimit:
    """ASGI middleware: bodies over ``max_bytes()`` are a 413, except under ``exempt`` paths."""

    def __init__(
        self, app: ASGIApp, *, max_bytes: Callable[[], int], exempt: Sequence[str] = ()
    ) -> None:
        self._app = app
        self._max_bytes = max_bytes
        self._exempt = tuple(exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope["path"]).startswith(self._exempt):
            await self._app(scope, receive, send)
            return
        limit = self._max_bytes()
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await self._refuse(send, limit)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        await self._app(scope, counted, send)

    @staticmethod
    async def _refuse(send: Send, limit: int) -> None:
        status, body = _answer(limit)
        headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
