"""SQL actions: statements on a PostgreSQL service, in one transaction, as its superuser."""

from __future__ import annotations

from harness.actions import ACTIONS, ActionResult
from harness.extras import require
from harness.provision.backend import Stack
from harness.provision.templates import TemplateContext, resolve
from harness.scenario.model import SqlAction

__all__: list[str] = []


@ACTIONS.register("sql")
def _sql(action: SqlAction, stack: Stack, context: TemplateContext, key: str) -> ActionResult:
    psycopg = require("psycopg")  # the postgres extra
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
        # The harness's own statements (a bad deploy, tampering) could not be run.
        return ActionResult(
            False, f"{current[:200]!r}: {type(exc).__name__}: {exc}".strip(), errored=True
        )
    return ActionResult(True, "; ".join(done))
