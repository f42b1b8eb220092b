"""What can be checked about a runbook without running its incident: the file parses, the
scenarios it names exist, every command's program is installed, answers ``--help`` for the
subcommand used, and knows every ``--option`` the runbook passes it. Lint never runs a program's
behaviour: it descends into a subcommand only when its parent's ``--help`` lists it, so an
argument (``python3 payload.py``) is never handed ``--help`` to run. Each problem names the file
and line, so a renamed flag fails CI where the runbook says it."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.commands import last_words, run_bounded
from harness.errors import RunbookInvalid
from harness.runbooks.model import Runbook
from harness.runbooks.parser import parse_runbook
from harness.runbooks.verify import expand_vars, shell_words
from harness.scenario.model import RunbookDrill, Scenario

__all__ = ["HelpCache", "LintResult", "lint_runbooks"]


@dataclass(frozen=True)
class LintResult:
    path: str
    runbook: Runbook | None
    problems: list[tuple[int | None, str]]


class HelpCache:
    """``<command prefix> --help`` output, asked once per prefix."""

    def __init__(self, env: Mapping[str, str] | None = None, timeout_s: float = 30.0) -> None:
        self._env = {**os.environ, **(env or {})}
        self._timeout_s = timeout_s
        self._answers: dict[tuple[str, ...], tuple[int, str]] = {}

    def help(self, prefix: tuple[str, ...]) -> tuple[int, str]:
        if prefix not in self._answers:
            try:
                done = run_bounded([*prefix, "--help"], env=self._env, timeout_s=self._timeout_s)
                self._answers[prefix] = (done.returncode, done.stdout + done.stderr)
            except subprocess.TimeoutExpired:
                self._answers[prefix] = (-1, f"no answer within {self._timeout_s:g} s")
            except OSError as exc:
                self._answers[prefix] = (-1, str(exc))
        return self._answers[prefix]


def _check_command(
    command: str, line: int, cache: HelpCache, env: Mapping[str, str]
) -> list[tuple[int | None, str]]:
    try:
        words = [expand_vars(word, env) for word in shlex.split(command)]
    except ValueError as exc:
        return [(line, f"{command!r} does not parse: {exc}")]
    shell = shell_words(words)
    if shell is not None:
        return [
            (
                line,
                f"{command!r}: {shell}, and runbook commands run without a shell: write one "
                "command per line (each is judged in turn) and match what it prints with "
                "expect-output or expect-count",
            )
        ]
    unknown = sorted({m for w in words for m in re.findall(r"\$\{?([A-Za-z_]\w*)", w)})
    if unknown:
        names = ", ".join(f"${n}" for n in unknown)
        return [(line, f"{names} in {command!r} is not in the drill's env (runbook.env)")]
    program = words[0]
    if shutil.which(program, path=env.get("PATH")) is None:
        where = "the drill's PATH" if "PATH" in env else "PATH"
        return [(line, f"{program!r} is not installed or not on {where} ({command!r})")]
    prefix: tuple[str, ...] = (program,)
    code, text = cache.help(prefix)
    # Descend into subcommands only as far as each parent's --help lists them: a positional
    # that is not a listed subcommand is an argument (a script, a queue name), and asking
    # 'python3 payload.py --help' would run the payload.
    for word in _until_option(words[1:]):
        if code != 0:
            break
        if not _lists_command(text, word):
            if _is_group(text):
                said = " ".join(prefix)
                return [(line, f"'{said}' has no command {word!r} (see '{said} --help')")]
            break
        prefix += (word,)
        code, text = cache.help(prefix)
    if code != 0:
        return [
            (
                line,
                f"'{' '.join(prefix)} --help' exits {code}: the command does not exist "
                f"({last_words(text)})",
            )
        ]
    problems: list[tuple[int | None, str]] = []
    for word in words[len(prefix) :]:
        if not word.startswith("--"):
            continue
        option = word.split("=", 1)[0]
        if not re.search(rf"(^|[\s,\[(]){re.escape(option)}(?![\w-])", text):
            problems.append((line, f"'{' '.join(prefix)}' has no option {option} (see its --help)"))
    return problems


_BORDERS = " \t│|┃"


def _lists_command(help_text: str, word: str) -> bool:
    """Whether ``help_text`` lists ``word`` as a subcommand: a line that starts with it (Click,
    Typer's boxes) or a ``{a,b}`` choice list (argparse)."""
    if not re.fullmatch(r"[A-Za-z][\w-]*", word):
        return False  # paths, numbers, globs: arguments, never commands
    for text_line in help_text.splitlines():
        head = text_line.lstrip(_BORDERS)
        if head == word or head.startswith((f"{word} ", f"{word}\t", f"{word},")):
            return True
    return re.search(rf"{{([\w-]+,)*{re.escape(word)}(,[\w-]+)*}}", help_text) is not None


def _is_group(help_text: str) -> bool:
    """Whether ``help_text`` is a command group's: it has a Commands section (Click, Typer)."""
    return re.search(r"^[\W]*commands\b", help_text, re.IGNORECASE | re.MULTILINE) is not None


def _until_option(words: list[str]) -> Iterable[str]:
    for word in words:
        if word.startswith("-"):
            return
        yield word


def _scenario_problems(
    path: Path, runbook: Runbook, scenarios: Mapping[str, Scenario], root: Path
) -> list[tuple[int | None, str]]:
    """Each scenario the runbook names exists and verifies it; one of them executes it."""
    at = runbook.keys.get("scenarios")
    known = ", ".join(sorted(scenarios)) or "none"
    problems: list[tuple[int | None, str]] = []
    drilled = False
    for name in runbook.front.scenarios:
        scenario = scenarios.get(name)
        if scenario is None:
            problems.append((at, f"scenario {name!r} does not exist (known: {known})"))
            continue
        target = scenario.runbook_path
        if target is None or (root / target).resolve() != path.resolve():
            problems.append(
                (at, f"scenario {name!r} does not verify this runbook (its runbook: {target})")
            )
            continue
        drilled = drilled or isinstance(scenario.runbook, RunbookDrill)
    if not problems and not drilled:
        problems.append(
            (at, "no scenario named here executes this runbook (give one a runbook drill)")
        )
    return problems


def _drill_env(path: Path, scenarios: Mapping[str, Scenario], root: Path) -> dict[str, str]:
    """The environment the drills of this runbook give its commands, as far as it is known
    before a run (a ``${...}`` value is only known then: a placeholder stands for it)."""
    env: dict[str, str] = {}
    for scenario in scenarios.values():
        drill = scenario.runbook
        if isinstance(drill, RunbookDrill) and (root / drill.path).resolve() == path.resolve():
            env.update({k: v if "${" not in v else f"<{k}>" for k, v in drill.env.items()})
    return env


def lint_runbooks(
    paths: list[Path],
    scenarios: Mapping[str, Scenario],
    *,
    root: Path | None = None,
    env: Mapping[str, str] | None = None,
    cache: HelpCache | None = None,
) -> list[LintResult]:
    """Lint every runbook file; a file that does not parse reports its parse problems.

    ``scenarios`` by id; their runbook paths are relative to ``root`` (default: the current
    directory). ``cache`` keeps ``--help`` answers across calls (tests lint many variants)."""
    root = root or Path.cwd()
    cache = cache or HelpCache(env)
    results = []
    for path in paths:
        try:
            runbook = parse_runbook(path)
        except RunbookInvalid as exc:
            results.append(LintResult(str(path), None, list(exc.problems)))
            continue
        problems = _scenario_problems(path, runbook, scenarios, root)
        drill_env = _drill_env(path, scenarios, root)
        for step in runbook.steps:
            for line, command in step.commands:
                problems.extend(_check_command(command, line, cache, drill_env))
        results.append(LintResult(str(path), runbook, problems))
    return results
