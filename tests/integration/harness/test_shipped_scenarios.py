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
    if isinstance(spec.get("runbook"), dict):  # a drill: the on-call's shell shares the settings
        spec["runbook"]["path"] = str(SCENARIOS.parent / spec["runbook"]["path"])
        spec["runbook"]["env"] = {**spec["runbook"].get("env", {}), **env}
    scenario = Scenario.model_validate(spec)
    runner = ScenarioRunner(LocalProvisioner(time_scale=time_scale), seed=3, time_scale=time_scale)
    return runner.run(LoadedScenario(path, scenario), tmp_path)


SABOTAGE = [
    # Without the fulfilment sweep, a payment taken while Redis is down is never fulfilled.
    (
        "redis-outage-during-payment.yaml",
        {"SHOP_FULFILMENT_SWEEP_INTERVAL_S": "3600"},
        "the order is fulfilled once Redis is back",
        "observed 'paid', expected 'fulfilled'",
    ),
    # With (practically) unlimited attempts nothing is dead-lettered while the provider fails.
    (
        "provider-api-errors.yaml",
        {"SHOP_WEBHOOK_MAX_ATTEMPTS": "1000"},
        "events are dead-lettered while the API fails",
        "observed 0, expected 3",
    ),
    # Without the anti-loop cache, the loop no longer shows in the hit rate. (A short TTL no
    # longer does it: the cache always outlives the signature tolerance.)
    (
        "webhook-loop.yaml",
        {"SHOP_WEBHOOK_DEDUP_CACHE": "false"},
        "the loop shows in the dedup hit rate",
        "below the minimum 0.4",
    ),
    # If dead workers' jobs are only requeued after ten minutes, the killed job stays lost.
    (
        "worker-killed-mid-job.yaml",
        {"SHOP_BROKER_HEARTBEAT_TIMEOUT_MS": "600000"},
        "the requeued job pays and fulfils the order",
        "observed 'pending', expected 'fulfilled'",
    ),
    # Without the global rate limit, fulfilment runs as fast as the workers can go.
    (
        "order-flood.yaml",
        {"SHOP_ORDERS_RATE_LIMIT": "0"},
        "the flood saturates the rate limit",
        "observed 0, below the minimum 16",
    ),
    # Without backpressure, the API keeps taking orders however deep the queue is.
    (
        "order-flood.yaml",
        {"SHOP_BACKPRESSURE_ENABLED": "false"},
        "backpressure refuses new orders during the flood",
        "observed 0, expected 1",
    ),
    # A P0 routed without SMS does not text the on-call.
    (
        "provider-outage-alerts.yaml",
        {"SHOP_ALERT_ROUTES": "P0=slack,email;P1=slack,email;P2=slack,email;P3=log"},
        "P0 is texted at once",
        "observed 0, expected 1",
    ),
    # With the escalation policy switched off, nobody is paged at all.
    (
        "provider-outage-alerts.yaml",
        {"SHOP_ALERTS_ENABLED": "false"},
        "P0 is texted at once",
        "observed 0, expected 1",
    ),
    # A P1 misrouted to SMS texts people for a non-emergency.
    (
        "webhook-failures-p1.yaml",
        {"SHOP_ALERT_ROUTES": "P0=slack,email,sms;P1=slack,email,sms;P2=slack,email;P3=log"},
        "P1 does not text anyone",
        "expected 0",
    ),
    # Without the audit trail, critical actions under load leave no rows.
    (
        "audit-trail.yaml",
        {"SHOP_AUDIT_ENABLED": "false"},
        "every stock adjustment is audited",
        "expected 0",
    ),
    # Without the webhook sweep, events stored while Redis was down are never enqueued.
    (
        "redis-outage-during-intake.yaml",
        {"SHOP_WEBHOOK_SWEEP_STALE_AFTER_S": "3600"},
        "both payments are applied once Redis is back",
        "observed 0, expected 2",
    ),
]


@pytest.mark.parametrize(("name", "env", "assertion", "observed"), SABOTAGE)
def test_sabotaged_service_fails_the_scenario(
    name: str, env: dict[str, str], assertion: str, observed: str, tmp_path: Path
) -> None:
    path = SCENARIOS / name
    assert load_scenario(path)  # the unmodified file is valid
    # The worker must pick the job up before it is killed: that scenario keeps its own pace.
    # The order flood's load is a rate in orders per second: it keeps its own pace too.
    # Alerting evaluates every 0.5 s whatever the scale: those keep their pace as well.
    # Runbook drills run real commands (seconds each): scenarios with a drill keep their pace.
    own_pace = ("worker-killed", "order-flood", "provider-outage", "webhook-failures", "audit")
    own_pace += ("provider-api-errors", "webhook-loop", "erp-outage")
    scale = 1.0 if name.startswith(own_pace) else 0.5
    record = run_with(path, tmp_path, time_scale=scale, **env)
    assert record.status == "failed", record.reason
    assert assertion in record.reason
    assert observed in record.reason
