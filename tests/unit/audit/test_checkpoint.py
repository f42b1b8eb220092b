"""The chain's head anchored outside the table: a cut tail and a rewritten chain are named; a
forged checkpoint is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine

from resilience.audit import AuditTrail
from resilience.audit.checkpoint import check_against, read_checkpoint, take_checkpoint
from resilience.errors import ConfigurationError
from tests.unit.audit.test_trail import KEY, Clock, engine, tamper, write

__all__ = ["engine"]  # the fixture, shared


def test_a_cut_tail_passes_the_chain_but_not_the_checkpoint(engine: Engine, tmp_path: Path) -> None:
    trail = AuditTrail(key=KEY, clock=Clock())
    write(engine, trail, 5)
    path = tmp_path / "audit.checkpoint"
    taken = take_checkpoint(engine, path, key=KEY)
    assert taken is not None and taken.seq == 5

    tamper(engine, "DELETE FROM audit_logs WHERE seq >= 4")  # the newest rows, gone

    assert trail.verify(engine).ok  # what is left is still a valid chain
    why = check_against(engine, read_checkpoint(path, key=KEY))  # type: ignore[arg-type]
    assert why is not None and "saw row seq 5" in why and "ends at 3" in why


def test_rows_after_the_checkpoint_are_fine(engine: Engine, tmp_path: Path) -> None:
    trail = AuditTrail(key=KEY, clock=Clock())
    write(engine, trail, 2)
    path = tmp_path / "audit.checkpoint"
    take_checkpoint(engine, path, key=KEY)
    write(engine, trail, 3)
    assert check_against(engine, read_checkpoint(path, key=KEY)) is None  # type: ignore[arg-type]


def test_a_chain_rewritten_since_the_checkpoint_is_named(engine: Engine, tmp_path: Path) -> None:
    trail = AuditTrail(clock=Clock())  # unkeyed: a writer can recompute every hash
    write(engine, trail, 3)
    path = tmp_path / "audit.checkpoint"
    take_checkpoint(engine, path, key=None)
    tamper(engine, "UPDATE audit_logs SET hash = 'rewritten' WHERE seq = 3")
    why = check_against(engine, read_checkpoint(path, key=None))  # type: ignore[arg-type]
    assert why is not None and "rewritten" in why


def test_a_forged_checkpoint_is_refused(engine: Engine, tmp_path: Path) -> None:
    trail = AuditTrail(key=KEY, clock=Clock())
    write(engine, trail, 3)
    path = tmp_path / "audit.checkpoint"
    take_checkpoint(engine, path, key=KEY)
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "seq": 2}))  # moved back, to hide a cut tail
    with pytest.raises(ConfigurationError, match="not signed with SHOP_AUDIT_HMAC_KEY"):
        read_checkpoint(path, key=KEY)


@pytest.mark.parametrize("content", ["not json", '{"seq": "x"}', "[]", "{}" + " " * 5000])
def test_a_file_that_is_not_a_checkpoint_is_named(tmp_path: Path, content: str) -> None:
    path = tmp_path / "audit.checkpoint"
    path.write_text(content)
    with pytest.raises(ConfigurationError, match="is not a checkpoint"):
        read_checkpoint(path, key=KEY)


def test_no_checkpoint_yet_and_an_empty_chain(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "audit.checkpoint"
    assert read_checkpoint(path, key=KEY) is None
    assert take_checkpoint(engine, path, key=KEY) is None
    assert not path.exists()


def test_shop_audit_verify_names_a_cut_tail_and_an_unkeyed_chain(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from resilience.shop import migrate
    from resilience.shop.cli import app

    migrate.upgrade(sqlite_url)
    path = tmp_path / "audit.checkpoint"
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.setenv("SHOP_AUDIT_CHECKPOINT_PATH", str(path))
    monkeypatch.setenv("SHOP_AUDIT_HMAC_KEY", KEY.decode())
    from sqlalchemy import create_engine

    engine = create_engine(sqlite_url)
    write(engine, AuditTrail(key=KEY, clock=Clock()), 4)
    runner = CliRunner()
    taken = runner.invoke(app, ["audit", "checkpoint"])
    assert taken.exit_code == 0 and "checkpoint: row 4" in taken.output, taken.output
    held = runner.invoke(app, ["audit", "verify"])
    assert held.exit_code == 0 and "holding the checkpoint" in held.output, held.output

    tamper(engine, "DELETE FROM audit_logs WHERE seq = 4")
    cut = runner.invoke(app, ["audit", "verify"])
    assert cut.exit_code == 1, cut.output
    assert "its tail was cut" in cut.output

    monkeypatch.delenv("SHOP_AUDIT_HMAC_KEY")
    monkeypatch.delenv("SHOP_AUDIT_CHECKPOINT_PATH")
    unkeyed = runner.invoke(app, ["audit", "verify"])
    assert "the audit chain is not keyed" in unkeyed.output  # stderr, loud
    engine.dispose()
