"""Runbooks as the harness reads them: front matter, sections, and steps with stable ids.

A runbook is plain Markdown that an on-call engineer reads. The machine-checkable parts stay
out of the reader's way:

- YAML front matter: ``id``, ``title``, ``severity`` (P0-P3), ``owner``, ``scenarios`` (ids of
  the scenarios that verify it) and ``time_to_resolve`` (``30m``; scaled with the run).
- Sections by heading: ``Symptoms``, ``Diagnosis``, ``Resolution``, ``Rollback``.
- Steps are fenced blocks whose info string carries attributes (GitHub shows only the
  language): ```` ```sh step=dead-letters expect-output="evt_" ````. Each non-empty, non-comment
  line of a ``sh`` block is one command, run without a shell, in order. Attributes: ``step``
  (the id), ``expect-exit`` (every command's exit code, default 0), ``expect-output`` (a regex
  the last command's output must contain; ``^``/``$`` match at lines), ``expect-no-output`` (a
  regex it must not contain), ``expect-count`` (the last command prints a JSON list of this
  many items: ``3``, ``>=1``, ``<5``), ``within`` (keep re-running the step until its
  expectations hold, for at most this long, scaled with the run: ``within=20s``) and
  ``timeout`` (per command, ``30s``). A ``text`` block with ``human`` is a step a person does
  (contact the provider): reported, never faked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["Count", "FrontMatter", "Runbook", "Section", "Step", "parse_count", "parse_duration_s"]

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(ms|s|m|h)$")
_COUNT = re.compile(r"^(==|>=|<=|>|<)?\s*(\d+)$")


@dataclass(frozen=True)
class Count:
    """``expect-count``: a comparison with a number of items."""

    op: str
    value: int

    def holds(self, n: int) -> bool:
        return {
            "==": n == self.value,
            ">=": n >= self.value,
            "<=": n <= self.value,
            ">": n > self.value,
            "<": n < self.value,
        }[self.op]

    def __str__(self) -> str:
        return f"{'' if self.op == '==' else self.op}{self.value}"


def parse_count(text: str) -> Count:
    """``">=1"`` -> Count(">=", 1); ValueError naming the value otherwise."""
    match = _COUNT.match(text.strip())
    if match is None:
        raise ValueError(f"expect-count {text!r} is not a count like 3, >=1 or <10")
    return Count(match[1] or "==", int(match[2]))


def parse_duration_s(text: str) -> float:
    """``"30m"`` -> 1800.0; ValueError naming the value otherwise."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a duration like 90s, 30m or 1h")
    value, unit = float(match[1]), match[2]
    return value * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]


class Section(StrEnum):
    SYMPTOMS = "symptoms"
    DIAGNOSIS = "diagnosis"
    RESOLUTION = "resolution"
    ROLLBACK = "rollback"


Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]


class FrontMatter(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Slug
    title: str = Field(min_length=1)
    severity: Literal["P0", "P1", "P2", "P3"]
    owner: str = Field(min_length=1, description="the team or rota that owns it")
    scenarios: list[Slug] = Field(min_length=1, description="ids of the scenarios verifying it")
    time_to_resolve: str = Field(description="target from fault start to recovery, e.g. 30m")

    @field_validator("time_to_resolve")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration_s(value)
        return value

    @property
    def time_to_resolve_s(self) -> float:
        return parse_duration_s(self.time_to_resolve)


@dataclass(frozen=True)
class Step:
    """One fenced step: its commands (or a human instruction), expectations and place."""

    id: str
    section: Section
    line: int  # of the opening fence, 1-based
    kind: Literal["commands", "human"]
    commands: list[tuple[int, str]] = field(default_factory=list)  # (line, command)
    text: str = ""
    expect_exit: int = 0
    expect_output: str | None = None
    expect_no_output: str | None = None
    expect_count: Count | None = None
    within_s: float | None = None
    timeout_s: float = 60.0

    @property
    def expectation(self) -> str:
        """What the step promises, in words (journal and messages)."""
        if self.kind == "human":
            return "done by a person"
        parts = [f"exit {self.expect_exit}"]
        if self.expect_output is not None:
            parts.append(f"output matches {self.expect_output!r}")
        if self.expect_no_output is not None:
            parts.append(f"output does not match {self.expect_no_output!r}")
        if self.expect_count is not None:
            parts.append(f"a JSON list of {self.expect_count} item(s)")
        if self.within_s is not None:
            parts.append(f"within {self.within_s:g} s")
        return ", ".join(parts)


@dataclass(frozen=True)
class Runbook:
    path: str
    front: FrontMatter
    steps: list[Step]
    sections: dict[Section, int]  # section -> line of its heading
    keys: dict[str, int] = field(default_factory=dict)  # front matter key -> its line

    def in_section(self, section: Section) -> list[Step]:
        return [s for s in self.steps if s.section is section]
