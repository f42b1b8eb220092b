"""Runbooks executed under their scenario's fault against the real reference shop: a system
that breaks the runbook's promise (replay disabled) fails the resolution step at its line; a
runbook that drifted from the system (a renamed flag, a wrong expected count, a scenario it no
longer names) fails at its lines too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from harness.journal import RunbookRecord, RunbookStepRecord, ScenarioRecord
from harness.provision.local import LocalProvisioner
from harness.run import ScenarioRunner
from harness.scenario.loader import LoadedScenario
from harness.scenario.model import Scenario

ROOT = Path(__file__).resolve().parents[3]
SCENARIO = ROOT / "scenarios" / "provider-api-errors.yaml"
RUNBOOK = ROOT / "runbooks" / "payment-processing-failure.md"


def run(tmp_path: Path, *, runbook: str | None = None, **env: str) -> ScenarioRecord:
    """provider-api-errors with its drill pointed at ``runbook`` (text) and ``env`` added to
    every service's environment (the on-call's shell shares it: the drill uses the same)."""
    spec: dict[str, Any] = yaml.safe_load(SCENARIO.read_text())
    path = RUNBOOK
    if runbook is not None:
        path = tmp_path / RUNBOOK.name
        path.write_text(runbook)
    spec["runbook"]["path"] = str(path)
    for service in spec["services"].values():
        if "env" in service:
            service["env"] = {**service["env"], **env}
    spec["runbook"]["env"] = {**spec["runbook"]["env"], **env}
    scenario = Scenario.model_validate(spec)
    runner = ScenarioRunner(LocalProvisioner(time_scale=1.0), seed=3, time_scale=1.0)
    return runner.run(LoadedScenario(SCENARIO, scenario), tmp_path / "run")


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.split("\n"), start=1) if needle in line)


def steps(drill: RunbookRecord | None) -> dict[str, RunbookStepRecord]:
    assert drill is not None
    return {s.id: s for s in drill.steps}


def test_replay_disabled_fails_the_resolution_step_at_its_line(tmp_path: Path) -> None:
    record = run(tmp_path, SHOP_WEBHOOK_REPLAY_ENABLED="false")
    assert record.status == "failed"
    by_id = steps(record.runbook_drill)
    text = RUNBOOK.read_text()
    # The incident was diagnosed as the runbook says: its symptoms were there.
    for step in ("stuck-orders", "dead-letters", "webhook-counters", "alerts-firing"):
        assert by_id[step].verdict == "passed", (step, by_id[step].why)
    replay = by_id["replay"]
    line = line_of(text, "shop webhooks retry --since 1h --actor oncall")
    assert replay.verdict == "failed"
    assert replay.why.startswith(
        f"{RUNBOOK}:{line}: step replay: 'shop webhooks retry --since 1h --actor oncall' "
        "exited 2, expected 0: "
    )
    assert "webhook replay is frozen" in replay.commands[0].output
    # Later resolution steps are not run; the rollback still is.
    assert by_id["no-dead-letters"].verdict == "not run"
    assert by_id["no-stuck-orders"].verdict == "not run"
    assert by_id["audit-intact"].verdict == "passed"
    assert record.runbook_drill is not None and record.runbook_drill.recovered_at_s is None
    assert "step replay" in record.runbook_drill.why


def test_a_drifted_runbook_fails_at_the_right_lines(tmp_path: Path) -> None:
    original = RUNBOOK.read_text()
    drifted = original.replace(
        "shop webhooks stats --window 1h --json", "shop webhooks stats --span 1h --json"
    ).replace('step=stuck-orders expect-count=">=1"', 'step=stuck-orders expect-count="0"')
    assert drifted.count("--span") == 1 and 'expect-count="0"' in drifted
    record = run(tmp_path, runbook=drifted)
    path = tmp_path / RUNBOOK.name
    by_id = steps(record.runbook_drill)
    # A wrong expected count fails at the step's fence.
    stuck = by_id["stuck-orders"]
    fence = line_of(drifted, "step=stuck-orders")
    assert stuck.verdict == "failed"
    assert stuck.why.startswith(f"{path}:{fence}: step stuck-orders: expected 0 item(s), got 3")
    # A renamed flag fails at the command's line, with the CLI's own complaint.
    counters = by_id["webhook-counters"]
    command = line_of(drifted, "--span 1h")
    assert counters.verdict == "failed"
    assert counters.why.startswith(
        f"{path}:{command}: step webhook-counters: 'shop webhooks stats --span 1h --json' "
        "exited 2, expected 0: "
    )
    assert "No such option: --span" in counters.why
    # Diagnosis drift does not stop the resolution: the incident is still resolved.
    assert by_id["replay"].verdict == "passed"
    assert record.runbook_drill is not None and record.runbook_drill.recovered_at_s is not None
    assert record.status == "failed"
    assert stuck.why in record.reason


def test_a_runbook_that_no_longer_names_its_scenario_errors_before_anything_starts(
    tmp_path: Path,
) -> None:
    original = RUNBOOK.read_text()
    drifted = original.replace("scenarios: [provider-api-errors]", "scenarios: [webhook-loop]")
    record = run(tmp_path, runbook=drifted)
    assert record.status == "errored"
    line = line_of(drifted, "scenarios:")
    assert (
        f"{tmp_path / RUNBOOK.name}:{line}: scenario 'provider-api-errors' executes this "
        "runbook but is not in scenarios:"
    ) in record.reason
    assert record.services == {}  # nothing was provisioned
