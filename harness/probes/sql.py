"""SQL probes: the first column of the first row (or of every row) of a query on PostgreSQL."""

from __future__ import annotations

from harness.extras import require
from harness.probes import PROBES, Observation
from harness.provision.backend import Stack
from harness.provision.templates import TemplateContext, resolve
from harness.scenario.model import SqlProbe

__all__: list[str] = []


@PROBES.register("sql")
def _sql(probe: SqlProbe, stack: Stack, context: TemplateContext) -> Observation:
    psycopg = require("psycopg")  # the postgres extra
    url = stack.services[probe.service].endpoint.url
    query = resolve(probe.query, context, where="probe.query")
    try:
        with psycopg.connect(url, connect_timeout=max(1, round(probe.timeout_s))) as conn:
            cursor = conn.execute(query.encode())
            rows = cursor.fetchall() if probe.rows else [cursor.fetchone()]
    except psycopg.Error as exc:
        return Observation(None, error=f"{query!r}: {type(exc).__name__}: {exc}")
    if probe.rows:
        values = [row[0] for row in rows if row is not None]
        return Observation(values, f"{query} -> {len(values)} row(s)")
    value = rows[0][0] if rows[0] else None
    return Observation(value, f"{query} -> {value!r}")
