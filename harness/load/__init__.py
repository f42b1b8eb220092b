"""Load steps: traffic the system must absorb for a step's ``duration_s``.

Each load ``type`` is a module of this package that registers an implementation in
:data:`LOADS` (``locust.py``: Locust headless in its own process). Starting a load returns an
:class:`~harness.faults.ActiveFault`: its ``revert`` waits for the load to end and records what it
achieved.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from harness.errors import HarnessError
from harness.faults import ActiveFault
from harness.provision.backend import Stack
from harness.provision.templates import TemplateContext
from harness.registry import Registry
from harness.scenario.model import Load

__all__ = ["LOADS", "LoadError", "LoadKind", "start_load"]


class LoadError(HarnessError):
    """A load step could not run (Locust missing, its file missing, no stats written)."""


class LoadKind(Protocol):
    """Starts one load ``type`` for ``duration_s`` (already scaled)."""

    def __call__(
        self,
        load: Any,
        duration_s: float,
        stack: Stack,
        context: TemplateContext,
        run_dir: Path,
        key: str,
        /,
    ) -> ActiveFault: ...


#: every load type, by its YAML ``type``
LOADS: Registry[LoadKind] = Registry("load", __name__)


def start_load(
    load: Load,
    duration_s: float,
    stack: Stack,
    context: TemplateContext,
    run_dir: Path,
    key: str,
    *,
    kinds: Registry[LoadKind] = LOADS,
) -> ActiveFault:
    """Start ``load`` for ``duration_s``; ``key`` names its output directory and its seed."""
    return kinds.get_kind(load.type)(load, duration_s, stack, context, run_dir, key)
