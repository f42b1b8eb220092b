"""Packaging metadata that builds without deprecation: setuptools stops building the
``project.license`` table form in 2027; the license is an SPDX expression (PEP 639)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_license_is_an_spdx_expression_and_setuptools_understands_it() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "Apache-2.0"
    assert not any(c.startswith("License ::") for c in project["project"]["classifiers"])
    requires = project["build-system"]["requires"]
    assert any(r.replace(" ", "").startswith("setuptools>=77") for r in requires), requires


def test_the_license_the_metadata_names_is_in_the_repository() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    (license_file,) = project["license-files"]
    text = (ROOT / license_file).read_text()
    assert "Apache License" in text and "Version 2.0" in text
