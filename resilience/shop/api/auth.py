"""Admin authentication: a bearer token compared in constant time.

No ``Authorization`` header, or one that is not ``Bearer``: 401. A wrong token, or admin access
disabled because ``SHOP_ADMIN_TOKEN`` is unset: 403.
"""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request

__all__ = ["require_admin"]


def require_admin(request: Request) -> None:
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
