"""Report formats: each renders a run's journal into one file beside it.

Each format is a module of this package that registers itself in :data:`FORMATS` under its
name: ``html.py`` (``report.html``, one self-contained page) and ``junit.py`` (``junit.xml``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from harness.registry import Registry

__all__ = ["FORMATS", "OUTSIDE", "Format", "Render"]


#: marks a service log path that leads outside the run's directory: never read
OUTSIDE = "outside the run directory: "


class Render(Protocol):
    """Renders a journal (as ``chaosgate run`` wrote it) into the text of the report."""

    def __call__(self, journal: dict[str, Any], /) -> str: ...


@dataclass(frozen=True)
class Format:
    """A report format: the file it writes and how."""

    filename: str
    render: Render


#: every report format, by name
FORMATS: Registry[Format] = Registry("report format", __name__)
