from __future__ import annotations

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


def test_run_says_honestly_that_no_scenario_ran() -> None:
    result = runner.invoke(app, ["run"])
    assert result.exit_code == EXIT_ERRORED
    assert "no scenario ran" in " ".join(result.output.split())
