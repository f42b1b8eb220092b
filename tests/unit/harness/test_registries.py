"""Every kind is plugged in the same way: each ``type`` the published schema admits has an
implementation in its registry, and every implementation has a schema entry."""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any

import pytest

from harness.actions import ACTIONS
from harness.errors import HarnessError
from harness.faults import FAULTS
from harness.invariants import INVARIANTS
from harness.load import LOADS
from harness.probes import PROBES
from harness.provision.kinds import KINDS
from harness.registry import Registry, UnknownKind
from harness.report import FORMATS
from harness.scenario.model import Action, Fault, Invariant, Load, Probe

ROOT = Path(__file__).resolve().parents[3]
SCHEMA = json.loads((ROOT / "docs" / "scenario.schema.json").read_text())


def _members(union: Any) -> list[type]:
    """The models of an ``Annotated[A | B, Field(discriminator=...)]`` (or one model)."""
    if typing.get_origin(union) is typing.Annotated:
        union = typing.get_args(union)[0]
    return list(typing.get_args(union)) or [union]


def _published_types(union: Any) -> set[str]:
    """The ``type:`` names the published schema admits for the union's models."""
    types = set()
    for model in _members(union):
        definition = SCHEMA["$defs"][model.__name__]
        types.add(definition["properties"]["type"]["const"])
    return types


@pytest.mark.parametrize(
    ("union", "registry"),
    [(Fault, FAULTS), (Probe, PROBES), (Action, ACTIONS), (Invariant, INVARIANTS), (Load, LOADS)],
    ids=["fault", "probe", "action", "invariant", "load"],
)
def test_every_published_type_has_an_implementation_and_back(
    union: Any, registry: Registry[Any]
) -> None:
    published = _published_types(union)
    implemented = set(registry)
    assert published - implemented == set(), "in the schema, without an implementation"
    assert implemented - published == set(), "implemented, but not in the schema"


def test_every_service_kind_has_a_recipe_and_back() -> None:
    published = set(SCHEMA["$defs"]["Service"]["properties"]["kind"]["enum"])
    assert published == set(KINDS)
    for name in KINDS:
        assert KINDS.get_kind(name).image_role in {
            "redis",
            "postgres",
            "toxiproxy",
            "harness",
            "app",
        }


def test_every_report_format_renders_a_journal() -> None:
    journal = {"status": "passed", "seed": 1, "time_scale": 1.0, "started_at": 0.0, "scenarios": []}
    assert set(FORMATS) == {"html", "junit"}
    for name in FORMATS:
        report = FORMATS.get_kind(name)
        assert report.render(journal).strip(), f"{name} rendered nothing"


def test_an_unknown_type_is_an_error_that_lists_the_known_ones() -> None:
    with pytest.raises(UnknownKind, match="unknown fault type 'flood'; known: disconnect, kill"):
        FAULTS.get_kind("flood")
    assert issubclass(UnknownKind, HarnessError)  # the run errors: the harness could not act


def test_overriding_replaces_one_kind_and_keeps_the_others() -> None:
    def fake(*_args: Any) -> Any:
        return None

    copy = PROBES.overriding(http=fake)
    assert copy.get_kind("http") is fake
    assert copy.get_kind("sql") is PROBES.get_kind("sql")
    assert PROBES.get_kind("http") is not fake
