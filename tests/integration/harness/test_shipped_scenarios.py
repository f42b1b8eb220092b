"""The shipped scenarios are valid, and the harness can fail them: sabotage the reference
service's settings and the matching scenario fails, naming the broken promise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.journal import ScenarioRecord
from harness.provision.local import LocalProvisioner
from harness.run import ScenarioRunner
from harness.scenario import load_scenario, load_scenarios
from harness.scenario.loader import LoadedScenario
from harness.scenario.model import Scenario

SCENARIOS = Path(__file__).resolve().parents[3] / "scenarios"


def test_every_shipped_scenario_is_valid() -> None:
    loaded, broken = load_scenarios([SCENARIOS])
    assert broken == []
    assert loaded


def run_with(path: Path, tmp_path: Path, *, time_scale: float, **env: str) -> ScenarioRecord:
    spec: dict[str, Any] = yaml.safe_load(path.read_text())
    for service in spec["services"].values():
        if "env" in service:
            service["env"] = {**service["env"], **env}
    scenario = Scenario.model_validate(spec)
    runner = ScenarioRunner(LocalProvisioner(time_scale=time_scale), seed=3, time_scale=time_scale)
    return runner.run(LoadedScenario(path, scenario), tmp_path)


@pytest.mark.parametrize("name", ["redis-outage-during-payment.yaml"])
def test_sabotaged_service_fails_the_scenario(name: str, tmp_path: Path) -> None:
    path = SCENARIOS / name
    assert load_scenario(path)  # the unmodified file is valid
    # Without the fulfilment sweep, a payment taken while Redis is down is never fulfilled.
    record = run_with(path, tmp_path, time_scale=0.5, SHOP_FULFILMENT_SWEEP_INTERVAL_S="3600")
    assert record.status == "failed", record.reason
    assert "the order is fulfilled once Redis is back" in record.reason
    assert "observed 'paid', expected 'fulfilled'" in record.reason
