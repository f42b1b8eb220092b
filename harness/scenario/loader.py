"""Load scenario files: YAML → :class:`Scenario`, with every problem reported at once.

Each problem names its YAML path (``services.api.command``) and line, so a user fixes a broken
file in one pass. Duplicate keys — which YAML parsers silently resolve to the last value — are
problems too. One limit: checks across fields of one object (``kind: process`` needs a
``command``; references between services) run once that object's own fields are valid.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from harness.errors import ScenarioInvalid
from harness.scenario.model import Scenario
from harness.scenario.references import reference_problems

__all__ = ["LoadedScenario", "load_scenario", "load_scenarios", "scenario_files"]

Problem = tuple[str, int | None, str]
YamlPath = tuple[str | int, ...]


@dataclass(frozen=True)
class LoadedScenario:
    path: Path
    scenario: Scenario


def _construct(
    node: yaml.Node, at: YamlPath, lines: dict[YamlPath, int], problems: list[Problem]
) -> Any:
    lines[at] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.safe_load(yaml.serialize(key_node))
            if key in result:
                problems.append(
                    (
                        _dotted((*at, key)),
                        key_node.start_mark.line + 1,
                        f"duplicate key {key!r} (an earlier value would be ignored)",
                    )
                )
            result[key] = _construct(value_node, (*at, key), lines, problems)
            lines[(*at, key)] = key_node.start_mark.line + 1  # point at the key, not the value
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, (*at, i), lines, problems) for i, item in enumerate(node.value)]
    return yaml.safe_load(yaml.serialize(node))


def _dotted(path: Iterable[str | int]) -> str:
    return ".".join(str(p) for p in path)


def _line(loc: YamlPath, lines: dict[YamlPath, int]) -> int | None:
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _yaml_loc(loc: tuple[Any, ...], data: Any) -> YamlPath:
    """Pydantic locations include the tag of a tagged union (``probe.http.path`` for a probe of
    ``type: http``); keep only what is a YAML key or index, and name a missing field last."""
    kept: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part not in node and part == node.get("type"):
            continue  # the union tag
        kept.append(part)
        node = _child(node, part)
    return tuple(kept)


def _child(node: Any, part: Any) -> Any:
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return None


def load_scenario(path: Path) -> Scenario:
    """Parse and validate one scenario file.

    Raises:
        ScenarioInvalid: with every problem found, each with its YAML path and line.
    """
    try:
        text = path.read_text()
    except OSError as exc:
        raise ScenarioInvalid(
            str(path), [("", None, f"cannot read the file: {exc.strerror}")]
        ) from None
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ScenarioInvalid(str(path), [("", line, f"not valid YAML: {exc}")]) from None
    if root is None:
        raise ScenarioInvalid(str(path), [("", None, "the file is empty")])
    problems: list[Problem] = []
    lines: dict[YamlPath, int] = {}
    data = _construct(root, (), lines, problems)
    if not isinstance(data, dict):
        raise ScenarioInvalid(
            str(path), [("", 1, "a scenario file is a mapping (id:, title:, ...)")]
        )
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            loc = _yaml_loc(tuple(error["loc"]), data)
            message = error["msg"].removeprefix("Value error, ")
            problems.append((_dotted(loc), _line(loc, lines), message))
        scenario = None
    if scenario is not None:
        for loc, message in reference_problems(scenario, data):
            problems.append((_dotted(loc), _line(loc, lines), message))
    if problems:
        raise ScenarioInvalid(str(path), sorted(problems, key=lambda p: (p[1] or 0, p[0])))
    assert scenario is not None
    return scenario


def scenario_files(paths: Sequence[Path]) -> list[Path]:
    """The ``*.yaml``/``*.yml`` files named, or found in the directories named, sorted."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.suffix in {".yaml", ".yml"}))
        elif path.exists():
            files.append(path)
        else:
            raise ScenarioInvalid(str(path), [("", None, "no such file or directory")])
    return files


def load_scenarios(paths: Sequence[Path]) -> tuple[list[LoadedScenario], list[ScenarioInvalid]]:
    """Load every scenario under ``paths``; broken files are returned, not raised, so one bad
    file does not hide the others. Two files with the same ``id`` make the second one broken."""
    loaded: list[LoadedScenario] = []
    broken: list[ScenarioInvalid] = []
    seen: dict[str, Path] = {}
    for file in scenario_files(paths):
        try:
            scenario = load_scenario(file)
        except ScenarioInvalid as exc:
            broken.append(exc)
            continue
        if scenario.id in seen:
            broken.append(
                ScenarioInvalid(
                    str(file),
                    [("id", None, f"id {scenario.id!r} is already used by {seen[scenario.id]}")],
                )
            )
            continue
        seen[scenario.id] = file
        loaded.append(LoadedScenario(file, scenario))
    return loaded, broken
