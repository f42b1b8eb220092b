"""The history of operations and the acknowledged invariant, on the fast lane."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.actions import ActionResult
from harness.history import Ledger, classify, key_of
from harness.run import Kinds, ScenarioRunner
from harness.scenario.loader import LoadedScenario
from harness.scenario.model import OpKey, Probe, Scenario
from harness.testing import FakeProvisioner, VirtualClock, acting, answering


@pytest.mark.parametrize(
    ("status", "result"),
    [
        (200, "ok"),
        (201, "ok"),
        (302, "ok"),
        (409, "fail"),
        (429, "fail"),
        (500, "info"),
        (503, "info"),
        (None, "info"),
    ],
)
def test_answers_become_results(status: int | None, result: str) -> None:
    assert classify(status) == result


def test_keys_are_found_where_the_scenario_says() -> None:
    answer = '{"data": {"id": "r-7"}, "n": 3}'
    assert key_of(OpKey(json_path="data.id"), text=answer) == "r-7"
    assert key_of(OpKey(json_path="data"), text=answer) is None  # not a scalar
    assert key_of(OpKey(json_path="id"), text="not json") is None
    assert key_of(OpKey(request_path="sku"), request={"sku": "MUG-1"}) == "MUG-1"
    assert key_of(OpKey(header="location"), headers={"Location": "/orders/9"}) == "/orders/9"
    assert key_of(OpKey(regex=r"order (\d+)"), text="created order 12") == "12"
    assert key_of(None, text=answer) is None


def test_the_ledger_sorts_keys_by_what_the_system_said() -> None:
    ledger = Ledger.of(
        [
            {"key": "a", "result": "ok"},
            {"key": "b", "result": "fail"},
            {"key": "c", "result": "info"},
            {"key": "c", "result": "fail"},
            {"key": "d", "result": "ok"},
            {"key": "d", "result": "ok"},
            {"key": None, "result": "ok"},
        ]
    )
    assert ledger.acknowledged() == {"a", "d"}
    assert ledger.refused() == {"b"}
    assert ledger.unknown() == {"c"}
    assert ledger.acknowledged_twice() == {"d": 2}
    assert ledger.keyless == 1  # counted, never a key


def test_the_summary_counts_operations_that_named_no_key() -> None:
    from harness.invariants.acknowledged import judge_acknowledged

    ledger = Ledger.of([{"key": "1", "result": "ok"}] + [{"key": None, "result": "info"}] * 30)
    _violations, summary = judge_acknowledged(
        ledger, {"1"}, set(), refused_absent=True, unique=False
    )
    assert summary.endswith("; 30 operation(s) whose answer named no key")
    _violations, summary = judge_acknowledged(
        Ledger.of([{"key": "1", "result": "ok"}]), {"1"}, set(), refused_absent=True, unique=False
    )
    assert "named no key" not in summary


def writes(*entries: tuple[str, str]) -> Any:
    def act(action: Any) -> ActionResult:
        history = [
            {"op": "http", "key": k, "result": r, "invoke_at": 0.0, "complete_at": 0.0}
            for k, r in entries
        ]
        return ActionResult(True, "writes", history=history)

    return act


def run(act: Any, there: list[str], invariant: dict[str, Any], tmp_path: Path) -> Any:
    spec = Scenario.model_validate(
        {
            "id": "acks",
            "title": "acks",
            "services": {"db": {"kind": "postgres"}},
            "method": [
                {"name": "writes", "at_s": 0, "action": {"type": "command", "command": ["w"]}}
            ],
            "invariants": [{"name": "kept", "type": "acknowledged", **invariant}],
        }
    )

    def answer(probe: Probe) -> object:
        if getattr(probe, "path", "").startswith("/items/"):
            return 200 if probe.path.removeprefix("/items/") in there else 404  # type: ignore[union-attr]
        return there

    kinds = Kinds(probes=answering(answer), actions=acting(act))
    runner = ScenarioRunner(
        FakeProvisioner(), seed=1, time_scale=1, clock=VirtualClock(), kinds=kinds
    )
    return runner.run(LoadedScenario(tmp_path / "a.yaml", spec), tmp_path / "run")


PRESENT = {"present": {"type": "sql", "service": "db", "rows": True, "query": "select id from t"}}


def test_acknowledged_writes_all_there_pass(tmp_path: Path) -> None:
    record = run(writes(("1", "ok"), ("2", "ok"), ("3", "fail")), ["1", "2"], PRESENT, tmp_path)
    assert record.status == "passed", record.reason
    assert record.invariants[0].summary.startswith("2 acknowledged key(s), 2 there; 1 refused")


def test_a_lost_write_and_a_refused_one_applied_are_named(tmp_path: Path) -> None:
    record = run(writes(("1", "ok"), ("2", "ok"), ("3", "fail")), ["1", "3"], PRESENT, tmp_path)
    assert record.status == "failed"
    violations = record.invariants[0].violations
    assert violations == [
        "1 key(s) acknowledged, but not there (lost): 2",
        "1 key(s) refused (4xx on every attempt), yet there: 3",
    ]


def test_a_write_acknowledged_twice_breaks_unique(tmp_path: Path) -> None:
    record = run(writes(("1", "ok"), ("1", "ok")), ["1"], {**PRESENT, "unique": True}, tmp_path)
    assert record.invariants[0].violations == ["1 key(s) acknowledged more than once: 1 (2 times)"]


def test_each_key_can_be_checked_on_its_own(tmp_path: Path) -> None:
    each = {
        "each": {
            "name": "it answers",
            "probe": {"type": "http", "service": "db", "path": "/items/${key}"},
            "expect": {"equals": 200},
        }
    }
    record = run(writes(("1", "ok"), ("2", "ok")), ["1"], each, tmp_path)
    assert record.status == "failed"
    assert record.invariants[0].violations == ["1 key(s) acknowledged, but not there (lost): 2"]
