"""The shop's API fuzzed from its own OpenAPI document (schemathesis): with and without the admin
token, no 5xx, no status the document does not declare, every answer in its declared shape, and
nothing persisted by a request that was refused."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import func, select

from resilience.audit.models import AuditLog
from resilience.shop import ShopContext
from resilience.shop.api import create_app
from resilience.shop.models import Order, Payment, Product, Refund, StockAdjustment
from resilience.webhooks.models import WebhookEvent
from tests.unit.shop.conftest import ADMIN

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
TABLES = (Product, Order, Payment, Refund, StockAdjustment, AuditLog, WebhookEvent)
EXAMPLES = 40  # per operation, generation mode and token: bounded, so the suite stays fast


def rows(ctx: ShopContext) -> dict[str, int]:
    with ctx.sessions() as s:
        return {t.__tablename__: s.scalar(select(func.count()).select_from(t)) or 0 for t in TABLES}


def fuzz(ctx: ShopContext, headers: dict[str, str]) -> int:
    """Every operation of the document, valid and invalid data alike; the number fuzzed.

    (Driven through the operations' Hypothesis strategies: schemathesis's fixture loader does
    not run on this pytest.)"""
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(ctx))
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        cases = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        )

        @given(case=cases)
        @FUZZ
        def one(case: Any) -> None:
            before = rows(ctx)
            response = case.call_and_validate(headers=headers, checks=CHECKS)
            if response.status_code >= 400:
                assert rows(ctx) == before, f"{case.method} {case.path}: kept by a refusal"

        one()
    return len(operations)


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def test_with_the_admin_token(ctx: ShopContext) -> None:
    assert fuzz(ctx, dict(ADMIN)) >= 13  # every route of the document


def test_without_a_token(ctx: ShopContext) -> None:
    assert fuzz(ctx, {}) >= 13
