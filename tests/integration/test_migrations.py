"""Migrations upgrade and downgrade cleanly on SQLite and PostgreSQL, and match the models."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from resilience.audit.partitions import is_partition_name
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
        # Monthly partitions of audit_logs are managed by 'shop audit partitions'.
        return {t for t in inspect(engine).get_table_names() if not is_partition_name(t)}
    finally:
        engine.dispose()


def schema_drift(url: str) -> list[object]:
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={
                    "compare_type": True,
                    "include_name": lambda name, type_, _parents: (
                        not (type_ == "table" and is_partition_name(name))
                    ),
                },
            )
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


def test_concurrent_upgrades_of_one_postgresql_database_take_turns(
    postgres_url: str, tmp_path: Path
) -> None:
    """API processes started together with ``--migrate`` all upgrade: on PostgreSQL an
    advisory lock lets one create the schema while the others wait and then find it at head.
    (Processes, not threads: Alembic's ``context`` is process-global.)"""
    script = (
        "import pathlib, sys, time\n"
        "from resilience.shop import migrate\n"
        "pathlib.Path(sys.argv[2]).touch()\n"
        "while not pathlib.Path(sys.argv[3]).exists(): time.sleep(0.002)\n"
        "migrate.upgrade(sys.argv[1])\n"
    )
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, postgres_url, str(tmp_path / f"ready-{i}"), str(go)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    try:
        deadline = time.monotonic() + 60
        while len(list(tmp_path.glob("ready-*"))) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        go.touch()  # all four start upgrading at once
        results = [(p.communicate(timeout=60)[1], p.returncode) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    assert [code for _, code in results] == [0, 0, 0, 0], [err[-500:] for err, _ in results]
    assert migrate.current(postgres_url) == migrate.heads()
