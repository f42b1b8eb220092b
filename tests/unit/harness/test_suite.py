"""A suite of scenarios one at a time and several at once: the same journal, order and verdicts;
exclusive scenarios alone; the exit code a release gate reads."""

from __future__ import annotations

import io
import json
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

from rich.console import Console

from harness.exits import EXIT_FAILED, EXIT_PASSED, Environment
from harness.run import Kinds
from harness.scenario.loader import LoadedScenario
from harness.scenario.model import Probe, Scenario
from harness.suite import auto_jobs, run_suite
from harness.testing import FakeProvisioner, answering

UP: dict[int, str] = {}  # stack -> scenario, while it is up
STARTED: list[str] = []  # scenarios in the order their stacks started
SEEN = {"most": 0, "beside_exclusive": set()}
LOCK = threading.Lock()


def scenario(
    sid: str, *, healthy: int = 200, exclusive: bool = False, until_s: float = 0.6
) -> LoadedScenario:
    spec = Scenario.model_validate(
        {
            "id": sid,
            "title": sid,
            "exclusive": exclusive,
            "services": {"app": {"command": ["app"]}},
            "method": [],
            "assertions": [
                {
                    "name": "healthy for a while",
                    "type": "always",
                    "until_s": until_s,
                    "interval_s": 0.2,
                    "check": {
                        "name": "200",
                        "probe": {"type": "http", "service": "app", "path": f"/{sid}/{healthy}"},
                        "expect": {"equals": 200},
                    },
                }
            ],
        }
    )
    return LoadedScenario(Path(f"{sid}.yaml"), spec)


class Counting(FakeProvisioner):
    """A fake backend that counts the stacks up at once, and what was up beside an exclusive
    scenario."""

    exclusive: ClassVar[set[str]] = set()

    def start(self, scenario: Scenario, run_dir: Path) -> Any:
        stack = super().start(scenario, run_dir)
        with LOCK:
            if scenario.exclusive:
                Counting.exclusive.add(scenario.id)
            UP[id(stack)] = scenario.id
            STARTED.append(scenario.id)
            SEEN["most"] = max(SEEN["most"], len(UP))
            if Counting.exclusive & set(UP.values()):
                SEEN["beside_exclusive"] |= set(UP.values()) - Counting.exclusive
        return stack

    def stop(self, stack: Any) -> list[str]:
        with LOCK:
            UP.pop(id(stack), None)
        return super().stop(stack)


def answer(probe: Probe) -> int:
    return int(probe.path.rsplit("/", 1)[1])  # type: ignore[union-attr]


def suite(items: list[LoadedScenario], tmp_path: Path, jobs: int) -> tuple[int, dict[str, Any]]:
    code = run_suite(
        items,
        [],
        seed=5,
        time_scale=1.0,
        env=Environment.local,
        report_dir=tmp_path,
        out=Console(file=io.StringIO()),
        err=Console(file=io.StringIO()),
        jobs=jobs,
        provisioner=Counting,
        kinds=Kinds(probes=answering(answer)),
    )
    journal = json.loads(next(tmp_path.glob("run-*/journal.json")).read_text())
    return code, journal


def test_several_at_once_give_the_serial_journal_in_less_time(tmp_path: Path) -> None:
    items = [scenario(f"s{i}") for i in range(4)] + [scenario("flood", exclusive=True)]
    started = time.monotonic()
    code, serial = suite(items, tmp_path / "serial", 1)
    serial_s = time.monotonic() - started
    SEEN.update(most=0, beside_exclusive=set())
    started = time.monotonic()
    code_at_once, at_once = suite(items, tmp_path / "at-once", 4)
    at_once_s = time.monotonic() - started
    assert code == code_at_once == EXIT_PASSED
    assert [s["id"] for s in at_once["scenarios"]] == [s["id"] for s in serial["scenarios"]]
    assert [s["status"] for s in at_once["scenarios"]] == ["passed"] * 5
    assert SEEN["most"] == 4
    assert SEEN["beside_exclusive"] == set()  # flood ran alone
    assert at_once_s < serial_s


def test_a_failure_among_several_fails_the_run(tmp_path: Path) -> None:
    items = [scenario("a"), scenario("b", healthy=503), scenario("c")]
    code, journal = suite(items, tmp_path, 3)
    assert code == EXIT_FAILED
    assert [s["status"] for s in journal["scenarios"]] == ["passed", "failed", "passed"]


def test_several_at_once_start_the_longest_first_and_journal_in_the_order_given(
    tmp_path: Path,
) -> None:
    items = [scenario("short", until_s=0.2), scenario("mid"), scenario("long", until_s=1.0)]
    STARTED.clear()
    code, journal = suite(items, tmp_path, 2)
    assert code == EXIT_PASSED
    assert set(STARTED[:2]) == {"long", "mid"}  # started at once, on two threads
    assert STARTED[2] == "short"  # it waited for a free place
    assert [s["id"] for s in journal["scenarios"]] == ["short", "mid", "long"]


def test_auto_is_at_least_one_and_at_most_eight() -> None:
    for env in Environment:
        assert 1 <= auto_jobs(env) <= 8


def test_auto_runs_fewer_on_docker_and_as_memory_allows() -> None:
    plenty = 64 * 1024 * 1024
    assert auto_jobs(Environment.local, cores=2, available_kb=plenty) == 5
    assert auto_jobs(Environment.docker, cores=2, available_kb=plenty) == 2
    assert auto_jobs(Environment.local, cores=16, available_kb=plenty) == 8
    assert auto_jobs(Environment.local, cores=2, available_kb=5 * 1024 * 1024) == 2
    assert auto_jobs(Environment.local, cores=1, available_kb=1024) == 1


def test_sigterm_rolls_back_every_scenario_running_at_once(tmp_path: Path) -> None:
    import os
    import signal

    from harness.exits import EXIT_ERRORED

    long = [scenario(f"long{i}") for i in range(3)]
    longer = [
        LoadedScenario(
            item.path,
            item.scenario.model_copy(
                update={
                    "assertions": [item.scenario.assertions[0].model_copy(update={"until_s": 60.0})]
                }
            ),
        )
        for item in long
    ]
    threading.Timer(1.5, os.kill, (os.getpid(), signal.SIGTERM)).start()
    started = time.monotonic()
    code, journal = suite(longer, tmp_path, 3)
    assert code == EXIT_ERRORED
    assert time.monotonic() - started < 20  # not the 60 s the assertions wanted
    assert [s["reason"] for s in journal["scenarios"]] == ["interrupted (Ctrl-C); rolled back"] * 3
    assert UP == {}  # every stack stopped
