"""The published JSON Schema of scenario files, generated from the model (one definition)."""

from __future__ import annotations

from typing import Any

from harness.scenario.model import Scenario

__all__ = ["scenario_schema"]


def scenario_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) that scenario files follow; editors can validate with it."""
    schema = Scenario.model_json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **schema,
    }
