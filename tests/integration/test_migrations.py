"""Migrations upgrade and downgrade cleanly on SQLite and PostgreSQL, and match the models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from resilience.shop import migrate
from resilience.shop.db import normalise_url
from resilience.shop.models import Base


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(
        f"{request.param}_url" if request.param == "sqlite" else "postgres_url"
    )
    return url


def tables(url: str) -> set[str]:
    engine = create_engine(normalise_url(url))
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def schema_drift(url: str) -> list[object]:
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade(database_url: str) -> None:
    model_tables = set(Base.metadata.tables)
    assert migrate.current(database_url) == ()

    migrate.upgrade(database_url)
    assert migrate.current(database_url) == migrate.heads()
    assert tables(database_url) == model_tables | {"alembic_version"}
    assert schema_drift(database_url) == []

    migrate.downgrade(database_url, "base")
    assert migrate.current(database_url) == ()
    assert tables(database_url) <= {"alembic_version"}

    migrate.upgrade(database_url)
    assert schema_drift(database_url) == []
