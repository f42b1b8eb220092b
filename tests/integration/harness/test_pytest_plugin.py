"""``pytest scenarios/``: scenario files as test items, run by chaosgate's runner on real
processes — verdicts as pytest outcomes with the observed values, ``-k``, ``--junitxml``, xdist,
and the same journal and HTML report as ``chaosgate run``."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.integration
pytest_plugins = ("pytester",)

ROOT = Path(__file__).resolve().parents[3]

# A tiny HTTP service: 200 on every path.
SERVER = (
    "import http.server, sys\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        self.send_response(200); self.end_headers(); self.wfile.write(b'ok')\n"
    "    def log_message(self, *a): pass\n"
    "http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()\n"
)


def scenario(
    scenario_id: str, *, expect: int = 200, until_s: float = 1, exclusive: bool = False
) -> str:
    return yaml.safe_dump(
        {
            "id": scenario_id,
            "exclusive": exclusive,
            "title": f"{scenario_id}: an HTTP service keeps answering",
            "services": {
                "app": {
                    "command": [sys.executable, "-c", SERVER, "${services.app.port}"],
                    "ready": {"http": "/"},
                }
            },
            "steady_state": [
                {
                    "name": "it answers",
                    "probe": {"type": "http", "service": "app", "path": "/"},
                    "expect": {"equals": 200},
                }
            ],
            "assertions": [
                {
                    "name": "it keeps answering",
                    "type": "always",
                    "from_s": 0,
                    "until_s": until_s,
                    "interval_s": 0.2,
                    "check": {
                        "name": "status",
                        "probe": {"type": "http", "service": "app", "path": "/"},
                        "expect": {"equals": expect},
                    },
                }
            ],
            "method": [
                {
                    "name": "a pause",
                    "at_s": 0,
                    "action": {"type": "command", "command": [sys.executable, "-c", "pass"]},
                }
            ],
        },
        sort_keys=False,
    )


def journal(pytester: pytest.Pytester) -> dict[str, object]:
    (path,) = (pytester.path / "reports").glob("run-*/journal.json")
    result: dict[str, object] = json.loads(path.read_text())
    return result


def test_scenario_files_are_tests_named_by_their_id_with_the_same_reports(
    pytester: pytest.Pytester,
) -> None:
    scenarios = pytester.mkdir("scenarios")
    (scenarios / "holds.yaml").write_text(scenario("it-holds"))
    (scenarios / "breaks.yaml").write_text(scenario("it-breaks", expect=201))
    (scenarios / "notes.yaml").write_text("just: some yaml\n")  # not a scenario: not collected
    pytester.path.joinpath("elsewhere.yaml").write_text(scenario("not-in-scenarios"))

    result = pytester.runpytest_subprocess(
        "scenarios", "--junitxml=junit.xml", "-p", "no:cacheprovider"
    )

    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    assert "it-breaks failed" in out
    assert "assertion 'it keeps answering' (always) failed" in out
    assert "observed 200" in out
    run = journal(pytester)
    assert run["status"] == "failed"
    assert sorted(s["id"] for s in run["scenarios"]) == ["it-breaks", "it-holds"]  # type: ignore[index, union-attr]
    assert list((pytester.path / "reports").glob("run-*/report.html"))
    junit = ET.parse(pytester.path / "junit.xml")  # noqa: S314 (pytest's own output)
    cases = junit.getroot().iter("testcase")
    assert sorted(c.get("name") or "" for c in cases) == ["it-breaks", "it-holds"]


def test_k_selects_scenarios_and_a_broken_file_is_an_error(pytester: pytest.Pytester) -> None:
    scenarios = pytester.mkdir("scenarios")
    (scenarios / "one.yaml").write_text(scenario("first-one"))
    (scenarios / "two.yaml").write_text(scenario("second-one"))
    (scenarios / "bad.yaml").write_text("id: bad\nservices: {app: {kind: nope}}\n")

    selected = pytester.runpytest_subprocess("scenarios", "-k", "second", "-p", "no:cacheprovider")
    selected.assert_outcomes(passed=1, deselected=2)
    assert [s["id"] for s in journal(pytester)["scenarios"]] == ["second-one"]  # type: ignore[index, union-attr]

    broken = pytester.runpytest_subprocess("scenarios", "-k", "bad", "-p", "no:cacheprovider")
    broken.assert_outcomes(errors=1, deselected=2)
    assert "services.app.kind" in broken.stdout.str()


def test_yaml_anywhere_with_the_option_and_xdist_workers_share_one_journal(
    pytester: pytest.Pytester,
) -> None:
    for name in ("a", "b", "c"):
        pytester.path.joinpath(f"{name}.yaml").write_text(scenario(f"scenario-{name}"))
    result = pytester.runpytest_subprocess(
        ".",
        "--chaosgate",
        "-p",
        "xdist",
        "-n",
        "2",
        "--chaosgate-seed",
        "7",
        "-p",
        "no:cacheprovider",
    )
    result.assert_outcomes(passed=3)
    run = journal(pytester)
    assert run["seed"] == 7
    assert sorted(s["id"] for s in run["scenarios"]) == [  # type: ignore[index, union-attr]
        "scenario-a",
        "scenario-b",
        "scenario-c",
    ]


def test_under_xdist_an_exclusive_scenario_runs_with_no_other_beside_it(
    pytester: pytest.Pytester,
) -> None:
    scenarios = pytester.mkdir("scenarios")
    for name in ("a", "b", "c"):
        (scenarios / f"{name}.yaml").write_text(scenario(f"shared-{name}", until_s=2))
    (scenarios / "flood.yaml").write_text(scenario("flood", until_s=2, exclusive=True))
    result = pytester.runpytest_subprocess(
        "scenarios", "-p", "xdist", "-n", "2", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=4)
    runs = {
        s["id"]: (s["started_at"], s["started_at"] + s["duration_s"])
        for s in journal(pytester)["scenarios"]  # type: ignore[union-attr]
    }
    begin, end = runs.pop("flood")
    # the journal keeps duration_s to the millisecond, so an end is known to within half of one:
    # a scenario that started in the half millisecond before the flood's rounded end is after it
    slack = 0.0005
    beside = [sid for sid, (b, e) in runs.items() if b < end - slack and e > begin + slack]
    assert beside == [], f"ran beside the exclusive scenario: {beside} ({runs}, flood {begin, end})"
    assert not list((pytester.path / "reports").glob("run-*/.scenarios.lock"))


def test_a_shipped_scenario_sabotaged_fails_with_the_observed_value(
    pytester: pytest.Pytester,
) -> None:
    """The issue's example: ``pytest scenarios/ -k redis-outage`` on the reference shop, with its
    fulfilment sweep switched off: the order stays paid, and pytest says so."""
    spec = yaml.safe_load((ROOT / "scenarios" / "redis-outage-during-payment.yaml").read_text())
    for service in spec["services"].values():
        if "env" in service:
            service["env"]["SHOP_FULFILMENT_SWEEP_INTERVAL_S"] = "3600"
    spec["runbook"] = str(ROOT / spec["runbook"])
    scenarios = pytester.mkdir("scenarios")
    (scenarios / "redis-outage-during-payment.yaml").write_text(yaml.safe_dump(spec))
    (scenarios / "other.yaml").write_text(scenario("other"))

    result = pytester.runpytest_subprocess(
        "scenarios", "-k", "redis-outage", "-p", "no:cacheprovider"
    )

    result.assert_outcomes(failed=1, deselected=1)
    out = " ".join(result.stdout.str().split())
    assert "the order is fulfilled once Redis is back" in out
    assert "observed 'paid'" in out
