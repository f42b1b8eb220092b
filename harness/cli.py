"""``chaosgate``: the harness CLI.

Exit codes (stable, for CI gates): 0 every scenario passed; 1 a scenario failed (the system
misbehaved); 2 a scenario errored (the harness could not run it) or bad usage.
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from harness import __version__

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
