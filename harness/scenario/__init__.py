"""Scenarios: the YAML a user writes, parsed once into frozen, validated models."""

from harness.scenario.loader import load_scenario, load_scenarios
from harness.scenario.model import Scenario

__all__ = ["Scenario", "load_scenario", "load_scenarios"]
