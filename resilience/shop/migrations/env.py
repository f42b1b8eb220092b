"""Alembic environment of the shop database (online mode only)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool, text

from resilience.audit.partitions import is_partition_name
from resilience.shop.models import Base

config = context.config
target_metadata = Base.metadata

# Several API processes migrating at start (``shop serve --migrate``) take turns on PostgreSQL:
# one upgrades, the others then find the database at head. Any constant works as the key.
_LOCK_KEY = 0x5EED5C0DE


def _include_name(name: str | None, type_: str, parent_names: object) -> bool:
    # The audit trail's monthly partitions are managed by 'shop audit partitions', not models.
    return not (type_ == "table" and is_partition_name(name))


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url is set by resilience.shop.migrate.alembic_config"
    engine = create_engine(url, poolclass=pool.NullPool)
    # One transaction around the lock and the migrations, committed when the block ends.
    with engine.connect() as connection, connection.begin():
        if connection.dialect.name == "postgresql":
            connection.execute(text("select pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            include_name=_include_name,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
run_migrations_online()
