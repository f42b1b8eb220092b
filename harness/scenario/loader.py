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
from harness.files import UnreadableFile, read_text
from harness.scenario.model import Scenario
from harness.scenario.references import reference_problems

__all__ = ["LoadedScenario", "load_scenario", "load_scenarios", "scenario_files"]

Problem = tuple[str, int | None, str]
YamlPath = tuple[str | int, ...]


@dataclass(frozen=True)
class LoadedScenario:
    path: Path
    scenario: Scenario


#: nodes a scenario may expand to (aliases included): far past any real scenario, short of a
#: "billion laughs" file that would take the machine
MAX_NODES = 100_000
#: how deeply a scenario may nest
MAX_DEPTH = 64


#: the tags a plain mapping or list has
_COLLECTIONS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


class _Unsafe(Exception):
    """The YAML cannot be walked safely; ``line`` where it showed."""

    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


class _Walk:
    """One walk over a composed document: scalars built by PyYAML's safe constructor, the node
    count bounded, recursion refused."""

    def __init__(self, problems: list[Problem], lines: dict[YamlPath, int]) -> None:
        self.problems = problems
        self.lines = lines
        self.nodes = 0
        self.constructor = yaml.constructor.SafeConstructor()
        self.on_path: set[int] = set()

    def scalar(self, node: yaml.Node, at: YamlPath) -> Any:
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            self.problems.append((_dotted(at), node.start_mark.line + 1, f"not valid YAML: {exc}"))
            return None

    def construct(self, node: yaml.Node, at: YamlPath) -> Any:
        line = node.start_mark.line + 1
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _Unsafe(line, f"the file expands to over {MAX_NODES} values (aliases?)")
        if len(at) > MAX_DEPTH:
            raise _Unsafe(line, f"nested over {MAX_DEPTH} levels deep")
        if id(node) in self.on_path:
            raise _Unsafe(line, "an alias refers to a value that contains it (recursive)")
        self.lines[at] = line
        if isinstance(node, yaml.CollectionNode) and node.tag not in _COLLECTIONS:
            self.problems.append((_dotted(at), line, f"not valid YAML: unknown tag {node.tag!r}"))
        if isinstance(node, yaml.MappingNode):
            self.on_path.add(id(node))
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    self.problems.append(
                        (
                            _dotted(at),
                            key_node.start_mark.line + 1,
                            "a key is a name, not a list or mapping",
                        )
                    )
                    continue
                key = self.scalar(key_node, at)
                if key in result:
                    self.problems.append(
                        (
                            _dotted((*at, key)),
                            key_node.start_mark.line + 1,
                            f"duplicate key {key!r} (an earlier value would be ignored)",
                        )
                    )
                result[key] = self.construct(value_node, (*at, key))
                self.lines[(*at, key)] = key_node.start_mark.line + 1  # the key, not the value
            self.on_path.discard(id(node))
            return result
        if isinstance(node, yaml.SequenceNode):
            self.on_path.add(id(node))
            items = [self.construct(item, (*at, i)) for i, item in enumerate(node.value)]
            self.on_path.discard(id(node))
            return items
        return self.scalar(node, at)


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
        text = read_text(path)
    except UnreadableFile as exc:
        raise ScenarioInvalid(str(path), [("", None, str(exc))]) from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ScenarioInvalid(str(path), [("", line, f"not valid YAML: {exc}")]) from None
    except RecursionError:
        raise ScenarioInvalid(str(path), [("", None, "nested too deeply to read")]) from None
    if root is None:
        raise ScenarioInvalid(str(path), [("", None, "the file is empty")])
    problems: list[Problem] = []
    lines: dict[YamlPath, int] = {}
    try:
        data = _Walk(problems, lines).construct(root, ())
    except _Unsafe as unsafe:
        raise ScenarioInvalid(str(path), [("", unsafe.line, unsafe.message)]) from None
    if data is None:
        raise ScenarioInvalid(str(path), [("", None, "the file is empty")])
    if not isinstance(data, dict):
        found = [("", 1, "a scenario file is a mapping (id:, title:, ...)")]
        raise ScenarioInvalid(str(path), [*problems, *found])
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
