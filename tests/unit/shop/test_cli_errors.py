"""The operator CLI at its boundary: a clear message and exit 2, never a traceback; a destructive
downgrade only when forced."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from resilience.shop import migrate
from resilience.shop.cli import app
from resilience.shop.migrate import current


@pytest.fixture
def env(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    migrate.upgrade(sqlite_url)
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    # Nothing listens on port 1; the password must not be printed.
    monkeypatch.setenv("REDIS_URL", "redis://:redis-pw-123@127.0.0.1:1/0")
    monkeypatch.setenv("SHOP_REDIS_SOCKET_TIMEOUT_S", "0.5")
    return sqlite_url


def test_queue_health_with_redis_down_is_a_message_not_a_traceback(env: str) -> None:
    result = CliRunner().invoke(app, ["queue", "health"])
    assert result.exit_code == 2, result.output
    assert "does not answer" in result.output and "check REDIS_URL" in result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)  # an exit, not an exception
    assert "redis-pw-123" not in result.output


@pytest.mark.parametrize("target", ["base", "0003", "-3"])
def test_a_downgrade_below_the_audit_trail_needs_force(env: str, target: str) -> None:
    before = current(env)
    result = CliRunner().invoke(app, ["db", "downgrade", "--", target])
    assert result.exit_code == 2, result.output
    assert "drops the audit trail" in result.output and "--force" in result.output
    assert current(env) == before  # nothing was changed


def test_a_downgrade_that_keeps_the_audit_trail_runs_and_force_goes_below(env: str) -> None:
    assert CliRunner().invoke(app, ["db", "downgrade", "0005"]).exit_code == 0
    assert current(env) == ("0005",)
    forced = CliRunner().invoke(app, ["db", "downgrade", "base", "--force"])
    assert forced.exit_code == 0, forced.output
    assert current(env) == ()
