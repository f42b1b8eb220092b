"""The docs stay true: the README lists every setting and keeps its two commands first."""

from __future__ import annotations

import re
from pathlib import Path

from resilience.shop.settings import ShopSettings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_readme_documents_every_setting() -> None:
    missing = [
        f"SHOP_{name.upper()}"
        for name in ShopSettings.model_fields
        if f"SHOP_{name.upper()}" not in README
    ]
    assert not missing, f"README's settings table lacks {missing}"


def test_readme_opens_with_the_two_commands() -> None:
    first_block = re.search(r"```bash\n(.*?)```", README, re.S)
    assert first_block is not None
    commands = [line.split("#")[0].strip() for line in first_block[1].splitlines()]
    assert commands == ["./run chaos", "./run tests"]
    assert (ROOT / "run").stat().st_mode & 0o111
