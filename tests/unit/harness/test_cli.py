from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from harness import __version__
from harness.cli import EXIT_ERRORED, app

runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"chaosgate {__version__}"


def test_help_lists_the_exit_codes() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "1 a scenario failed" in " ".join(result.output.split())


def test_run_with_no_scenarios_is_an_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", str(tmp_path)])
    assert result.exit_code == EXIT_ERRORED
    assert "no scenario files found" in result.output
