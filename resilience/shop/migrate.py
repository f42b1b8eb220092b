"""Alembic migrations of the shop database, driven from code (``shop db ...`` uses these).

The Alembic environment ships inside the package, so an installed ``shop`` can migrate without
a checkout or an ``alembic.ini`` in the working directory.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from resilience.shop.db import normalise_url

__all__ = ["alembic_config", "current", "downgrade", "downgrade_drops_audit", "heads", "upgrade"]

#: The revision that creates ``audit_logs``: downgrading below it destroys the audit trail.
AUDIT_REVISION = "0004"

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # configparser interpolates '%'; URL-encoded passwords contain it.
    config.set_main_option("sqlalchemy.url", normalise_url(database_url).replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


def downgrade_drops_audit(database_url: str, revision: str) -> bool:
    """Whether downgrading to ``revision`` would undo the audit trail's migration (and drop
    every audit row); True when it cannot be told."""
    script = ScriptDirectory.from_config(alembic_config(database_url))
    try:
        for head in current(database_url):
            undone = script.iterate_revisions(head, revision)
            if any(r.revision == AUDIT_REVISION for r in undone):
                return True
    except Exception:
        return True
    return False


def heads() -> tuple[str, ...]:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return tuple(script.get_heads())


def current(database_url: str) -> tuple[str, ...]:
    """The revisions the database is at; empty when it was never migrated."""
    from sqlalchemy import create_engine

    engine = create_engine(normalise_url(database_url))
    try:
        with engine.connect() as connection:
            return tuple(MigrationContext.configure(connection).get_current_heads())
    finally:
        engine.dispose()
