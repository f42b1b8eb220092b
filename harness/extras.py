"""Optional parts of chaosgate, and the extra that installs each.

``pip install chaosgate`` is the harness alone (CLI, engine, fakes, reports). What only some
scenarios need comes with an extra, and a scenario that needs a missing one errors before
anything starts, naming the ``pip install`` that fixes it:

- ``postgres`` — psycopg: ``kind: postgres`` services and ``sql`` probes, actions and checks;
- ``load`` — Locust: ``load`` steps (checked where Locust is started, ``harness/load/locust.py``);
- ``containers`` — the Docker SDK and testcontainers: ``--env docker``
  (``harness/provision/docker/daemon.py``);
- ``shop`` — the reference shop service (``shop ...``), not needed by the harness at all.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType
from typing import Any

from harness.errors import HarnessError
from harness.scenario.model import Scenario

__all__ = ["MissingExtra", "missing_for", "require"]

#: module -> (extra, what needs it)
_EXTRAS = {"psycopg": ("postgres", "PostgreSQL services and sql probes, actions and checks")}


class MissingExtra(HarnessError):
    """A part of chaosgate that is installed with an extra is missing.

    Attributes:
        module: the module that is not installed.
        extra: the extra that installs it.
    """

    def __init__(self, module: str, extra: str, purpose: str) -> None:
        self.module = module
        self.extra = extra
        super().__init__(
            f"{purpose} need {module}, which is not installed: pip install 'chaosgate[{extra}]'"
        )


def require(module: str) -> ModuleType:
    """``module``, imported; :class:`MissingExtra` naming its extra when it is not installed."""
    try:
        return importlib.import_module(module)
    except ImportError:
        extra, purpose = _EXTRAS[module]
        raise MissingExtra(module, extra, purpose) from None


def _uses_sql(node: Any) -> bool:
    if isinstance(node, dict):
        return node.get("type") == "sql" or any(_uses_sql(v) for v in node.values())
    if isinstance(node, list):
        return any(_uses_sql(v) for v in node)
    return False


def missing_for(scenario: Scenario) -> list[MissingExtra]:
    """What ``scenario`` needs that is not installed (empty when it can run)."""
    needs_psycopg = any(s.kind == "postgres" for s in scenario.services.values()) or _uses_sql(
        scenario.model_dump(mode="json", exclude={"services"})
    )
    if needs_psycopg and importlib.util.find_spec("psycopg") is None:
        extra, purpose = _EXTRAS["psycopg"]
        return [MissingExtra("psycopg", extra, purpose)]
    return []
