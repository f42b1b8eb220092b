"""The open arrival model on real Locust against a system that answers in 0.5 s: requests start
on the schedule however slow the answers, so 20 req/s offered are 20 delivered while the pool
of users covers what is in flight; with a pool too small the step fails naming offered and
delivered and the late arrivals — where the closed model just delivers less and passes
(coordinated omission)."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.journal import ScenarioRecord
from harness.provision.local import LocalProvisioner
from harness.run import ScenarioRunner
from harness.scenario.loader import LoadedScenario
from harness.scenario.model import Scenario
from tests.support.apps import SLOW_APP

LOCUSTFILE = Path(__file__).with_name("locust_reader.py")
DELAY_S = 0.5
RATE = 20.0


def spec(**load: Any) -> dict[str, Any]:
    return {
        "id": "arrivals",
        "title": "a fixed arrival rate against a slow system",
        "services": {
            "app": {
                "command": [sys.executable, "-c", SLOW_APP, "${services.app.port}"],
                "env": {"CG_DELAY_S": str(DELAY_S)},
                "ready": {"http": "/health"},
            }
        },
        "method": [
            {
                "name": "readers",
                "at_s": 0,
                "duration_s": 6,
                "load": {
                    "type": "locust",
                    "service": "app",
                    "locustfile": str(LOCUSTFILE),
                    "spawn_rate": 100,
                    "tolerance": 0.25,
                    **load,
                },
            }
        ],
    }


def run(data: dict[str, Any], tmp_path: Path) -> ScenarioRecord:
    runner = ScenarioRunner(LocalProvisioner(), seed=3, time_scale=1.0)
    return runner.run(
        LoadedScenario(tmp_path / "a.yaml", Scenario.model_validate(data)), tmp_path / "run"
    )


def offered(record: ScenarioRecord) -> tuple[float, float, int, float]:
    """(offered arrivals/s, share of arrivals started, late arrivals, delivered req/s) from the
    load's evidence."""
    line = next(e for e in record.steps[0].evidence if e.startswith("offered"))
    found = re.search(
        r"offered ([\d.]+) arrivals/s: \d+ due, \d+ started \((\d+)%\), (\d+) over .*"
        r"delivered ([\d.]+) req/s",
        line,
    )
    assert found, line
    return float(found[1]), int(found[2]) / 100, int(found[3]), float(found[4])


@pytest.mark.parametrize("workers", [0, 2])
def test_a_pool_that_covers_the_flight_delivers_what_is_offered(
    tmp_path: Path, workers: int
) -> None:
    # in flight: RATE x DELAY_S = 10 requests; a pool of 20 users covers it
    record = run(spec(arrival_rps=RATE, users=20, workers=workers), tmp_path)
    assert record.status == "passed", record.reason
    rate, started, _late, delivered = offered(record)
    assert rate == RATE and started >= 0.9 and delivered >= RATE * 0.75


def test_a_pool_too_small_falls_short_and_says_by_how_much(tmp_path: Path) -> None:
    # 3 users answer at most 3 / DELAY_S = 6 req/s of the 20 offered
    record = run(spec(arrival_rps=RATE, users=3), tmp_path)
    assert record.status == "failed", record.reason
    assert record.reason.startswith("load 'readers' fell short")
    _rate, started, late, delivered = offered(record)
    assert started < 0.5 and late > 0 and delivered < 3 / DELAY_S + 1
    assert "worst" in record.reason and "offered 20 arrivals/s" in record.reason


def test_the_closed_model_quietly_delivers_less(tmp_path: Path) -> None:
    """The same 3 users paced at 20/3 req/s each: no gate, and the step passes at a third of
    what was meant — the omission the open model exists to show."""
    record = run(spec(users=3, env={"CG_RPS_PER_USER": f"{RATE / 3:g}"}), tmp_path)
    assert record.status == "passed", record.reason
    delivered = float(re.search(r"([\d.]+) req/s", record.steps[0].evidence[0])[1])  # type: ignore[index]
    assert delivered < 3 / DELAY_S + 1
