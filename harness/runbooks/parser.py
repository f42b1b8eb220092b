"""Read a runbook file into a :class:`~harness.runbooks.model.Runbook`, or say everything that is
wrong with it, each problem with its line."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import yaml
from markdown_it import MarkdownIt
from pydantic import ValidationError

from harness.errors import RunbookInvalid
from harness.files import UnreadableFile, read_text
from harness.runbooks.model import (
    FrontMatter,
    Runbook,
    Section,
    Step,
    parse_count,
    parse_duration_s,
)

__all__ = ["parse_runbook", "runbook_files"]

_ATTRIBUTES = {
    "step",
    "expect-exit",
    "expect-output",
    "expect-no-output",
    "expect-count",
    "within",
    "timeout",
    "human",
}


def runbook_files(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        found.extend(sorted(path.glob("*.md")) if path.is_dir() else [path])
    return [p for p in found if p.name.lower() != "readme.md"]


def _key_lines(text: str, length: int) -> dict[str, int]:
    """The line (1-based) of each top-level key of the front matter, which takes ``length``
    lines from the top."""
    lines = text.split("\n")[1 : max(1, length - 1)]
    found: dict[str, int] = {}
    for number, line in enumerate(lines, start=2):
        if match := re.match(r"([A-Za-z_][\w-]*)\s*:", line):
            found.setdefault(match[1], number)
    return found


def _front_matter(text: str, problems: list[tuple[int | None, str]]) -> tuple[Any, int]:
    """The YAML mapping and the number of lines it takes (0 when absent)."""
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        problems.append((1, "no front matter: start the file with a '---' YAML block"))
        return None, 0
    for end, line in enumerate(lines[1:], start=1):
        if line.strip() == "---":
            try:
                return yaml.safe_load("\n".join(lines[1:end])), end + 1
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                at = mark.line + 2 if mark is not None else 1
                problems.append((at, f"front matter is not YAML: {exc}"))
                return None, end + 1
            except RecursionError:
                problems.append((2, "front matter is nested too deeply to read"))
                return None, end + 1
    problems.append((1, "front matter is not closed by a '---' line"))
    return None, 0


def _attributes(info: str, line: int, problems: list[tuple[int | None, str]]) -> dict[str, str]:
    try:
        words = shlex.split(info)
    except ValueError as exc:
        problems.append((line, f"fence attributes do not parse ({exc}): {info!r}"))
        return {}
    attrs: dict[str, str] = {"lang": words[0] if words else ""}
    for word in words[1:]:
        key, sep, value = word.partition("=")
        if key not in _ATTRIBUTES:
            problems.append(
                (line, f"unknown fence attribute {key!r}; use {', '.join(sorted(_ATTRIBUTES))}")
            )
            continue
        attrs[key] = value if sep else "true"
    return attrs


def _step(
    attrs: dict[str, str],
    content: str,
    section: Section,
    line: int,
    problems: list[tuple[int | None, str]],
) -> Step | None:
    step_id = attrs["step"]
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,63}", step_id):
        problems.append((line, f"step id {step_id!r}: use lower-case letters, digits and '-'"))
        return None
    if "human" in attrs:
        return Step(step_id, section, line, "human", text=content.strip())
    if attrs["lang"] not in ("sh", "bash", "shell", "console"):
        problems.append((line, f"step {step_id}: a command step is a sh block, or mark it human"))
        return None
    commands = []
    refused = False
    for offset, raw in enumerate(content.split("\n"), start=1):
        command = raw.strip()
        if not command or command.startswith("#"):
            continue
        command = command.removeprefix("$ ")
        if re.search(r"(^|\s)(\||&&|;|>|<)(\s|$)", command):
            problems.append(
                (
                    line + offset,
                    f"step {step_id}: {command!r} needs a shell (pipes, redirects, chains); "
                    "runbook commands run without one: split it into steps",
                )
            )
            refused = True
            continue
        commands.append((line + offset, command))
    if not commands:
        if not refused:
            problems.append((line, f"step {step_id}: the block has no command"))
        return None
    try:
        expect_exit = int(attrs.get("expect-exit", "0"))
        timeout_s = parse_duration_s(attrs.get("timeout", "60s"))
        within_s = parse_duration_s(attrs["within"]) if "within" in attrs else None
        count = parse_count(attrs["expect-count"]) if "expect-count" in attrs else None
        for key in ("expect-output", "expect-no-output"):
            if key in attrs:
                re.compile(attrs[key])
    except (ValueError, re.error) as exc:
        problems.append((line, f"step {step_id}: {exc}"))
        return None
    return Step(
        step_id,
        section,
        line,
        "commands",
        commands=commands,
        expect_exit=expect_exit,
        expect_output=attrs.get("expect-output"),
        expect_no_output=attrs.get("expect-no-output"),
        expect_count=count,
        within_s=within_s,
        timeout_s=timeout_s,
    )


def parse_runbook(path: Path) -> Runbook:
    """Parse one runbook.

    Raises:
        RunbookInvalid: every problem found, each with its line.
    """
    try:
        text = read_text(path)
    except UnreadableFile as exc:
        raise RunbookInvalid(str(path), [(None, str(exc))]) from None
    problems: list[tuple[int | None, str]] = []
    raw_front, skipped = _front_matter(text, problems)
    keys = _key_lines(text, skipped)
    front: FrontMatter | None = None
    if raw_front is not None:
        try:
            front = FrontMatter.model_validate(raw_front)
        except ValidationError as exc:
            for error in exc.errors():
                where = ".".join(str(p) for p in error["loc"]) or "front matter"
                at = keys.get(str(error["loc"][0])) if error["loc"] else None
                problems.append((at or 2, f"front matter {where}: {error['msg']}"))
        except RecursionError:  # an alias that contains itself
            problems.append((2, "front matter refers to itself (a recursive alias)"))
    body = "\n".join(text.split("\n")[skipped:])
    sections: dict[Section, int] = {}
    steps: list[Step] = []
    current: Section | None = None
    tokens = MarkdownIt("commonmark").parse(body)
    for i, token in enumerate(tokens):
        line = (token.map[0] if token.map else 0) + skipped + 1
        if token.type == "heading_open" and token.tag == "h2":
            title = tokens[i + 1].content.strip().lower()
            current = next((s for s in Section if title.startswith(s.value)), None)
            if current is not None:
                sections[current] = line
        elif token.type == "fence":
            attrs = _attributes(token.info, line, problems)
            if "step" not in attrs:
                continue  # an illustration, not a step
            if current is None:
                problems.append(
                    (
                        line,
                        f"step {attrs['step']} is outside Symptoms/Diagnosis/Resolution/Rollback",
                    )
                )
                continue
            step = _step(attrs, token.content, current, line, problems)
            if step is not None:
                steps.append(step)
    for section in Section:
        if section not in sections:
            problems.append((None, f"no '## {section.value.title()}' section"))
    seen: dict[str, int] = {}
    for step in steps:
        if step.id in seen:
            problems.append(
                (step.line, f"step id {step.id!r} is also used at line {seen[step.id]}")
            )
        seen.setdefault(step.id, step.line)
    if problems or front is None:
        raise RunbookInvalid(str(path), problems)
    return Runbook(str(path), front, steps, sections, keys)
