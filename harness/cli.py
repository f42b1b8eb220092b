"""``chaosgate``: the harness CLI.

Exit codes (stable, for CI gates): 0 every scenario passed; 1 a scenario failed (the system
misbehaved); 2 a scenario errored (the harness could not run it) or bad usage.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from harness import __version__
from harness.errors import ScenarioInvalid
from harness.scenario.loader import LoadedScenario, load_scenarios
from harness.scenario.schema import scenario_schema

__all__ = ["app", "main"]

EXIT_PASSED, EXIT_FAILED, EXIT_ERRORED = 0, 1, 2

app = typer.Typer(
    name="chaosgate",
    help=(
        "Chaos-testing and runbook verification: provision a system, inject faults, check that "
        "it behaves as its runbooks say, and report."
    ),
    epilog="Exit codes: 0 all passed, 1 a scenario failed, 2 a scenario errored or bad usage.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        out.print(f"chaosgate {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Options that apply to every command."""


@app.command()
def version() -> None:
    """Print the version of chaosgate and of the Python running it."""
    out.print(f"chaosgate {__version__} (Python {platform.python_version()}, {platform.system()})")


def _load(paths: list[Path] | None) -> tuple[list[LoadedScenario], list[ScenarioInvalid]]:
    try:
        return load_scenarios(paths or [Path("scenarios")])
    except ScenarioInvalid as missing:  # a path that does not exist
        return [], [missing]


@app.command()
def validate(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="scenario files or directories (default: scenarios)")
    ] = None,
) -> None:
    """Check scenario files against the schema; print every problem with its line. Exit 2 if any."""
    loaded, broken = _load(paths)
    for item in loaded:
        out.print(f"ok   {item.path}  ({item.scenario.id})", highlight=False)
    for problem in broken:
        err.print(f"bad  {problem}", highlight=False, soft_wrap=True)
    if broken:
        raise typer.Exit(EXIT_ERRORED)
    if not loaded:
        err.print("error: no scenario files found (*.yaml, *.yml)", highlight=False)
        raise typer.Exit(EXIT_ERRORED)


@app.command("list")
def list_scenarios(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="scenario files or directories (default: scenarios)")
    ] = None,
) -> None:
    """List the scenarios: id, title, the runbook each verifies, its file."""
    loaded, broken = _load(paths)
    table = Table("id", "title", "runbook", "file")
    for item in loaded:
        s = item.scenario
        table.add_row(s.id, s.title, s.runbook or "-", str(item.path))
    out.print(table)
    for problem in broken:
        err.print(f"bad  {problem}", highlight=False, soft_wrap=True)
    if broken:
        raise typer.Exit(EXIT_ERRORED)


@app.command()
def schema() -> None:
    """Print the JSON Schema of scenario files (also published as docs/scenario.schema.json)."""
    typer.echo(json.dumps(scenario_schema(), indent=2))


@app.command()
def run(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="scenario files or directories")
    ] = None,
) -> None:
    """Run the chaos scenarios in PATHS (the scenario engine is not built yet: exits 2)."""
    named = ", ".join(str(p) for p in paths or []) or "none given"
    err.print(
        f"error: the scenario engine is not built yet, so no scenario ran (paths: {named}). "
        "Until it lands, the reference service is checked by the test suite (`./run tests`).",
        highlight=False,
    )
    raise typer.Exit(EXIT_ERRORED)


def main() -> None:
    app()
