"""Who the audit trail names for an admin request: bound to the credential, never the system."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from resilience.audit.models import AuditLog
from resilience.shop import ShopContext, ShopSettings
from tests.unit.shop.conftest import ADMIN

CAROL = {"Authorization": "Bearer tok-carol-1"}


@pytest.fixture
def settings(settings: ShopSettings) -> ShopSettings:
    return settings.model_copy(
        update={"operator_tokens": SecretStr("carol=tok-carol-1,dave=tok-dave-2")}
    )


def product(sku: str) -> dict[str, object]:
    return {"sku": sku, "name": "Lamp", "price_cents": 1, "stock": 1}


def last_actor(ctx: ShopContext) -> str | None:
    with ctx.sessions() as s:
        return s.scalars(select(AuditLog.user_id).order_by(AuditLog.seq.desc())).first()


def test_an_operator_token_names_its_operator(client: TestClient, ctx: ShopContext) -> None:
    assert client.post("/admin/products", headers=CAROL, json=product("A")).status_code == 201
    assert last_actor(ctx) == "carol"
    same = {**CAROL, "X-Actor": "carol"}
    assert client.post("/admin/products", headers=same, json=product("B")).status_code == 201


def test_an_operator_token_cannot_speak_for_another(client: TestClient, ctx: ShopContext) -> None:
    r = client.post("/admin/products", headers={**CAROL, "X-Actor": "dave"}, json=product("C"))
    assert r.status_code == 403, r.text
    assert "not the operator of this token" in r.json()["error"]["message"]
    assert last_actor(ctx) is None  # nothing was written


def test_the_shared_token_still_takes_x_actor(client: TestClient, ctx: ShopContext) -> None:
    headers = {**ADMIN, "X-Actor": "erin"}
    assert client.post("/admin/products", headers=headers, json=product("D")).status_code == 201
    assert last_actor(ctx) == "erin"


@pytest.mark.parametrize("claimed", ["system:webhooks", "system", "Webhooks", "erp:sync"])
def test_reserved_actor_names_are_refused(client: TestClient, claimed: str) -> None:
    r = client.post("/admin/products", headers={**ADMIN, "X-Actor": claimed}, json=product("E"))
    assert r.status_code == 403, r.text
    assert "reserved" in r.json()["error"]["message"]


def test_a_malformed_operator_entry_is_named_without_its_token() -> None:
    with pytest.raises(ValueError, match="entry 2") as caught:
        ShopSettings(operator_tokens=SecretStr("carol=tok-1,justatoken-secret"))
    assert "justatoken-secret" not in str(caught.value)
