"""``chaosgate``: the harness CLI. It parses, and delegates: scenarios to ``harness.scenario``,
runs to ``harness.suite``, game days to ``harness.gameday``, reports to ``harness.report``,
runbook checks to ``harness.runbooks``.

Exit codes (stable, for CI gates): 0 every scenario passed; 1 a scenario failed (the system
misbehaved); 2 a scenario errored (the harness could not run it) or bad usage.
"""

from __future__ import annotations

import json
import os
import platform
import random
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from harness import __version__, init_command
from harness.exits import EXIT_ERRORED, EXIT_FAILED, EXIT_PASSED, Environment

if TYPE_CHECKING:
    from harness.errors import ScenarioInvalid
    from harness.scenario.loader import LoadedScenario

# Each command imports what it needs when it runs (pydantic models, the backends, the report
# renderers), so `chaosgate --help` and a runbook drill's many `--help` answer at once.

__all__ = ["EXIT_ERRORED", "EXIT_FAILED", "EXIT_PASSED", "app", "main"]

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
# No markup: what is printed comes from scenarios and systems ("[redacted]", "chaosgate[load]",
# a stray "[/]"), and must show as it is, never as a style or a MarkupError.
out = Console(markup=False)
err = Console(stderr=True, markup=False)


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
    from harness.errors import ScenarioInvalid
    from harness.scenario.loader import load_scenarios

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
        table.add_row(s.id, s.title, s.runbook_path or "-", str(item.path))
    out.print(table)
    for problem in broken:
        err.print(f"bad  {problem}", highlight=False, soft_wrap=True)
    if broken:
        raise typer.Exit(EXIT_ERRORED)


@app.command()
def schema() -> None:
    """Print the JSON Schema of scenario files (also published as docs/scenario.schema.json)."""
    from harness.scenario.schema import scenario_schema

    typer.echo(json.dumps(scenario_schema(), indent=2))


@app.command()
def run(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="scenario files or directories (default: scenarios)")
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="drives every random choice; printed and recorded")
    ] = None,
    time_scale: Annotated[
        float, typer.Option(min=0.001, help="multiplies every scenario time and ${scaled:...}")
    ] = 1.0,
    only: Annotated[
        list[str] | None, typer.Option(help="run only the scenario with this id (repeatable)")
    ] = None,
    report_dir: Annotated[Path, typer.Option(help="where the run's journal and logs go")] = Path(
        "reports"
    ),
    env: Annotated[
        Environment,
        typer.Option(
            help="local: services are processes on this machine; docker: containers on a network "
            "per scenario (images: CHAOSGATE_*_IMAGE settings)"
        ),
    ] = Environment.local,
    jobs: Annotated[
        str,
        typer.Option(
            envvar="CHAOSGATE_JOBS",
            help="scenarios run at once, each on its own stack: a number, or auto (on local "
            "processes five per two cores, on Docker one per core, as memory allows, at most "
            "eight); a scenario marked exclusive runs alone",
        ),
    ] = "auto",
) -> None:
    """Run chaos scenarios against their systems; write the run journal (JSON), the HTML report,
    JUnit XML (in DIR/run-*/) and the index of runs (DIR/index.html). Secrets and personal
    data are redacted from all of them and from the service logs beside them.

    Exit 0 when every scenario passed, 1 when one failed, 2 when one errored or a file is broken.
    """
    loaded, broken = _load(paths)
    if only:
        unknown = set(only) - {item.scenario.id for item in loaded}
        if unknown:
            known = ", ".join(sorted(item.scenario.id for item in loaded)) or "none"
            err.print(
                f"error: --only {', '.join(sorted(unknown))}: no such scenario (known: {known})"
            )
            raise typer.Exit(EXIT_ERRORED)
        loaded = [item for item in loaded if item.scenario.id in only]
    for problem in broken:
        err.print(f"bad  {problem}", highlight=False, soft_wrap=True)
    if not loaded and not broken:
        err.print("error: no scenario files found (*.yaml, *.yml)", highlight=False)
        raise typer.Exit(EXIT_ERRORED)
    from harness.suite import auto_jobs, run_suite

    if jobs == "auto":
        at_once = auto_jobs(env)
    elif jobs.isdigit() and int(jobs) >= 1:
        at_once = int(jobs)
    else:
        err.print(f"error: --jobs {jobs}: give a number of scenarios (1 or more) or auto")
        raise typer.Exit(EXIT_ERRORED)
    seed = seed if seed is not None else random.SystemRandom().randrange(2**31)
    code = run_suite(
        loaded,
        broken,
        seed=seed,
        time_scale=time_scale,
        env=env,
        report_dir=report_dir,
        out=out,
        err=err,
        jobs=at_once,
    )
    raise typer.Exit(code)


@app.command()
def gameday(
    path: Annotated[Path, typer.Argument(help="the scenario file whose incident is rehearsed")],
    env: Annotated[
        Environment, typer.Option(help="local: processes; docker: containers")
    ] = Environment.local,
    time_scale: Annotated[
        float, typer.Option(min=0.001, help="multiplies every scenario time and ${scaled:...}")
    ] = 1.0,
    compress: Annotated[
        float | None,
        typer.Option(
            min=0.001,
            help="divides the runbook's time_to_resolve target [default: 1, the real target; "
            "the scenario's own compress is for automated drills]",
        ),
    ] = None,
    responder: Annotated[
        str, typer.Option(help="who is at the keyboard first (the console's 'as NAME' changes it)")
    ] = os.environ.get("USER", "responder"),
    inject_after: Annotated[
        float | None,
        typer.Option(
            help="inject the fault this many seconds after the steady state [default: on Enter]"
        ),
    ] = None,
    max_duration: Annotated[
        float | None,
        typer.Option(
            min=1,
            help="seconds from the fault on, then everything rolls back [default: 3x the target]",
        ),
    ] = None,
    status_every: Annotated[
        float, typer.Option(min=0.5, help="seconds between status lines")
    ] = 10.0,
    seed: Annotated[int | None, typer.Option(help="drives every random choice")] = None,
    report_dir: Annotated[Path, typer.Option(help="where the journal and reports go")] = Path(
        "reports"
    ),
) -> None:
    """Run a scenario's incident live, with people in the loop: provision, show the steady
    state, inject the fault when you press Enter, then hand over — the runbook's steps at a
    console (run, done, skip, exec, status, abort), live status, and the incident declared
    resolved when the scenario's recovery check holds. The record (who did what when, time to
    detect and to resolve against the runbook's target) goes into the same journal and reports.

    Exit 0 when resolved within the target, 1 when not, 2 when aborted or it could not run.
    """
    from harness.errors import HarnessError
    from harness.gameday import GameDay, GameDayOptions, gameday_scenario
    from harness.runbooks.parser import parse_runbook
    from harness.scenario.loader import LoadedScenario
    from harness.scenario.model import RunbookDrill
    from harness.suite import run_suite

    loaded, broken = _load([path])
    for problem in broken:
        err.print(f"bad  {problem}", highlight=False, soft_wrap=True)
    if broken or not loaded:
        raise typer.Exit(EXIT_ERRORED)
    item = loaded[0]
    try:
        scenario = gameday_scenario(item.scenario, compress)
        drill = scenario.runbook
        assert isinstance(drill, RunbookDrill)  # gameday_scenario checked it
        target_s = parse_runbook(Path(drill.path)).front.time_to_resolve_s / drill.compress
    except (ValueError, HarnessError) as exc:
        err.print(f"error: {path}: {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_ERRORED) from None
    options = GameDayOptions(
        responder=responder,
        inject_after_s=inject_after,
        max_duration_s=max_duration if max_duration is not None else 3 * target_s * time_scale,
        status_every_s=status_every,
    )
    lines = (line.rstrip("\n") for line in iter(sys.stdin.readline, ""))
    code = run_suite(
        [LoadedScenario(item.path, scenario)],
        [],
        seed=seed if seed is not None else random.SystemRandom().randrange(2**31),
        time_scale=time_scale,
        env=env,
        report_dir=report_dir,
        out=out,
        err=err,
        strategy=GameDay(options, lines, out),
        live=False,  # the console takes input: no live progress bar redrawing over it
    )
    raise typer.Exit(code)


@app.command()
def report(
    journals: Annotated[
        list[Path],
        typer.Argument(help="journal.json files, run directories or report directories"),
    ],
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out", help="write here (DIR/<run>/report.html, DIR/index.html); default: beside"
        ),
    ] = None,
) -> None:
    """Render the HTML report and JUnit XML of runs again from their journals, and the index of
    the runs in each report directory."""
    from harness.report import NotAJournal, find_journals, render_again

    found = find_journals(journals)
    if not found:
        err.print(
            f"error: no journal.json under {', '.join(map(str, journals))}; give a journal, "
            "a run directory (reports/run-*) or a report directory (reports)",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_ERRORED)
    try:
        for journal, written in render_again(found, out_dir):
            word = "ok  " if journal.is_file() else "runs"  # a report directory: its index
            out.print(f"{word} {'  '.join(map(str, written))}", highlight=False, soft_wrap=True)
    except NotAJournal as exc:
        err.print(f"bad  {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_ERRORED) from None


@app.command()
def probe(
    url: Annotated[str, typer.Argument(help="http:// or https:// URL to GET")],
    status: Annotated[
        list[int] | None,
        typer.Option(help="the status that counts as up (repeatable; default: any 2xx)"),
    ] = None,
    timeout: Annotated[float, typer.Option(min=0.001, help="seconds to wait for the answer")] = 5.0,
) -> None:
    """GET URL once and print how it answered: exit 0 when the status is the one expected, 1
    when it is not or nothing answered. A check an on-call can run from a runbook."""
    import time

    import httpx

    from harness.httpclient import request

    if not url.startswith(("http://", "https://")):
        err.print(f"error: {url!r} is not an http:// or https:// URL", highlight=False)
        raise typer.Exit(EXIT_ERRORED)
    began = time.perf_counter()
    try:
        answer = request("GET", url, timeout=timeout)
    except httpx.HTTPError as exc:
        out.print(f"{url}: no answer ({type(exc).__name__}: {exc})", highlight=False)
        raise typer.Exit(EXIT_FAILED) from None
    took_ms = (time.perf_counter() - began) * 1000
    up = answer.status_code in status if status else 200 <= answer.status_code < 300
    out.print(
        f"{url}: {answer.status_code} {answer.reason_phrase} in {took_ms:.0f} ms"
        + ("" if up else f" (expected {', '.join(map(str, status)) if status else 'a 2xx'})"),
        highlight=False,
    )
    if not up:
        raise typer.Exit(EXIT_FAILED)


app.command("init")(init_command.init)


runbooks_app = typer.Typer(help="Runbooks: check them offline.", no_args_is_help=True)
app.add_typer(runbooks_app, name="runbooks")


@runbooks_app.command("lint")
def runbooks_lint(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="runbook files or directories (default: runbooks)")
    ] = None,
    scenarios: Annotated[
        Path, typer.Option(help="where the scenarios that runbooks name live")
    ] = Path("scenarios"),
) -> None:
    """Check runbooks without running an incident: front matter, sections, step ids, the
    scenarios they name, and every command (installed, answers --help, knows each --option).
    Every problem with its file and line; exit 1 if any."""
    from harness.runbooks import lint_runbooks, runbook_files

    files = runbook_files(paths or [Path("runbooks")])
    if not files:
        err.print("error: no runbook files found (*.md)", highlight=False)
        raise typer.Exit(EXIT_ERRORED)
    from harness.scenario.loader import load_scenarios

    loaded, _broken = load_scenarios([scenarios])
    results = lint_runbooks(files, {item.scenario.id: item.scenario for item in loaded})
    for result in results:
        if not result.problems:
            steps = len(result.runbook.steps) if result.runbook else 0
            out.print(f"ok   {result.path}  ({steps} steps)", highlight=False)
        for line, message in result.problems:
            where = f"{result.path}:{line}" if line else result.path
            err.print(f"bad  {where}: {message}", highlight=False, soft_wrap=True)
    if any(r.problems for r in results):
        raise typer.Exit(EXIT_FAILED)


fake_app = typer.Typer(help="Fake dependencies to run as scenario services.", no_args_is_help=True)
app.add_typer(fake_app, name="fake")


@fake_app.command("erp")
def fake_erp(
    port: Annotated[int, typer.Option(help="port to listen on")],
    stock: Annotated[str, typer.Option(help="initial levels: SKU=NUMBER,...")] = "",
    host: Annotated[
        str | None,
        typer.Option(help="address to listen on [default: CHAOSGATE_FAKE_HOST or loopback]"),
    ] = None,
) -> None:
    """A fake ERP stock API (GET /stock, GET /health) with outage modes set at /_fake/mode."""
    from harness.fakes.erp import main as serve_erp

    serve_erp(["--port", str(port), "--stock", stock, *(["--host", host] if host else [])])


def main() -> None:
    app()


if __name__ == "__main__":
    main()
