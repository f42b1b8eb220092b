"""Engine and session factory for SQLite (embedded default) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from resilience.errors import ConfigurationError
from resilience.shop.settings import ShopSettings

__all__ = ["make_engine", "make_sessionmaker", "normalise_url"]

_SUPPORTED = ("sqlite", "postgresql")


def normalise_url(url: str) -> str:
    """Return ``url`` with the psycopg 3 driver for PostgreSQL.

    ``postgres://`` and ``postgresql://`` (as platforms set ``DATABASE_URL``) become
    ``postgresql+psycopg://``.

    Raises:
        ConfigurationError: the URL does not parse or names an unsupported database.
    """
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigurationError(
            f"DATABASE_URL {url!r} is not a database URL; "
            "use sqlite:///path/to/shop.db or postgresql://user@host:port/db"
        ) from exc
    backend = parsed.get_backend_name()
    if backend not in _SUPPORTED:
        raise ConfigurationError(
            f"DATABASE_URL names {backend!r}; supported: {', '.join(_SUPPORTED)}"
        )
    if backend == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(settings: ShopSettings, *, autocommit: bool = False) -> Engine:
    """An engine for ``settings.database_url`` with timeouts from the settings.

    The default engine checks each pooled connection before use (``pool_pre_ping``), so a
    database restart costs no failed request. ``autocommit=True`` makes an engine for single
    statements on a hot path: no transaction, no pre-ping round trip; its callers retry once on
    a dropped connection instead (see :class:`resilience.webhooks.inbox.Inbox`).
    """
    url = normalise_url(settings.database_url)
    kwargs: dict[str, Any] = {"pool_pre_ping": not autocommit}
    if autocommit:
        kwargs["isolation_level"] = "AUTOCOMMIT"
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {
            "check_same_thread": False,
            "timeout": settings.db_connect_timeout_s,
        }
        if not autocommit:
            # The driver's own BEGIN is deferred and SELECT ... FOR UPDATE is a no-op on SQLite:
            # two workers could both read an order as pending and both apply one payment. Here
            # the driver emits no BEGIN and every transaction starts with BEGIN IMMEDIATE, which
            # takes the write lock first (waiting up to the busy timeout), so they serialise.
            kwargs["connect_args"]["isolation_level"] = None
    else:
        kwargs["connect_args"] = {"connect_timeout": max(1, round(settings.db_connect_timeout_s))}
        kwargs["pool_timeout"] = settings.db_pool_timeout_s
    engine = create_engine(url, **kwargs)
    if url.startswith("sqlite"):
        event.listen(engine, "connect", _sqlite_pragmas)
        if not autocommit:
            event.listen(engine, "begin", _sqlite_begin_immediate)
    return engine


def _sqlite_begin_immediate(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Foreign keys are off by default in SQLite; WAL lets the API read while a worker writes.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
