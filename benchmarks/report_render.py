"""Benchmark: the HTML report of a typical run — its size, the time to render it from the
journal, and the time Chromium takes to load it, side by side with a blank page in the same
browser (the ratio is what is comparable on a shared machine). Targets: under 2 MB, loaded in
under a second.

The journal is the newest real one in reports/ (``--journal`` to choose), else a synthetic run
of 12 scenarios shaped like the shipped suite (tests/support/journals.py).

    python -m benchmarks.report_render [--journal reports/run-*/journal.json] [--rounds 7]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from harness.report import load_journal, relative_logs, render_run
from tests.support.journals import typical_run


def newest_journal() -> Path | None:
    journals = sorted(Path("reports").glob("run-*/journal.json"), key=lambda p: p.stat().st_mtime)
    return journals[-1] if journals else None


def load_ms(page_url: str, rounds: int, browser_path: str) -> tuple[float, float]:
    """Median milliseconds from navigation to the load event: the report, a blank page."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        report, blank = [], []
        for _ in range(rounds):  # alternate, so both see the same machine
            for url, into in ((page_url, report), ("about:blank", blank)):
                began = time.perf_counter()
                page.goto(url, wait_until="load")
                page.evaluate("() => document.body && document.body.getBoundingClientRect()")
                into.append((time.perf_counter() - began) * 1000)
        browser.close()
    return statistics.median(report), statistics.median(blank)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--journal", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("reports/bench"))
    args = parser.parse_args()
    browser_path = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser_path is None:
        raise SystemExit("chromium is not installed (apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="cg-bench-report-") as tmp:
        journal_path = args.journal or newest_journal()
        if journal_path is None:
            run_dir = Path(tmp) / "run"
            run = typical_run(run_dir)
            for scenario in run.scenarios:
                relative_logs(scenario, run_dir)
            run.write(run_dir / "journal.json")
            journal_path, source = run_dir / "journal.json", "synthetic: 12 scenarios"
        else:
            source = str(journal_path)
        journal = load_journal(journal_path)
        renders = []
        for _ in range(args.rounds):
            began = time.perf_counter()
            html = render_run(journal)
            renders.append((time.perf_counter() - began) * 1000)
        page = Path(tmp) / "report.html"
        page.write_text(html)
        report_ms, blank_ms = load_ms(page.as_uri(), args.rounds, browser_path)
    result = {
        "journal": source,
        "scenarios": len(journal["scenarios"]),
        "html_bytes": len(html.encode()),
        "html_mb": round(len(html.encode()) / 1e6, 3),
        "render_ms_median": round(statistics.median(renders), 1),
        "chromium_load_ms_median": round(report_ms, 1),
        "blank_page_load_ms_median": round(blank_ms, 1),
        "load_ratio_to_blank": round(report_ms / blank_ms, 2) if blank_ms else None,
        "target": "html_mb < 2, chromium_load_ms_median < 1000",
        "met": len(html.encode()) < 2_000_000 and report_ms < 1000,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report_render.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
