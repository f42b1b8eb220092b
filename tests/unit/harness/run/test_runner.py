"""The runner on the fast lane: a fake stack, a virtual clock, probes that answer from the fakes'
state. Scheduling, judging, rollbacks and verdicts at exact scenario times, in no wall time."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from harness.actions import ActionResult
from harness.journal import ScenarioRecord
from harness.run import Kinds, ScenarioInterrupted, ScenarioRunner
from harness.scenario.loader import LoadedScenario
from harness.scenario.model import Expect, Probe, Scenario
from harness.testing import FakeProvisioner, VirtualClock, acting, answering


def scenario(**changes: Any) -> Scenario:
    """An app behind a proxy: it answers 503 while the proxy is down, 200 otherwise."""
    spec: dict[str, Any] = {
        "id": "fast",
        "title": "fast lane",
        "services": {
            "redis": {"kind": "redis"},
            "toxiproxy": {"kind": "toxiproxy"},
            "app": {"command": ["app"]},
        },
        "proxies": {"cache": {"upstream": "redis"}},
        "steady_state": [
            {
                "name": "healthy",
                "probe": {"type": "http", "service": "app"},
                "expect": {"equals": 200},
            }
        ],
        "method": [
            {
                "name": "cache down",
                "at_s": 1,
                "duration_s": 2,
                "fault": {"type": "proxy_down", "proxy": "cache"},
            }
        ],
        "assertions": [
            {
                "name": "outage shows",
                "type": "always",
                "from_s": 1.25,  # the fault starts at 1: a sample at 1 could come first
                "until_s": 2.75,
                "interval_s": 0.5,
                "check": {
                    "name": "503",
                    "probe": {"type": "http", "service": "app"},
                    "expect": {"equals": 503},
                },
            }
        ],
        "rollbacks": [{"type": "command", "command": ["rollback"]}],
    }
    spec.update(changes)
    return Scenario.model_validate(spec)


class Lane:
    """A runner on a virtual clock over a fake stack whose app answers by the proxy's state."""

    def __init__(self, *, answer: Any = None, act: Any = None, takes_s: float = 0.0) -> None:
        self.clock = VirtualClock()
        self.fake = FakeProvisioner()
        self.actions: list[tuple[float, str]] = []
        self.probes: list[float] = []

        def default_answer(probe: Probe) -> object:
            self.probes.append(self.now())
            return 503 if self.fake.toxiproxy.down("cache") else 200

        def record_action(action: Any) -> ActionResult | None:
            self.actions.append((self.now(), " ".join(getattr(action, "command", []))))
            return act(action) if act is not None else None

        self.kinds = Kinds(
            probes=answering(answer or default_answer, takes_s=takes_s, clock=self.clock),
            actions=acting(record_action, clock=self.clock),
        )
        self.origin = 0.0

    def now(self) -> float:
        return round(self.clock.monotonic() - self.origin, 3)

    def run(self, spec: Scenario, tmp_path: Path) -> ScenarioRecord:
        self.origin = self.clock.monotonic()
        runner = ScenarioRunner(
            self.fake, seed=7, time_scale=1.0, clock=self.clock, kinds=self.kinds
        )
        return runner.run(LoadedScenario(tmp_path / "fast.yaml", spec), tmp_path / "run")


def test_a_fault_runs_from_its_at_s_for_its_duration_and_is_judged_at_exact_times(
    tmp_path: Path,
) -> None:
    lane = Lane()
    started = time.monotonic()
    record = lane.run(scenario(), tmp_path)
    assert record.status == "passed", record.reason
    fault = record.steps[0]
    begin = record.method_started_s
    assert begin is not None
    assert (round(fault.started_s - begin, 3), round((fault.ended_s or 0) - begin, 3)) == (1, 3)
    (outage,) = record.assertions
    assert [round(at - begin, 3) for at, _, _ in outage.series] == [1.25, 1.75, 2.25, 2.75]
    assert outage.samples == 4
    assert lane.fake.toxiproxy.down("cache") is False  # reverted
    assert lane.fake.started == lane.fake.stopped == 1
    assert time.monotonic() - started < 5  # a 3 s timeline in (much) less wall time


def test_always_fails_at_its_first_failing_sample_and_says_what_it_saw(tmp_path: Path) -> None:
    spec = scenario()
    bad = spec.assertions[0].model_copy(update={"from_s": 0.5})  # before the fault starts
    record = Lane().run(spec.model_copy(update={"assertions": [bad]}), tmp_path)
    assert record.status == "failed"
    assert "assertion 'outage shows' (always) failed: observed 200, expected 503" in record.reason
    assert record.assertions[0].samples == 1


def test_eventually_passes_at_its_first_holding_sample_and_fails_after_its_window(
    tmp_path: Path,
) -> None:
    recovers = {
        "name": "recovers",
        "type": "eventually",
        "from_s": 2,
        "within_s": 6,
        "interval_s": 0.5,
        "check": {
            "name": "200",
            "probe": {"type": "http", "service": "app"},
            "expect": {"equals": 200},
        },
    }
    record = Lane().run(scenario(assertions=[recovers]), tmp_path)
    assert record.status == "passed", record.reason
    begin = record.method_started_s or 0
    at = record.assertions[0].at_s or 0
    assert round(at - begin, 3) == 3  # the fault ends at 3: the first sample that holds

    never_ok = {**recovers, "check": {**recovers["check"], "expect": {"equals": 418}}}
    record = Lane().run(scenario(assertions=[never_ok]), tmp_path / "2")
    assert record.status == "failed"
    assert "not within 6 s (scaled): observed 200, expected 418" in record.reason
    assert round((record.assertions[0].at_s or 0) - (record.method_started_s or 0), 3) == 6


def test_never_fails_when_its_check_holds_once(tmp_path: Path) -> None:
    never = {
        "name": "never healthy during the outage",
        "type": "never",
        "from_s": 1,
        "until_s": 4,
        "check": {
            "name": "200",
            "probe": {"type": "http", "service": "app"},
            "expect": {"equals": 200},
        },
    }
    record = Lane().run(scenario(assertions=[never]), tmp_path)
    assert record.status == "failed"
    assert "held: observed 200" in record.reason  # at 3 s, once the proxy is back


def test_a_failed_assertion_still_reverts_the_fault_rolls_back_and_tears_down(
    tmp_path: Path,
) -> None:
    spec = scenario()
    check = spec.assertions[0].check.model_copy(update={"expect": Expect(equals=200)})
    wrong = spec.assertions[0].model_copy(update={"check": check})
    lane = Lane()
    record = lane.run(spec.model_copy(update={"assertions": [wrong]}), tmp_path)
    assert record.status == "failed"
    assert [c for _, c in lane.actions] == ["rollback"]
    assert record.rollbacks[0].status == "ok"
    assert lane.fake.toxiproxy.down("cache") is False
    assert lane.fake.started == lane.fake.stopped == 1


def test_ctrl_c_mid_method_reverts_the_fault_rolls_back_and_stops_everything(
    tmp_path: Path,
) -> None:
    def interrupt(action: Any) -> None:
        if action.command == ["press ctrl-c"]:
            raise KeyboardInterrupt

    spec = scenario(
        method=[
            *scenario().model_dump()["method"],
            {
                "name": "operator",
                "at_s": 2,
                "action": {"type": "command", "command": ["press ctrl-c"]},
            },
        ]
    )
    lane = Lane(act=interrupt)
    with pytest.raises(ScenarioInterrupted) as stopped:
        lane.run(spec, tmp_path)
    record = stopped.value.record
    assert (record.status, record.reason) == ("errored", "interrupted (Ctrl-C); rolled back")
    assert lane.fake.toxiproxy.down("cache") is False  # reverted at 2 s, before its end
    assert [c for _, c in lane.actions] == ["press ctrl-c", "rollback"]
    assert lane.fake.started == lane.fake.stopped == 1


def test_what_the_harness_could_not_do_errors_and_what_the_system_did_fails(
    tmp_path: Path,
) -> None:
    # provisioning failed: errored, nothing to roll back
    lane = Lane()
    lane.fake.fail_start = "services.app: program 'app' is not installed"
    record = lane.run(scenario(), tmp_path / "a")
    assert (record.status, record.reason) == ("errored", lane.fake.fail_start)
    assert lane.actions == []

    # the steady state did not hold before the method: errored, nothing injected
    lane = Lane(answer=lambda probe: 500)
    record = lane.run(scenario(), tmp_path / "b")
    assert record.status == "errored"
    assert "steady state not met before the method: healthy: observed 500" in record.reason
    assert [s.kind for s in record.steps] == []

    # a set-up action failed: errored
    lane = Lane(act=lambda a: ActionResult(False, "exit 3") if a.command == ["seed"] else None)
    record = lane.run(scenario(setup=[{"type": "command", "command": ["seed"]}]), tmp_path / "c")
    assert (record.status, record.reason) == ("errored", "set-up action 1 failed: exit 3")

    # a fault on a proxy Toxiproxy does not have: errored, naming it
    lane = Lane()
    spec = scenario()
    original = lane.fake.start

    def without_proxy(s: Scenario, run_dir: Path) -> Any:
        stack = original(s, run_dir)
        lane.fake.toxiproxy.proxies.clear()
        return stack

    lane.fake.start = without_proxy  # type: ignore[method-assign]
    record = lane.run(spec, tmp_path / "d")
    assert record.status == "errored"
    assert "cache" in record.reason

    # a kill of a service that is not running never took hold: failed (it proved nothing)
    lane = Lane()
    kill = {
        "name": "kill app",
        "at_s": 0.5,
        "fault": {"type": "kill", "service": "app", "restart": False},
    }
    kill_again = {**kill, "name": "kill app again", "at_s": 1.5}
    record = lane.run(scenario(method=[kill, kill_again], assertions=[]), tmp_path / "e")
    assert record.status == "failed"
    assert "fault 'kill app again' never took hold" in record.reason
    assert "was not running" in record.reason


def test_the_steady_state_not_restored_after_the_method_fails(tmp_path: Path) -> None:
    def app_up(probe: Probe) -> int:
        return 200 if lane.fake.services["app"].running else 503

    lane = Lane(answer=app_up)
    kill = {
        "name": "kill app",
        "at_s": 1,
        "fault": {"type": "kill", "service": "app", "restart": False},
    }
    record = lane.run(scenario(method=[kill], assertions=[]), tmp_path)
    assert record.status == "failed"
    assert "steady state not restored after the method: healthy: observed 503" in record.reason
    assert lane.fake.services["app"].calls == ["kill"]


def test_a_slow_probe_delays_only_its_own_samples(tmp_path: Path) -> None:
    # Each observation takes 0.3 s: samples are 0.5 s apart from the end of the last one... and
    # the fault still starts and ends on time.
    lane = Lane(takes_s=0.3)
    record = lane.run(scenario(), tmp_path)
    begin = record.method_started_s or 0
    fault = record.steps[0]
    assert round(fault.started_s - begin, 3) >= 1
    assert round((fault.ended_s or 0) - begin - (fault.started_s - begin), 3) == 2
