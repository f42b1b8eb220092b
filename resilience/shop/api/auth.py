"""Admin authentication: a bearer token compared in constant time, and who it names.

No ``Authorization`` header, or one that is not ``Bearer``: 401. A wrong token, or admin access
disabled because neither ``SHOP_ADMIN_TOKEN`` nor ``SHOP_OPERATOR_TOKENS`` is set: 403.

An operator token (``SHOP_OPERATOR_TOKENS``) names its operator in the audit trail; an
``X-Actor`` that names someone else is refused (403). The shared ``SHOP_ADMIN_TOKEN`` takes the
caller's ``X-Actor`` on trust. Either way the names the service writes itself
(``system:webhooks``...) are refused: no caller writes audit rows as the system.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from resilience.audit import Actor
from resilience.shop.settings import is_reserved_actor

__all__ = ["admin_actor", "require_admin"]


#: Documents the scheme in OpenAPI; the checks below give their own 401/403 answers.
bearer = HTTPBearer(auto_error=False, description="the service's SHOP_ADMIN_TOKEN")


def require_admin(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)] = None,
) -> None:
    """FastAPI dependency guarding every ``/admin`` route; the operator it names, or None for
    the shared token, is kept on the request for :func:`admin_actor`."""
    header = request.headers.get("authorization")
    scheme, _, token = (header or "").partition(" ")
    if not header or scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(
            status_code=401,
            detail="admin endpoint: send 'Authorization: Bearer <SHOP_ADMIN_TOKEN>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    settings = request.app.state.ctx.settings
    shared = settings.admin_token
    operators = settings.operators()
    if shared is None and not operators:
        raise HTTPException(
            status_code=403,
            detail="admin endpoints are disabled: set SHOP_OPERATOR_TOKENS (or "
            "SHOP_ADMIN_TOKEN) on the service",
        )
    given = token.strip().encode()
    # Compare against every token, so timing does not tell which (or whether one) matched.
    matched = shared is not None and hmac.compare_digest(given, shared.get_secret_value().encode())
    operator: str | None = None
    for name, expected in operators.items():
        if hmac.compare_digest(given, expected.encode()):
            operator = name
    if not matched and operator is None:
        raise HTTPException(status_code=403, detail="admin token is not valid")
    request.state.operator = operator


def admin_actor(request: Request) -> Actor:
    """Who the audit trail names for an admin request, with the client's address and agent: the
    token's operator, or under the shared token the ``X-Actor`` header (or ``admin``)."""
    claimed = (request.headers.get("x-actor") or "").strip()[:128]
    operator: str | None = getattr(request.state, "operator", None)
    if claimed and is_reserved_actor(claimed):
        raise HTTPException(
            status_code=403,
            detail=f"X-Actor {claimed!r} is reserved for the service itself; send your own name",
        )
    if operator is not None and claimed and claimed != operator:
        raise HTTPException(
            status_code=403,
            detail=f"X-Actor {claimed!r} is not the operator of this token ({operator!r}); "
            "leave X-Actor out or send your own name",
        )
    return Actor(
        user_id=operator or claimed or "admin",
        ip_address=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )
