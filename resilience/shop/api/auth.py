"""Admin authentication: a bearer token compared in constant time.

No ``Authorization`` header, or one that is not ``Bearer``: 401. A wrong token, or admin access
disabled because ``SHOP_ADMIN_TOKEN`` is unset: 403.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from resilience.audit import Actor

__all__ = ["admin_actor", "require_admin"]


#: Documents the scheme in OpenAPI; the checks below give their own 401/403 answers.
bearer = HTTPBearer(auto_error=False, description="the service's SHOP_ADMIN_TOKEN")


def require_admin(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)] = None,
) -> None:
    """FastAPI dependency guarding every ``/admin`` route."""
    header = request.headers.get("authorization")
    scheme, _, token = (header or "").partition(" ")
    if not header or scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(
            status_code=401,
            detail="admin endpoint: send 'Authorization: Bearer <SHOP_ADMIN_TOKEN>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    expected = request.app.state.ctx.settings.admin_token
    if expected is None:
        raise HTTPException(
            status_code=403,
            detail="admin endpoints are disabled: set SHOP_ADMIN_TOKEN on the service",
        )
    if not hmac.compare_digest(token.strip().encode(), expected.get_secret_value().encode()):
        raise HTTPException(status_code=403, detail="admin token is not valid")


def admin_actor(request: Request) -> Actor:
    """Who the audit trail names for an admin request: the ``X-Actor`` header (the operator's
    name, set by the admin UI or the caller) or ``admin``, with the client's address and agent."""
    name = (request.headers.get("x-actor") or "").strip()[:128] or "admin"
    return Actor(
        user_id=name,
        ip_address=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )
