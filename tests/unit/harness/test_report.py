"""Reports rendered from a journal: the HTML is one self-contained file whose summary names a
failed assertion and its observed value; JUnit XML counts what CI should; redaction keeps
secrets and personal data out; the index shows the runs; ``chaosgate report`` renders again."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

from typer.testing import CliRunner

from harness.cli import EXIT_ERRORED, app
from harness.journal import ScenarioRecord, StepRecord
from harness.report import (
    Redactor,
    relative_logs,
    render_index,
    render_junit,
    render_run,
    write_index,
    write_reports,
)
from harness.scenario.model import Scenario
from tests.support.journals import FAILED_ASSERTION, SECRET, typical_run


def journal_of(tmp_path: Path, **kwargs: int) -> tuple[Path, dict[str, object]]:
    run_dir = tmp_path / "reports" / "run-1"
    run = typical_run(run_dir, **kwargs)
    for scenario in run.scenarios:
        relative_logs(scenario, run_dir)
    run.write(run_dir / "journal.json")
    return run_dir / "journal.json", json.loads((run_dir / "journal.json").read_text())


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_the_summary_names_the_failed_assertion_and_its_observed_value(tmp_path: Path) -> None:
    journal, _ = journal_of(tmp_path)
    html, junit = write_reports(journal)
    text = html.read_text()
    summary = text[text.index('<table id="summary">') : text.index("</table>")]
    assert 'class="banner FAIL"' in text
    assert "1 of 12 scenario(s) failed" in text
    assert FAILED_ASSERTION in summary and "observed 1, expected 3" in summary
    assert summary.index("scenario-00") < summary.index("scenario-11")
    assert junit.is_file()


def test_the_html_is_self_contained(tmp_path: Path) -> None:
    journal, _ = journal_of(tmp_path)
    html, _ = write_reports(journal)
    text = html.read_text()
    parser = _Collect()
    parser.feed(text)
    tags = [t for t, _ in parser.tags]
    assert not {"script", "link", "img", "iframe", "object"} & set(tags)
    for _, attrs in parser.tags:
        for name in ("src", "href"):
            value = attrs.get(name) or ""
            assert not value or value.startswith("#"), (name, value)
    assert "@import" not in text and "url(" not in text
    # Charts are inline SVG: a timeline per scenario, a chart per metric, assertion sparklines.
    assert tags.count("svg") >= 12 * (1 + 3 + 8)
    assert text.count('class="timeline"') == 12
    assert len(text.encode()) < 2_000_000, len(text.encode())


def test_the_html_shows_runbook_steps_metrics_and_logs(tmp_path: Path) -> None:
    journal, _ = journal_of(tmp_path, scenarios=1, failed=0)
    text = write_reports(journal)[0].read_text()
    assert 'class="banner PASS"' in text
    assert "Time to resolve: <strong>15.0 s</strong>" in text
    assert "target 30.0 s (30m, scaled)" in text
    assert "$ shop webhooks failures --since 1h --json" in text
    assert "Open the provider&#39;s status page." in text  # a human step, escaped
    assert 'aria-label="orders queue depth"' in text
    assert "api: INFO handled request id=42" in text  # the log tail, read via the journal's dir
    assert "earlier bytes not shown" in text  # 40 KB logs: only the tail is embedded


def parse_junit(text: str) -> ET.Element:
    return ET.fromstring(text)  # noqa: S314 (our own output, not untrusted input)


def test_junit_has_a_case_per_scenario_assertion_invariant_and_runbook_step(
    tmp_path: Path,
) -> None:
    _, journal = journal_of(tmp_path, scenarios=2, failed=1)
    root = parse_junit(render_junit(journal))
    assert root.tag == "testsuites"
    # per scenario: 1 scenario + 8 assertions + 1 invariant + 5 runbook steps + time to resolve
    assert root.get("tests") == str(2 * 16)
    assert root.get("failures") == "2"  # the failed scenario and its failed assertion
    assert root.get("errors") == "0"
    assert root.get("skipped") == "2"  # the human step of each drill: never counted as passed
    failed = root.find("testsuite[@name='scenario-00']")
    assert failed is not None
    case = failed.find(f"testcase[@name='assertion: {FAILED_ASSERTION}']/failure")
    assert case is not None and "observed 1, expected" in (case.get("message") or "")
    names = [c.get("name") for c in failed.findall("testcase")]
    assert "symptoms: stuck-orders (runbooks/payment-processing-failure.md:20)" in names
    props = {p.get("name"): p.get("value") for p in failed.iter("property")}
    assert props["seed"] == "5" and props["runbook"] == "runbooks/payment-processing-failure.md"


def test_an_errored_scenario_and_a_broken_file_are_junit_errors(tmp_path: Path) -> None:
    _, journal = journal_of(tmp_path, scenarios=1, failed=0)
    scenarios = journal["scenarios"]
    assert isinstance(scenarios, list)
    scenarios[0]["status"], scenarios[0]["reason"] = "errored", "port 5432 in use"
    journal["invalid_files"] = ["scenarios/broken.yaml"]
    root = parse_junit(render_junit(journal))
    assert root.get("errors") == "2"
    error = root.find("testsuite/testcase[@name='scenario']/error")
    assert error is not None and error.get("message") == "port 5432 in use"


def test_redaction_keeps_secrets_and_personal_data_out(tmp_path: Path) -> None:
    scenario = Scenario.model_validate(
        {
            "id": "s",
            "title": "t",
            "services": {
                "api": {
                    "command": ["x"],
                    "env": {
                        "SHOP_STRIPE_WEBHOOK_SECRETS": SECRET,
                        "SHOP_ADMIN_TOKEN": "chaos-admin-token",
                        "SHOP_ALERT_TWILIO_ACCOUNT_SID": "AC0000",
                        "SHOP_PORT": "8000",
                    },
                }
            },
            "setup": [
                {
                    "type": "http",
                    "service": "api",
                    "headers": {"Authorization": "Bearer hdr-token-123"},
                }
            ],
        }
    )
    redactor = Redactor.for_scenario(scenario)
    record = ScenarioRecord("s", "t", "f", None, reason=f"signed with {SECRET}")
    record.steps.append(
        StepRecord(
            "call",
            "action",
            1.0,
            detail="Authorization: Bearer hdr-token-123 as chaos-admin-token for AC0000",
            history=[{"email": "jane.doe@example.com", "phone": "+15550001", "port": "8000"}],
        )
    )
    clean = redactor.value(record)
    text = json.dumps(clean, default=lambda o: o.__dict__)
    for secret in (SECRET, "hdr-token-123", "chaos-admin-token", "AC0000", "jane.doe", "+1555"):
        assert secret not in text, secret
    assert "8000" in text  # not a secret: ordinary settings stay
    assert record.reason == f"signed with {SECRET}"  # the original is not changed
    log = tmp_path / "api.log"
    log.write_text(f"verifying with {SECRET}; card 4242 4242 4242 4242; order 1764445433123\n")
    redactor.file(log)
    assert log.read_text() == "verifying with [redacted]; card [card]; order 1764445433123\n"


def test_the_index_lists_runs_newest_first_with_their_trend(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    for i, failed in enumerate((0, 1, 0)):
        run_dir = reports / f"run-{i}"
        run = typical_run(run_dir, scenarios=3, failed=failed)
        run.started_at += i * 100
        run.write(run_dir / "journal.json")
    (reports / "run-9").mkdir()
    (reports / "run-9" / "journal.json").write_text("{not json")  # left out, not fatal
    text = write_index(reports).read_text()
    hrefs = re.findall(r'<a href="([^"]+)"', text)
    assert hrefs == ["run-2/report.html", "run-1/report.html", "run-0/report.html"]
    assert 'aria-label="trend of the last runs"' in text
    assert text.count("<rect") >= 3
    assert render_index([]).count("<tr") == 1  # the header row only


def test_chaosgate_report_renders_again_and_refuses_what_is_not_a_journal(
    tmp_path: Path,
) -> None:
    journal, _ = journal_of(tmp_path, scenarios=2)
    out = tmp_path / "elsewhere"
    result = CliRunner().invoke(app, ["report", str(journal.parent), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "run-1" / "report.html").is_file() and (out / "run-1" / "junit.xml").is_file()
    assert "run-1/report.html" in (out / "index.html").read_text()
    bad = tmp_path / "bad" / "run-x" / "journal.json"
    bad.parent.mkdir(parents=True)
    bad.write_text("[]")
    refused = CliRunner().invoke(app, ["report", str(bad)])
    assert refused.exit_code == EXIT_ERRORED
    assert f"{bad}: not a chaosgate journal" in refused.output
    nothing = CliRunner().invoke(app, ["report", str(tmp_path / "empty")])
    assert nothing.exit_code == EXIT_ERRORED and "no journal.json" in nothing.output


def test_render_run_of_an_empty_run_says_it_could_not_judge() -> None:
    text = render_run({"status": "errored", "scenarios": [], "invalid_files": ["a.yaml"]})
    assert 'class="banner ERROR"' in text and "1 file(s) invalid" in text


def test_an_assertion_that_could_not_be_judged_is_a_junit_error() -> None:
    from harness.report import render_junit

    journal = {
        "status": "errored",
        "seed": 1,
        "time_scale": 1.0,
        "started_at": 0.0,
        "scenarios": [
            {
                "id": "s",
                "title": "s",
                "file": "s.yaml",
                "status": "errored",
                "reason": "assertion 'a' (always) could not be judged",
                "duration_s": 1.0,
                "assertions": [
                    {
                        "name": "a",
                        "type": "always",
                        "expected": {"equals": 1},
                        "status": "errored",
                        "why": "no sample fitted in its window (1 s)",
                    }
                ],
            }
        ],
    }
    xml = render_junit(journal)
    assert '<testcase classname="chaosgate.s" name="assertion: a"' in xml
    assert 'message="always: could not be judged: no sample fitted in its window (1 s)"' in xml


def test_a_crafted_journal_cannot_embed_a_file_outside_its_run(tmp_path: Path) -> None:
    from harness.report import write_reports

    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0\n")
    run = tmp_path / "reports" / "run-1"
    (run / "s" / "services").mkdir(parents=True)
    (run / "s" / "services" / "app.log").write_text("app started\n")
    journal = {
        "status": "passed",
        "seed": 1,
        "time_scale": 1.0,
        "started_at": 0.0,
        "scenarios": [
            {
                "id": "s",
                "title": "s",
                "file": "s.yaml",
                "status": "passed",
                "reason": "",
                "duration_s": 1.0,
                "services": {
                    "app": "s/services/app.log",
                    "x": "../../secret.txt",
                    "y": str(secret),
                },
            }
        ],
    }
    (run / "journal.json").write_text(json.dumps(journal))
    html, _junit = write_reports(run / "journal.json")
    text = html.read_text()
    assert "app started" in text
    assert "root:x:0:0" not in text
    assert "not embedded: the journal names a log outside the run directory" in text


def test_junit_stays_well_formed_whatever_the_outputs_held() -> None:
    import xml.etree.ElementTree as ET

    from harness.report import render_junit

    journal = {
        "status": "failed",
        "seed": 1,
        "time_scale": 1.0,
        "started_at": 0.0,
        "scenarios": [
            {
                "id": "s",
                "title": "s",
                "file": "s.yaml",
                "status": "failed",
                "reason": "exit \x1b[31m1\x00\x07",
                "duration_s": 1.0,
                "assertions": [
                    {
                        "name": "a\x0c",
                        "type": "always",
                        "expected": {},
                        "status": "failed",
                        "observed": "\x01\ud800",
                        "why": "bell \x07",
                    }
                ],
            }
        ],
    }
    xml = render_junit(journal)
    root = ET.fromstring(xml.encode())  # noqa: S314  # our own output, parsed to prove it parses
    assert root.get("failures") is not None
    assert "\\x1b" in xml and "\\x07" in xml and "\x00" not in xml
