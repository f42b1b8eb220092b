"""The copy-paste CI pipelines in docs/ci/: valid YAML of the shape each service reads, calling
only chaosgate commands and options that exist, pinning the Toxiproxy the harness is tested
with, and publishing the files a run really writes."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from harness.provision.binaries import TOXIPROXY_VERSION

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ROOT / "docs" / "ci"


def github_commands() -> list[str]:
    workflow = yaml.safe_load((RECIPES / "github-actions.yml").read_text())
    # PyYAML reads the key "on" as True (YAML 1.1); GitHub reads it as the trigger.
    assert workflow.get("on") or workflow.get(True)
    steps = workflow["jobs"]["chaos"]["steps"]
    assert all("uses" in step or "run" in step for step in steps)
    uploads = [s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact")]
    assert uploads, "the reports are published"
    assert uploads[0]["if"] == "always()", "reports are published when the gate fails too"
    assert uploads[0]["with"]["path"] == "reports/"
    return [line for s in steps if "run" in s for line in _lines(s["run"])]


def gitlab_commands() -> list[str]:
    pipeline = yaml.safe_load((RECIPES / "gitlab-ci.yml").read_text())
    job = pipeline["chaos"]
    assert job["stage"] in pipeline["stages"]
    artifacts = job["artifacts"]
    assert artifacts["when"] == "always"
    assert artifacts["reports"]["junit"] == "reports/run-*/junit.xml"
    return [
        line for key in ("before_script", "script") for entry in job[key] for line in _lines(entry)
    ]


def _lines(script: str) -> list[str]:
    return [line.strip() for line in script.replace("\\\n", " ").splitlines() if line.strip()]


def chaosgate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        env={"COLUMNS": "200", "TERM": "dumb", "PATH": "/usr/bin:/bin"},
    )


def chaosgate_help(*command: str) -> str:
    done = chaosgate(*command, "--help")
    assert done.returncode == 0, (command, done.stderr)
    return done.stdout


@pytest.mark.parametrize("commands", [github_commands, gitlab_commands], ids=["github", "gitlab"])
def test_a_recipe_calls_only_real_commands_and_options(commands: object) -> None:
    assert callable(commands)
    lines: list[str] = commands()
    called = [shlex.split(line) for line in lines if line.startswith("chaosgate ")]
    assert [argv[1] for argv in called] == ["validate", "runbooks", "run"]
    for argv in called:
        sub = argv[1:3] if argv[1] == "runbooks" else argv[1:2]
        text = chaosgate_help(*sub)
        for option in (a.split("=", 1)[0] for a in argv if a.startswith("--")):
            assert re.search(rf"{re.escape(option)}\b", text), f"{' '.join(sub)} has no {option}"
    run = next(argv for argv in called if argv[1] == "run")
    assert run[run.index("--report-dir") + 1] == "reports"
    # The extras named are the project's own; Toxiproxy is the version the harness is tested with.
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    for line in lines:
        for extra in re.findall(r"chaosgate\[([a-z,]+)\]", line):
            assert set(extra.split(",")) <= set(extras), line
    downloads = [line for line in lines if "toxiproxy" in line and "releases/download" in line]
    assert downloads
    assert all(f"/download/{TOXIPROXY_VERSION}/" in line for line in downloads)


def test_the_junit_path_of_the_recipes_is_where_a_run_writes(tmp_path: Path) -> None:
    """A run of a broken file still writes its journal and JUnit under --report-dir/run-*/."""
    scenario = tmp_path / "broken.yaml"
    scenario.write_text("id: broken\n")
    done = chaosgate("run", str(scenario), "--report-dir", str(tmp_path / "reports"))
    assert done.returncode == 2, done.stdout  # the gate's exit code: a broken file errors
    assert list((tmp_path / "reports").glob("run-*/junit.xml")), done.stdout
