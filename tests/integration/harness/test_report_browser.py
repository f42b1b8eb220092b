"""The HTML report of a real run, opened in a real headless Chromium (Debian's, driven by
Playwright): it renders with no console or page errors, its timeline and metric charts are
there, the failed assertion and its observed value are in the summary without scrolling, and
no secret or personal data of the run appears in the report, the journal, JUnit or the logs.
Screenshots are kept in reports/test-artifacts/ (or $CG_ARTIFACTS)."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.sync_api import Browser, sync_playwright
from typer.testing import CliRunner

from harness.cli import EXIT_FAILED, app
from tests.support.apps import REDIS_HEALTH_APP

ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS = Path(os.environ.get("CG_ARTIFACTS", ROOT / "reports" / "test-artifacts"))
PY = sys.executable
SECRET = "whsec_browser-test-secret-42"
EMAIL = "jane.doe@example.com"
# The engine tests' app, after a line that prints a secret and an e-mail into its log.
APP = (
    'import os; print("starting with", os.environ["SHOP_STRIPE_WEBHOOK_SECRETS"], "for", '
    'os.environ["OWNER"], flush=True)\n' + REDIS_HEALTH_APP
)
FAILING = "the app answers 418 after the outage"


def scenario(tmp_path: Path) -> Path:
    spec: dict[str, Any] = {
        "id": "report-demo",
        "title": "Redis outage seen by a tiny app",
        "services": {
            "redis": {"kind": "redis"},
            "toxiproxy": {"kind": "toxiproxy"},
            "app": {
                "command": [PY, "-c", APP, "${services.app.port}"],
                "env": {
                    "CG_REDIS": "${proxies.cache.url}",
                    "SHOP_STRIPE_WEBHOOK_SECRETS": SECRET,
                    "OWNER": EMAIL,
                },
                "ready": {"http": "/"},
            },
        },
        "proxies": {"cache": {"upstream": "redis"}},
        "method": [
            {
                "name": "redis unreachable",
                "at_s": 0.5,
                "duration_s": 1.5,
                "fault": {"type": "proxy_down", "proxy": "cache"},
            },
        ],
        "metrics": [
            {
                "name": "app status",
                "unit": "HTTP",
                "interval_s": 0.2,
                "probe": {"type": "http", "service": "app"},
            }
        ],
        "assertions": [
            {
                "name": "the outage is reported",
                "type": "eventually",
                "within_s": 2,
                "interval_s": 0.2,
                "check": {
                    "name": "503",
                    "probe": {"type": "http", "service": "app"},
                    "expect": {"equals": 503},
                },
            },
            {
                "name": FAILING,
                "type": "eventually",
                "from_s": 2.2,
                "within_s": 3.5,
                "interval_s": 0.2,
                "check": {
                    "name": "418",
                    "probe": {"type": "http", "service": "app"},
                    "expect": {"equals": 418},
                },
            },
        ],
    }
    path = tmp_path / "report-demo.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail(
            "chromium is not installed: the report is checked in a real browser "
            "(apt-get install chromium; ./run tests installs it)",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("report")
    reports = tmp / "reports"
    result = CliRunner().invoke(
        app, ["run", str(scenario(tmp)), "--seed", "7", "--report-dir", str(reports)]
    )
    assert result.exit_code == EXIT_FAILED, result.output
    (run,) = [p for p in reports.iterdir() if p.is_dir()]
    return run


def test_the_report_renders_in_chromium_with_the_failure_above_the_fold(
    browser: Browser, run_dir: Path
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto((run_dir / "report.html").as_uri(), wait_until="load")
    try:
        assert problems == []
        assert requests == [(run_dir / "report.html").as_uri()]  # nothing else fetched
        assert page.locator("#verdict").inner_text().startswith("FAIL")
        assert page.locator("svg.timeline").count() == 1
        assert page.locator("svg.chart[aria-label='app status']").count() == 1
        assert page.locator("svg.chart polyline").count() >= 1
        reason = page.locator("#summary tr[data-scenario='report-demo'] td.reason")
        assert FAILING in reason.inner_text() and "observed 200" in reason.inner_text()
        box = reason.bounding_box()
        assert box is not None and box["y"] + box["height"] <= 800  # no scrolling needed
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report-failed-run.png"), full_page=True)
        page.screenshot(path=str(ARTIFACTS / "report-failed-run-above-the-fold.png"))
        assert (ARTIFACTS / "report-failed-run.png").stat().st_size > 10_000
    finally:
        page.close()


def test_the_index_renders_in_chromium(browser: Browser, run_dir: Path) -> None:
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.goto((run_dir.parent / "index.html").as_uri(), wait_until="load")
    try:
        assert problems == []
        assert page.locator("#runs a").count() == 1
        assert page.locator("svg.trend rect").count() >= 1
        page.screenshot(path=str(ARTIFACTS / "index.png"))
    finally:
        page.close()


def test_no_secret_or_personal_data_is_left_in_what_the_run_wrote(run_dir: Path) -> None:
    written = [p for p in run_dir.rglob("*") if p.is_file()]
    assert {"journal.json", "report.html", "junit.xml"} <= {p.name for p in written}
    logs = [p for p in written if p.suffix == ".log"]
    app_log = next(p for p in logs if p.name.startswith("app"))
    assert "starting with [redacted] for [email]" in app_log.read_text()
    for path in written:
        text = path.read_bytes().decode(errors="replace")
        assert SECRET not in text, path
        assert EMAIL not in text, path
