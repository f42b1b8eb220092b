"""Every error answer is JSON of one shape: ``{"error": {"code", "message", "details"}}``.

Domain errors map to their HTTP status (:attr:`ShopError.http_status`); request validation errors
name each bad field; a body that is not JSON at all is ``400 malformed_json``.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from resilience.errors import ShopError

__all__ = ["documented", "error_response", "install_error_handlers"]

_MEANING = {
    400: "malformed JSON, or a webhook refused (bad signature, body, reused delivery)",
    401: "no bearer token",
    403: "a wrong token, admin off, or an X-Actor the token may not claim",
    404: "no such entity, or a provider not configured",
    409: "the request clashes with the current state",
    413: "the body is larger than the limit",
    422: "a field is invalid (each is named)",
    429: "overloaded: retry after Retry-After seconds",
    503: "a dependency is down: retry later",
}


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error statuses a route answers, all of one JSON shape."""
    from resilience.shop.schemas import ErrorOut

    return {s: {"model": ErrorOut, "description": _MEANING[s]} for s in statuses}


log = logging.getLogger(__name__)


def error_response(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    return JSONResponse(body, status_code=status, headers=headers)


async def _shop_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ShopError)
    return error_response(exc.http_status, exc.code, str(exc), exc.details())


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        first = next(e for e in errors if e.get("type") == "json_invalid")
        reason = (first.get("ctx") or {}).get("error", "not valid JSON")
        return error_response(400, "malformed_json", f"request body is not valid JSON: {reason}")
    fields = [
        {
            "field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"),
            "message": e.get("msg", ""),
            "input": _safe_input(e.get("input")),
        }
        for e in errors
    ]
    summary = "; ".join(f"{f['field'] or 'body'}: {f['message']}" for f in fields)
    return error_response(422, "validation_error", summary, {"fields": fields})


def _safe_input(value: Any) -> Any:
    # Echo small scalars back so the client sees the bad value; never echo whole documents.
    if isinstance(value, str | int | float | bool) or value is None:
        return value if not isinstance(value, str) or len(value) <= 200 else value[:200] + "..."
    return None


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}
    return error_response(
        exc.status_code,
        code.get(exc.status_code, "http_error"),
        str(exc.detail),
        headers=dict(exc.headers) if exc.headers else None,
    )


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return error_response(500, "internal_error", "internal error; see the service log")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ShopError, _shop_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
