"""JUnit XML from a run's journal, so CI systems show chaos results natively: a test suite per
scenario; a test case for the scenario itself, one per assertion, per invariant and per runbook
step. A failed promise is a ``<failure>`` with the observed value; a scenario that could not
run is an ``<error>``; a human runbook step is ``<skipped>`` (reported, never counted as passed).
"""

from __future__ import annotations

import json
import re
import time
import xml.etree.ElementTree as ET
from typing import Any

from harness.report.formats import FORMATS, Format

__all__ = ["render_junit"]


def _case(suite: ET.Element, classname: str, name: str, seconds: float = 0.0) -> ET.Element:
    return ET.SubElement(
        suite, "testcase", classname=classname, name=name, time=f"{max(0.0, seconds):.3f}"
    )


def _fail(case: ET.Element, tag: str, message: str, text: str = "") -> None:
    element = ET.SubElement(case, tag, message=message[:1000], type=tag)
    element.text = text or message


def _scenario_suite(root: ET.Element, scenario: dict[str, Any], run: dict[str, Any]) -> None:
    sid = scenario["id"]
    classname = f"chaosgate.{sid}"
    suite = ET.SubElement(
        root,
        "testsuite",
        name=sid,
        timestamp=time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(scenario.get("started_at", 0))),
        time=f"{scenario.get('duration_s', 0.0):.3f}",
    )
    props = ET.SubElement(suite, "properties")
    for key, value in (
        ("title", scenario.get("title", "")),
        ("file", scenario.get("file", "")),
        ("runbook", scenario.get("runbook") or ""),
        ("seed", run.get("seed")),
        ("time_scale", run.get("time_scale")),
        ("environment", run.get("environment", "local")),
    ):
        ET.SubElement(props, "property", name=key, value=str(value))

    case = _case(suite, classname, "scenario", scenario.get("duration_s", 0.0))
    if scenario["status"] == "failed":
        _fail(case, "failure", scenario.get("reason", "failed"))
    elif scenario["status"] == "errored":
        _fail(case, "error", scenario.get("reason", "errored"))

    for a in scenario.get("assertions", []):
        case = _case(suite, classname, f"assertion: {a['name']}")
        if a["status"] == "errored":  # no sample fitted in its window: not judged
            _fail(case, "error", f"{a['type']}: could not be judged: {a.get('why', '')}")
        elif a["status"] != "passed":
            observed = json.dumps(a.get("observed"), default=str)
            _fail(
                case,
                "failure",
                f"{a['type']}: observed {observed}, expected {json.dumps(a['expected'])}"
                + (f" ({a['why']})" if a.get("why") else ""),
                f"samples: {a.get('samples', 0)}, last at {a.get('at_s')} s\n{a.get('why', '')}",
            )
    for inv in scenario.get("invariants", []):
        case = _case(suite, classname, f"invariant: {inv['name']}")
        if inv["status"] != "passed":
            _fail(
                case,
                "failure",
                f"{inv['type']}: {inv.get('summary', '')}",
                "\n".join(inv.get("violations", [])),
            )
    drill = scenario.get("runbook_drill")
    if drill:
        for step in drill.get("steps", []):
            case = _case(
                suite,
                f"{classname}.runbook",
                f"{step['section']}: {step['id']} ({step['location']})",
                step.get("duration_s", 0.0),
            )
            if step["verdict"] == "failed":
                output = "\n".join(c.get("output", "") for c in step.get("commands", []))
                _fail(case, "failure", step.get("why", "failed"), output)
            elif step["verdict"] == "human":
                ET.SubElement(case, "skipped", message=f"a person's step: {step.get('text', '')}")
            elif step["verdict"] in ("not run", "skipped"):
                by = f" by {step['marked_by']}" if step.get("marked_by") else ""
                why = step.get("why") or step["verdict"]
                ET.SubElement(case, "skipped", message=f"{step['verdict']}{by}: {why}")
        ttd = drill.get("time_to_detect_s")
        if ttd is not None:
            _case(suite, f"{classname}.runbook", "time to detect").set("time", f"{ttd:.3f}")
        case = _case(suite, f"{classname}.runbook", "time to resolve")
        ttr = drill.get("time_to_resolve_s")
        if drill["status"] != "passed":
            _fail(case, "failure", drill.get("why") or drill["status"])
        elif ttr is not None:
            case.set("time", f"{ttr:.3f}")

    cases = suite.findall("testcase")
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
    suite.set("errors", str(sum(1 for c in cases if c.find("error") is not None)))
    suite.set("skipped", str(sum(1 for c in cases if c.find("skipped") is not None)))


def render_junit(journal: dict[str, Any]) -> str:
    """JUnit XML of one run (a journal as written by ``chaosgate run``)."""
    root = ET.Element("testsuites", name="chaosgate")
    for scenario in journal.get("scenarios", []):
        _scenario_suite(root, scenario, journal)
    for path in journal.get("invalid_files", []):
        suite = ET.SubElement(root, "testsuite", name=path, tests="1", failures="0", errors="1")
        case = _case(suite, "chaosgate.invalid", path)
        _fail(case, "error", f"{path}: the scenario file is broken (chaosgate validate {path})")
    suites = root.findall("testsuite")
    for key in ("tests", "failures", "errors", "skipped"):
        root.set(key, str(sum(int(s.get(key, "0")) for s in suites)))
    started, finished = journal.get("started_at") or 0.0, journal.get("finished_at") or 0.0
    root.set("time", f"{max(0.0, finished - started):.3f}")
    _xml_safe(root)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


#: characters XML 1.0 cannot hold (control characters a command printed, lone surrogates)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _clean(text: str) -> str:
    return _NOT_XML.sub(lambda m: f"\\x{ord(m[0]):02x}", text)


def _xml_safe(root: ET.Element) -> None:
    """Every text and attribute as XML 1.0 allows: outputs may hold any character."""
    for element in root.iter():
        if element.text:
            element.text = _clean(element.text)
        for key, value in element.attrib.items():
            element.attrib[key] = _clean(value)


FORMATS.register("junit")(Format("junit.xml", render_junit))
