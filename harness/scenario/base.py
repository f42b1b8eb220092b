"""What every part of the scenario model shares: frozen models that refuse unknown keys, and
the names and durations every file uses (every duration in seconds, ``*_s``)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Model", "Name", "PositiveSeconds", "Seconds", "check_regex"]

Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,62}$")]
Seconds = Annotated[float, Field(ge=0)]
PositiveSeconds = Annotated[float, Field(gt=0)]


class Model(BaseModel):
    """Frozen, and unknown keys are errors (a typo is never ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def check_regex(regex: str | None) -> None:
    """A model's regex compiles, or a ``ValueError`` naming it and why."""
    if regex is None:
        return
    try:
        re.compile(regex)
    except re.error as exc:
        raise ValueError(f"regex {regex!r} does not compile: {exc}") from None
