"""The runner on the fast lane: a fake stack, a virtual clock, probes that answer from the fakes'
state. Scheduling, judging, rollbacks and verdicts at exact scenario times, in no wall time."""

from __future__ import annotations

import threading
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

    def __init__(
        self,
        *,
        answer: Any = None,
        act: Any = None,
        takes_s: float = 0.0,
        clock: VirtualClock | None = None,
    ) -> None:
        self.clock = clock or VirtualClock()
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

    def run(self, spec: Scenario, tmp_path: Path, *, fail_fast: bool = False) -> ScenarioRecord:
        self.origin = self.clock.monotonic()
        runner = ScenarioRunner(
            self.fake,
            seed=7,
            time_scale=1.0,
            clock=self.clock,
            kinds=self.kinds,
            fail_fast=fail_fast,
        )
        return runner.run(LoadedScenario(tmp_path / "fast.yaml", spec), tmp_path / "run")


def test_a_fault_runs_from_its_at_s_for_its_duration_and_is_judged_at_exact_times(
    tmp_path: Path,
) -> None:
    lane = Lane()
    record = lane.run(scenario(), tmp_path)
    assert record.status == "passed", record.reason
    fault = record.steps[0]
    begin = record.method_started_s
    assert begin is not None
    assert (round(fault.started_s - begin, 3), round((fault.ended_s or 0) - begin, 3)) == (1, 3)
    (outage,) = record.assertions
    assert [round(at - begin, 3) for at, *_ in outage.series] == [1.25, 1.75, 2.25, 2.75]
    assert outage.samples == 4
    assert lane.fake.toxiproxy.down("cache") is False  # reverted
    assert lane.fake.started == lane.fake.stopped == 1
    # Times to the millisecond come from the virtual clock: a run on the real one could not
    # give them (how fast the lane is goes to the benchmarks, never to a timed test).


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
        "from_s": 2.25,
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
    assert round(at - begin, 3) == 3.25  # the fault ends at 3: the first sample after it

    never_ok = {**recovers, "check": {**recovers["check"], "expect": {"equals": 418}}}
    record = Lane().run(scenario(assertions=[never_ok]), tmp_path / "2")
    assert record.status == "failed"
    assert "not within 6 s (scaled): observed 200, expected 418" in record.reason
    # the last sample counted is the one at the window's end
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


class CtrlCAt(VirtualClock):
    """Ctrl-C reaches the main thread (as a real one does) at its first sleep from ``at_s``
    into the run."""

    def __init__(self, at_s: float) -> None:
        super().__init__()
        self.at = self.monotonic() + at_s
        self.main = threading.get_ident()

    def sleep(self, seconds: float) -> None:
        if threading.get_ident() == self.main and self.monotonic() >= self.at:
            self.at = float("inf")
            raise KeyboardInterrupt
        super().sleep(seconds)


def test_ctrl_c_mid_method_reverts_the_fault_rolls_back_and_stops_everything(
    tmp_path: Path,
) -> None:
    lane = Lane(clock=CtrlCAt(2.0))
    with pytest.raises(ScenarioInterrupted) as stopped:
        lane.run(scenario(), tmp_path)
    record = stopped.value.record
    assert (record.status, record.reason) == ("errored", "interrupted (Ctrl-C); rolled back")
    fault = record.steps[0]
    assert 2 <= (fault.ended_s or 0) - (record.method_started_s or 0) < 3  # before its end
    assert lane.fake.toxiproxy.down("cache") is False
    assert [c for _, c in lane.actions] == ["rollback"]
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


def outage(at_s: float, duration_s: float) -> dict[str, Any]:
    return {
        "name": "cache down",
        "at_s": at_s,
        "duration_s": duration_s,
        "fault": {"type": "proxy_down", "proxy": "cache"},
    }


def slow_action(name: str, at_s: float, command: str) -> dict[str, Any]:
    return {"name": name, "at_s": at_s, "action": {"type": "command", "command": [command]}}


def test_a_slow_action_does_not_shift_or_shorten_the_fault_after_it(tmp_path: Path) -> None:
    # The action at 0 takes 3 s; the outage is written for 1 s to 4 s: it runs 1 s to 4 s.
    lane = Lane()

    def slow(action: Any) -> None:
        lane.clock.sleep(3)

    lane.kinds = Kinds(probes=lane.kinds.probes, actions=acting(slow))
    record = lane.run(
        scenario(method=[slow_action("a slow write", 0, "write"), outage(1, 3)], assertions=[]),
        tmp_path,
    )
    assert record.status == "passed", record.reason
    write, fault = record.steps
    begin = record.method_started_s or 0
    assert (round(fault.started_s - begin, 3), round((fault.ended_s or 0) - begin, 3)) == (1, 4)
    assert (fault.scheduled_s, fault.scheduled_end_s) == (begin + 1, begin + 4)
    assert round((write.ended_s or 0) - begin, 3) == 3 and fault.late_s == 0


def test_an_action_held_up_past_the_tolerance_by_the_one_before_errors_naming_the_slip(
    tmp_path: Path,
) -> None:
    lane = Lane()

    def slow(action: Any) -> None:
        if action.command == ["write"]:
            lane.clock.sleep(3)

    lane.kinds = Kinds(probes=lane.kinds.probes, actions=acting(slow))
    method = [slow_action("a slow write", 0, "write"), slow_action("read it back", 1, "read")]
    record = lane.run(scenario(method=method, assertions=[]), tmp_path)
    assert record.status == "errored"
    assert record.reason == (
        "the timeline slipped: action 'read it back' scheduled at 1.000 s (method time) ran "
        "2.000 s late (tolerance 0.5 s): delayed by the action 'a slow write' before it ran "
        f"until {record.steps[0].ended_s:.3f} s"
    )


def test_a_probe_slower_than_its_interval_samples_less_and_shifts_nothing(tmp_path: Path) -> None:
    lane = Lane(takes_s=2.0)  # every observation takes 2 s; the interval is 0.5 s
    longer = {**scenario().model_dump()["assertions"][0], "from_s": 1.25, "until_s": 5.5}
    record = lane.run(scenario(method=[outage(1, 6)], assertions=[longer]), tmp_path)
    assert record.status == "passed", record.reason
    begin = record.method_started_s or 0
    starts = [round(at - begin, 3) for at, *_ in record.assertions[0].series]
    assert starts == [1.25, 3.25]  # back to back; a third would end after 5.5
    fault = record.steps[0]
    assert round((fault.ended_s or 0) - fault.started_s, 3) == 6  # the fault kept its 6 s


def test_an_always_sample_that_overruns_its_window_is_kept_not_counted(tmp_path: Path) -> None:
    # Samples take 0.2 s, but the one that starts at 2.75 takes 1 s: it ends after the window
    # (and after the outage, seeing 200). Every sample inside the window held: passed.
    lane = Lane()

    def answer(probe: Probe) -> int:
        started = lane.now()
        lane.clock.sleep(1.0 if started >= 2.7 else 0.2)
        return 503 if lane.fake.toxiproxy.down("cache") else 200

    lane.kinds = Kinds(probes=answering(answer), actions=lane.kinds.actions)
    spec = scenario()
    window = spec.assertions[0].model_copy(update={"from_s": 1.25, "until_s": 3.25})
    record = lane.run(spec.model_copy(update={"assertions": [window]}), tmp_path)
    assert record.status == "passed", record.reason
    (a,) = record.assertions
    assert a.not_counted == 1
    last = a.series[-1]
    assert (last[1], last[2], last[4]) == (200, False, False)  # a 200 after the outage, not counted
    assert all(counted for *_, counted in a.series[:-1]) and a.samples == len(a.series) - 1


def test_an_assertion_no_sample_fits_in_errors(tmp_path: Path) -> None:
    lane = Lane(takes_s=3.0)
    spec = scenario()
    short = spec.assertions[0].model_copy(update={"from_s": 1.25, "until_s": 2.75})
    record = lane.run(spec.model_copy(update={"assertions": [short]}), tmp_path)
    assert record.status == "errored"
    assert "could not be judged: no sample fitted in its window (1.5 s)" in record.reason
    assert "the probe took 3.00 s" in record.reason


def test_an_action_the_system_answers_wrongly_fails_naming_the_promise(tmp_path: Path) -> None:
    def refused(action: Any) -> ActionResult:
        return ActionResult(False, "POST /webhooks/stripe -> 200 accepted, expected 400")

    forged = slow_action("a forged delivery is refused", 0.5, "deliver")
    record = Lane(act=refused).run(scenario(method=[forged], assertions=[]), tmp_path)
    assert record.status == "failed"
    assert record.reason == (
        "action 'a forged delivery is refused': the system did not answer as expected: "
        "POST /webhooks/stripe -> 200 accepted, expected 400"
    )
    # and one the harness could not run errors
    missing = ActionResult(False, "'deliver' is not installed", errored=True)
    record = Lane(act=lambda a: missing).run(
        scenario(method=[forged], assertions=[]), tmp_path / "2"
    )
    assert record.status == "errored"
    assert "could not run: 'deliver' is not installed" in record.reason


def test_set_up_and_rollback_actions_are_named_as_the_scenario_names_them(tmp_path: Path) -> None:
    lane = Lane(act=lambda a: ActionResult(False, "exit 3") if a.command == ["seed"] else None)
    named = {"type": "command", "command": ["seed"], "name": "seed the catalogue"}
    record = lane.run(
        scenario(
            setup=[named],
            rollbacks=[{"type": "command", "command": ["undo"], "name": "restore the catalogue"}],
        ),
        tmp_path,
    )
    assert record.reason == "set-up action 'seed the catalogue' failed: exit 3"
    assert [s.name for s in record.steps] == ["seed the catalogue"]
    assert [s.name for s in record.rollbacks] == ["restore the catalogue"]


def test_fail_fast_ends_the_method_at_the_first_failure_and_leaves_out_what_was_not_judged(
    tmp_path: Path,
) -> None:
    # The app never notices the outage: "outage shows" fails at its first sample (1.25 s).
    late = {"type": "command", "command": ["late"]}
    later = {
        "name": "a long wait",
        "type": "eventually",
        "from_s": 20,
        "within_s": 30,
        "check": {
            "name": "200",
            "probe": {"type": "http", "service": "app"},
            "expect": {"equals": 200},
        },
    }
    spec = scenario(
        method=[*scenario().model_dump()["method"], {"name": "late", "at_s": 10, "action": late}],
        assertions=[*scenario().model_dump()["assertions"], later],
    )
    for fail_fast in (False, True):
        lane = Lane(answer=lambda probe: 200)
        record = lane.run(spec, tmp_path / str(fail_fast), fail_fast=fail_fast)
        assert record.status == "failed"
        assert "outage shows" in record.reason
        ran = [command for _, command in lane.actions]
        if fail_fast:
            assert "late" not in ran  # the method ended at 1.25 s
            assert [a.name for a in record.assertions] == ["outage shows"]
            assert record.steady_state_after == [] and "rollback" in ran
            assert lane.fake.toxiproxy.down("cache") is False  # reverted all the same
        else:
            assert "late" in ran
            assert [a.name for a in record.assertions] == ["outage shows", "a long wait"]
