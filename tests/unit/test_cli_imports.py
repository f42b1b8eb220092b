"""The CLIs start without their heavy libraries: `--help` (and runbooks lint, which asks every
command for it) must not pay for SQLAlchemy, FastAPI, Dramatiq or the shop's models, and a
command loads only what it uses (a runbook drill runs dozens of them). Start-up time itself is
measured by benchmarks/cli_startup.py, never here; this checks what is loaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from resilience.shop import migrate

HEAVY = ("sqlalchemy", "fastapi", "dramatiq", "uvicorn", "alembic", "cryptography", "httpx")


def loaded_after(argv: list[str], entry_point: str, env: dict[str, str] | None = None) -> set[str]:
    """Top-level packages imported once ``entry_point`` (``module:function``) ran ``argv``."""
    module, function = entry_point.split(":")
    code = (
        "import sys, json\n"
        f"sys.argv = {argv!r}\n"
        "try:\n"
        f"    from {module} import {function}\n"
        f"    {function}()\n"
        "except SystemExit:\n"
        "    pass\n"
        "sys.stdout = sys.__stdout__\n"
        "print('\\n' + json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "argv", [["shop", "--help"], ["shop", "db", "--help"], ["shop", "audit", "verify", "--help"]]
)
def test_shop_help_loads_no_heavy_library(argv: list[str]) -> None:
    loaded = loaded_after(argv, "resilience.shop.cli:main")
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


def test_chaosgate_help_loads_no_heavy_library() -> None:
    loaded = loaded_after(["chaosgate", "--help"], "harness.cli:main")
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


def test_a_command_on_the_audit_trail_loads_neither_the_jobs_nor_the_web(
    sqlite_url: str, tmp_path: Path
) -> None:
    migrate.upgrade(sqlite_url)
    env = {"DATABASE_URL": sqlite_url, "SHOP_AUDIT_HMAC_KEY": "k"}
    env["SHOP_AUDIT_CHECKPOINT_PATH"] = str(tmp_path / "checkpoint.json")
    loaded = loaded_after(["shop", "audit", "verify"], "resilience.shop.cli:main", env)
    assert "sqlalchemy" in loaded  # it did verify the chain
    unused = {"fastapi", "dramatiq", "uvicorn", "alembic", "httpx", "redis"}
    assert loaded.isdisjoint(unused), sorted(loaded & unused)
