"""Probes observe the system under test; expectations judge what they saw.

Each probe ``type`` is a module of this package that registers an implementation in
:data:`PROBES`: ``http.py``, ``command.py``, ``sql.py``, ``redis.py``, ``prometheus.py``. A probe
never raises for a system that misbehaves: a refused connection is an observation (``error``),
which an expectation then fails.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

from harness.provision.backend import Stack
from harness.provision.templates import TemplateContext
from harness.registry import Registry
from harness.scenario.model import Expect, Probe

__all__ = ["PROBES", "Observation", "ProbeKind", "dig", "judge", "observe"]


@dataclass(frozen=True)
class Observation:
    value: Any
    detail: str = ""
    error: str | None = None


def dig(document: Any, path: str) -> Any:
    """``dig({"a": [{"b": 1}]}, "a.0.b") == 1``; ``KeyError`` naming the missing part."""
    node = document
    for part in path.split("."):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise KeyError(f"{path!r}: no {part!r} in {str(node)[:80]}")
    return node


class ProbeKind(Protocol):
    """Observes the system for one probe ``type``; never raises for the system's misbehaviour."""

    def __call__(self, probe: Any, stack: Stack, context: TemplateContext, /) -> Observation: ...


#: every probe type, by its YAML ``type``
PROBES: Registry[ProbeKind] = Registry("probe", __name__)


def observe(
    probe: Probe,
    stack: Stack,
    context: TemplateContext,
    *,
    kinds: Registry[ProbeKind] = PROBES,
) -> Observation:
    """One observation by ``probe``."""
    return kinds.get_kind(probe.type)(probe, stack, context)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def judge(expect: Expect, observation: Observation) -> tuple[bool, str]:
    """Whether ``observation`` meets ``expect``, and why not."""
    if observation.error is not None:
        return False, observation.error
    value = observation.value
    if expect.equals is not None:
        same = value == expect.equals or (
            _number(value) is not None and _number(value) == _number(expect.equals)
        )
        if not same:
            return False, f"observed {value!r}, expected {expect.equals!r}"
    if expect.min is not None or expect.max is not None:
        number = _number(value)
        if number is None:
            return False, f"observed {value!r}, not a number"
        if expect.min is not None and number < expect.min:
            return False, f"observed {number:g}, below the minimum {expect.min:g}"
        if expect.max is not None and number > expect.max:
            return False, f"observed {number:g}, above the maximum {expect.max:g}"
    if expect.matches is not None and not re.search(expect.matches, str(value)):
        return False, f"observed {value!r}, does not match {expect.matches!r}"
    return True, f"observed {value!r}"
