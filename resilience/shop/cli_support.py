"""Helpers shared by the ``shop`` CLI's command groups: settings, errors to exit codes, output."""

from __future__ import annotations

import getpass
import json
import logging
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console

import resilience
from resilience.errors import ConfigurationError, ShopError
from resilience.shop.durations import parse_duration

if TYPE_CHECKING:
    import redis

    from resilience.audit import Actor
    from resilience.shop.context import ShopContext
    from resilience.shop.settings import ShopSettings

__all__ = [
    "ActorOption",
    "emit_json",
    "err",
    "errors_to_exit",
    "fail",
    "load_settings",
    "operator",
    "out",
    "parse_since",
    "redis_client",
    "setup_logging",
    "shop_context",
]

out = Console()
err = Console(stderr=True)

ActorOption = Annotated[
    str | None,
    typer.Option(
        "--actor",
        help="who does this, for the audit trail (default: $SHOP_OPERATOR or the login name)",
    ),
]


def operator(name: str | None = None) -> Actor:
    from resilience.audit.trail import Actor
    from resilience.shop.settings import is_reserved_actor

    """The audit trail's actor for a CLI command: ``--actor``, ``$SHOP_OPERATOR`` or the login."""
    who = (name or "").strip()
    if not who:
        try:
            who = os.environ.get("SHOP_OPERATOR") or getpass.getuser()
        except (KeyError, OSError):
            who = "unknown"
    if is_reserved_actor(who):
        fail(f"actor {who!r} is reserved for the service itself; give your own name with --actor")
    return Actor(who, user_agent=f"shop-cli/{resilience.__version__} ({socket.gethostname()})")


def emit_json(data: object) -> None:
    """Machine-readable output: plain JSON on stdout, never wrapped or coloured."""
    typer.echo(json.dumps(data, indent=2, default=str))


def fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def load_settings() -> ShopSettings:
    from resilience.shop.settings import ShopSettings  # pydantic-settings: not for --help

    try:
        return ShopSettings()
    except ValidationError as exc:
        problems = "; ".join(
            f"SHOP_{'_'.join(str(p) for p in e['loc']).upper()}={e.get('input')!r}: {e['msg']}"
            for e in exc.errors()
        )
        fail(f"bad settings: {problems}")


def redacted_url(url: str) -> str:
    """``url`` with its password as ``***`` (``redis://:***@host``), to name it in a message."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        user = parts.username or ""
        host = parts.netloc.rsplit("@", 1)[1]
        return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
    except ValueError:
        return "<unparsable URL>"


@contextmanager
def errors_to_exit(settings: ShopSettings) -> Iterator[None]:
    """Map library errors to one-line messages and exit codes at the CLI boundary."""
    try:
        yield
    except ShopError as exc:
        fail(str(exc), code=1)
    except ConfigurationError as exc:
        fail(str(exc))
    except Exception as exc:
        _library_error_to_exit(exc, settings)


def _library_error_to_exit(exc: Exception, settings: ShopSettings) -> NoReturn:
    """A database or Redis error as a one-line message (exit 2); anything else re-raised.
    A library is looked at only if the command loaded it (an error cannot come from one it
    never used), so a Redis-only command does not pay for importing SQLAlchemy."""
    if "sqlalchemy.exc" in sys.modules:
        from sqlalchemy.exc import OperationalError, SQLAlchemyError

        if isinstance(exc, OperationalError):
            fail(
                f"database {redacted_url(settings.database_url)} is not reachable "
                f"({type(exc.orig).__name__}: {str(exc.orig).strip().splitlines()[0]}); "
                "check DATABASE_URL and that the server is up"
            )
        if isinstance(exc, SQLAlchemyError):
            fail(f"database error: {exc}; has `shop db upgrade` been run?")
    if "redis" in sys.modules:
        import redis

        if isinstance(exc, redis.RedisError):
            where = redacted_url(settings.redis_url)
            fail(f"Redis at {where} does not answer ({type(exc).__name__}); check REDIS_URL")
    raise exc


@contextmanager
def shop_context(settings: ShopSettings, *, whole: bool = False) -> Iterator[ShopContext]:
    """The shop's parts for a command: each built when the command first uses it, so a
    command loads only the libraries it needs; ``whole`` builds every part now (a worker)."""
    from resilience.shop.context import ShopContext

    with errors_to_exit(settings):
        ctx = ShopContext.from_settings(settings, lazy=not whole)
        try:
            yield ctx
        finally:
            ctx.close()


def setup_logging(settings: ShopSettings) -> None:
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if settings.audit_enabled and settings.audit_key() is None:
        logging.getLogger("resilience.audit").warning(UNKEYED_AUDIT)


UNKEYED_AUDIT = (
    "the audit chain is not keyed (SHOP_AUDIT_HMAC_KEY is unset): anyone who can write the "
    "audit table can rewrite the whole chain and it will still verify; set a key in production"
)


def redis_client(settings: ShopSettings) -> redis.Redis:
    """A client for ``REDIS_URL`` that answers, or exit 2 naming the URL."""
    import redis

    client = redis.Redis.from_url(
        settings.redis_url, socket_timeout=settings.redis_socket_timeout_s
    )
    try:
        client.ping()
    except redis.RedisError as exc:
        where = redacted_url(settings.redis_url)
        fail(f"Redis at {where} does not answer ({exc}); check REDIS_URL")
    return client


def parse_since(value: str | None) -> timedelta | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
