"""``python -m harness.mutation run`` end to end on a toy project: mutmut mutates a module a
service process imports, the scenarios are the killing tests, and the report says which
scenario and check killed each mutant, which survived, and which no scenario runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

STATUS = """\
def status(path):
    if path == "/":
        return 200
    return 404


def label(code):
    return "fine" if code < 300 else "not fine"


def never_called():
    return 1
"""

# the service: answers status(path), with label() in a header nobody checks
SERVER = (
    "import http.server, sys\n"
    "from toy.logic import status, label\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        code = status(self.path)\n"
    "        self.send_response(code); self.send_header('x-label', label(code))\n"
    "        self.end_headers(); self.wfile.write(b'ok')\n"
    "    def log_message(self, *a): pass\n"
    "http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()\n"
)

PYPROJECT = """\
[tool.mutmut]
source_paths = ["toy"]
pytest_add_cli_args_test_selection = ["scenarios"]
also_copy = ["scenarios"]
process_isolation = "forkserver"
forkserver_warmup = "none"
use_git_change_detection = false
"""


def check(name: str, path: str, status: int) -> dict[str, object]:
    return {
        "name": name,
        "probe": {"type": "http", "service": "app", "path": path},
        "expect": {"equals": status},
    }


def scenario() -> str:
    return yaml.safe_dump(
        {
            "id": "toy",
            "title": "the toy answers 200 at its root and 404 elsewhere",
            "services": {
                "app": {
                    "command": [sys.executable, "-c", SERVER, "${services.app.port}"],
                    "ready": {"tcp": True},
                }
            },
            "steady_state": [check("the root answers", "/", 200)],
            "assertions": [
                {
                    "name": "elsewhere is not found",
                    "type": "always",
                    "from_s": 0,
                    "until_s": 1,
                    "interval_s": 0.2,
                    "check": check("a missing page", "/missing", 404),
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


def test_scenarios_kill_the_mutants_of_what_their_services_run(tmp_path: Path) -> None:
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "__init__.py").write_text("")
    (tmp_path / "toy" / "logic.py").write_text(STATUS)
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "toy.yaml").write_text(scenario())
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    marks = tmp_path / "marks.toml"
    marks.write_text('[promises]\n"toy/" = "the toy answers what it is asked"\n')
    argv = [sys.executable, "-m", "harness.mutation", "run", "--budget", "600"]
    argv += ["--children", "2", "--root", str(tmp_path), "--marks", str(marks)]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=840)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "budget 600 s" in done.stdout and "s of wall time" in done.stdout

    data = json.loads((tmp_path / "reports" / "mutation" / "mutation.json").read_text())
    statuses = {s["name"]: s["status"] for s in data["survivors"]}
    killed = {k["name"]: k["by"] for k in data["killed"]}
    # every mutant of status() is caught by the scenario that probes it, the check named
    status_kills = {n: by for n, by in killed.items() if ".x_status__" in n}
    assert status_kills, data
    assert not [n for n in statuses if ".x_status__" in n], statuses
    for by in status_kills.values():
        assert by["scenario"] == "toy"
        named = ("the root answers", "elsewhere is not found")
        assert any(n in f for f in by["failed"] for n in named), by
    # label() runs in the service, but nothing checks its header: its mutants survive
    assert {s for n, s in statuses.items() if ".x_label__" in n} == {"survived"}
    # never_called() runs nowhere: not covered, not tried
    assert {s for n, s in statuses.items() if ".x_never_called__" in n} == {"not covered"}
    survivor = next(s for s in data["survivors"] if s["status"] == "survived")
    assert survivor["diff"].startswith("--- toy/logic.py")
    assert survivor["promise"] == "the toy answers what it is asked"
    assert data["overall"]["not_tried"] == 0

    # a second run reuses mutmut's results and map: nothing is tried again
    again = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=840)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "0 untried" in again.stdout, again.stdout[-2000:]
