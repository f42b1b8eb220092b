"""The CLIs start without their heavy libraries: `--help` (and runbooks lint, which asks every
command for it) must not pay for SQLAlchemy, FastAPI, Dramatiq or the shop's models. Start-up
time itself is measured by benchmarks/cli_startup.py, never here; this checks what is loaded."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("sqlalchemy", "fastapi", "dramatiq", "uvicorn", "alembic", "cryptography", "httpx")


def loaded_after(argv: list[str], entry_point: str) -> set[str]:
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
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
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
