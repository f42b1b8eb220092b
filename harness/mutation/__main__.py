"""``python -m harness.mutation run|report``: mutation testing killed by the chaos scenarios.

``run`` spends a time budget on mutants without a result (the first run also maps, once,
which scenarios execute which function: the whole suite on the clean code), then writes the
report; ``report`` writes it from what is there. ``nox -s mutate`` runs ``run``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Annotated

import typer

from harness.mutation import driver
from harness.mutation import report as mutation_report

__all__ = ["app"]

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)

Root = Annotated[Path, typer.Option(help="the project: its pyproject.toml has [tool.mutmut]")]
Marks = Annotated[Path, typer.Option(help="equivalent mutants and each module's promise (TOML)")]


@app.command()
def run(
    budget: Annotated[float, typer.Option(help="seconds of wall time to spend, at most")] = 1800,
    children: Annotated[int, typer.Option(help="mutants tried at once")] = os.cpu_count() or 1,
    seed: Annotated[int, typer.Option(help="drives which untried mutants come first")] = 0,
    overbook: Annotated[
        float,
        typer.Option(
            help="plan this many times the budget's worth of worst cases (most mutants die in "
            "their first scenario; the deadline keeps the budget)"
        ),
    ] = 3.0,
    root: Root = Path("."),
    marks: Marks = Path("docs/mutation.toml"),
) -> None:
    """Try the untried mutants that fit the budget, then write the report."""
    if driver.mutmut_program() is None:
        typer.echo("mutation: mutmut is not installed: pip install 'mutmut==3.8.1'", err=True)
        raise typer.Exit(2)
    root = root.resolve()
    if driver.mutmut_config(root) is None:
        typer.echo(
            f"mutation: {root / 'pyproject.toml'} has no [tool.mutmut] table: name the package "
            "to mutate (source_paths, only_mutate) and the scenarios (see docs/mutation.md)",
            err=True,
        )
        raise typer.Exit(2)
    started = time.monotonic()
    typer.echo(f"mutation: budget {budget:.0f} s, {children} at once, seed {seed}")
    evidence = root / "reports" / "mutation" / "evidence"
    env = driver.environment(root, evidence)
    try:
        seconds = driver.prepare(root, env, children)
    except RuntimeError as exc:  # the clean code failed a scenario, or mutmut refused
        typer.echo(f"mutation: {exc}", err=True)
        raise typer.Exit(2) from None
    from mutmut.utils.format_utils import mangled_name_from_mutant_name as function_of

    stats = json.loads((root / "mutants" / "mutmut-stats.json").read_text("utf-8"))
    tests_of = {
        name: set(stats["tests_by_mangled_function_name"].get(function_of(name), []))
        for name in seconds
    }
    untried = [
        driver.Candidate(name, seconds.get(name, 0.0))
        for name, code in driver.results(root).items()
        if code is None
    ]
    left_s = budget - (time.monotonic() - started)
    plan = driver.choose(
        untried,
        budget_s=0.9 * left_s,
        children=children,
        clean_s=stats.get("duration_by_test", {}),
        tests_of=tests_of,
        seed=seed,
        overbook=overbook,
    )
    typer.echo(
        f"mutation: {len(untried) - len(plan.uncovered)} untried (and {len(plan.uncovered)} "
        "that no scenario runs, judged not covered without a run); "
        f"trying {len(plan.chosen)} now (about {plan.estimate_s:.0f} s), {plan.left} left for "
        f"later runs; {left_s:.0f} s of the budget left"
    )
    if plan.chosen:
        for candidate in plan.chosen:
            (evidence / f"{candidate.name}.jsonl").unlink(missing_ok=True)
        driver.run(
            root, [c.name for c in plan.chosen], env=env, children=children, deadline_s=left_s
        )
    _write(root, marks)
    typer.echo(f"mutation: {time.monotonic() - started:.0f} s of wall time (budget {budget:.0f} s)")


@app.command()
def report(root: Root = Path("."), marks: Marks = Path("docs/mutation.toml")) -> None:
    """Write the report from the results so far."""
    _write(root.resolve(), marks)


def _write(root: Path, marks: Path) -> None:
    data = mutation_report.build(root, marks if marks.is_absolute() else root / marks)
    html = mutation_report.write(data, root / "reports" / "mutation", root / "reports" / "bench")
    o = data["overall"]
    score = f"{o['score'] * 100:.1f}%" if o["score"] is not None else "no score yet"
    typer.echo(
        f"mutation: {score} killed of {o['killed'] + o['survived'] + o['not_covered']} judged "
        f"({o['killed']} killed, {o['survived']} survived, {o['not_covered']} run by no "
        f"scenario, {o['equivalent']} equivalent; {o['not_tried']} of {o['mutants']} not tried "
        f"yet); report {html}"
    )


if __name__ == "__main__":
    app()
