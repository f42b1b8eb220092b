"""``chaosgate init``: the command's flags and questions, turned into :mod:`harness.scaffold`'s
answers; what it writes is decided there."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from harness.exits import EXIT_ERRORED

__all__ = ["init"]

out = Console(markup=False)
err = Console(stderr=True, markup=False)


def init(
    directory: Annotated[
        Path, typer.Argument(help="where to write scenarios/, runbooks/ and loads/")
    ] = Path("."),
    name: Annotated[str | None, typer.Option(help="the service's name, e.g. orders-api")] = None,
    command: Annotated[
        str | None,
        typer.Option(help="how the service starts, with {port} where its port goes"),
    ] = None,
    health: Annotated[
        str | None, typer.Option(help="its health check's path, answering 200 when well")
    ] = None,
    postgres: Annotated[
        list[str] | None,
        typer.Option(help="a PostgreSQL it uses: the variable(s) given its URL, VAR[,VAR]"),
    ] = None,
    redis: Annotated[
        list[str] | None,
        typer.Option(help="a Redis it uses: the variable(s) given its URL, VAR[,VAR]"),
    ] = None,
    before_start: Annotated[
        str | None, typer.Option(help="run once before it first starts (migrations)")
    ] = None,
    env: Annotated[
        list[str] | None, typer.Option(help="more of its environment, NAME=VALUE (repeatable)")
    ] = None,
    image: Annotated[
        str | None, typer.Option(help="the image with the command, for --env docker")
    ] = None,
    write: Annotated[
        str | None, typer.Option(help="a path it acknowledges writes at (POST), for the history")
    ] = None,
    body: Annotated[str, typer.Option(help="a write's JSON body; {n} is a number per write")] = (
        '{"n": {n}}'
    ),
    key: Annotated[str, typer.Option(help="dotted path of the written id in the answer")] = "id",
    read: Annotated[
        str | None, typer.Option(help="the path that reads one write back, with {key}")
    ] = None,
    header: Annotated[
        list[str] | None,
        typer.Option(help="a header of writes and reads, 'Name: value' (repeatable)"),
    ] = None,
    latency_ms: Annotated[int, typer.Option(help="the latency the slow steps add")] = 300,
    force: Annotated[bool, typer.Option(help="replace files that exist")] = False,
    no_input: Annotated[bool, typer.Option(help="never ask; fail on what is missing")] = False,
) -> None:
    """Write a starter scenario for your own service — Toxiproxy in front of each dependency, a
    steady state, a latency and an outage step per dependency, an invariant over what it
    acknowledged — with a runbook skeleton it drills, and the locustfile of its writes. Asks
    for what the flags do not give when run at a terminal."""
    from harness import scaffold

    ask = not no_input and sys.stdin.isatty()

    def need(value: str | None, flag: str, question: str) -> str:
        if value is None and ask:
            value = typer.prompt(question)
        if value is None:
            err.print(f"error: {flag} is missing (or run at a terminal to be asked)")
            raise typer.Exit(EXIT_ERRORED)
        return value

    name = need(name, "--name", "The service's name (e.g. orders-api)")
    command = need(command, "--command", "How it starts, with {port} where its port goes")
    health = need(health, "--health", "Its health check's path (e.g. /health)")
    if ask and not postgres and not redis:
        postgres = [
            v
            for v in [
                typer.prompt(
                    "Variable given a PostgreSQL URL (empty: none)", default="", show_default=False
                )
            ]
            if v
        ]
        redis = [
            v
            for v in [
                typer.prompt(
                    "Variable given a Redis URL (empty: none)", default="", show_default=False
                )
            ]
            if v
        ]
    if ask and write is None:
        write = (
            typer.prompt(
                "A path it acknowledges writes at, POST (empty: none)",
                default="",
                show_default=False,
            )
            or None
        )
        if write and read is None:
            read = typer.prompt("The path that reads one back, with {key}")
    problems: list[str] = []
    try:
        words = tuple(shlex.split(command))
        before = tuple(shlex.split(before_start)) if before_start else ()
    except ValueError as exc:
        err.print(f"error: --command/--before-start does not parse as words: {exc}")
        raise typer.Exit(EXIT_ERRORED) from None
    extra: dict[str, str] = {}
    for item in env or []:
        var, sep, value = item.partition("=")
        if not sep:
            problems.append(f"--env {item!r}: give NAME=VALUE")
        extra[var] = value
    headers: dict[str, str] = {}
    for item in header or []:
        field, sep, value = item.partition(":")
        if not sep or not field.strip():
            problems.append(f"--header {item!r}: give 'Name: value'")
        headers[field.strip()] = value.strip()
    if (write is None) != (read is None):
        problems.append("--write and --read go together: where writes go, and how one reads back")
    deps = [
        *(scaffold.Dependency("postgres", scaffold.variables(spec)) for spec in postgres or []),
        *(scaffold.Dependency("redis", scaffold.variables(spec)) for spec in redis or []),
    ]
    answers = scaffold.Answers(
        name=name,
        command=words,
        health=health,
        dependencies=tuple(deps),
        before_start=before,
        env=extra,
        headers=headers,
        image=image,
        writes=scaffold.Writes(write, body, key, read) if write and read else None,
        latency_ms=latency_ms,
    )
    problems += scaffold.check(answers)
    if problems:
        for problem in problems:
            err.print(f"error: {problem}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_ERRORED)
    try:
        written = scaffold.write_files(scaffold.plan(answers), directory, force=force)
    except (FileExistsError, OSError) as exc:
        err.print(f"error: {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_ERRORED) from None
    for path in written:
        out.print(f"wrote {path}", highlight=False)
    where = "" if directory == Path(".") else f"cd {directory} && "
    out.print(
        f"next: {where}chaosgate validate scenarios/{name}.yaml && chaosgate runbooks lint && "
        f"chaosgate run scenarios/{name}.yaml",
        highlight=False,
        soft_wrap=True,
    )
