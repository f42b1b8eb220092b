"""``pip install chaosgate`` with no extra is the harness alone: none of the shop's stack comes
with it, it validates and runs a scenario against a service that is not Python, and what needs a
missing extra says which ``pip install`` fixes it."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
#: the shop's stack, which a team that only wants the harness must not get
HEAVY = ("fastapi", "uvicorn", "sqlalchemy", "alembic", "dramatiq", "psycopg", "starlette")

REDIS_BEHIND_TOXIPROXY = """\
id: light
title: Redis behind Toxiproxy, judged by redis-cli
services:
  redis: {kind: redis}
  toxiproxy: {kind: toxiproxy}
proxies: {cache: {upstream: redis}}
steady_state:
  - name: Redis answers through the proxy
    probe: &ping
      type: command
      command: [redis-cli, -h, "${proxies.cache.host}", -p, "${proxies.cache.port}", ping]
      regex: '(PONG)'
    expect: {equals: PONG}
method:
  - name: the proxy is cut
    at_s: 1
    duration_s: 2
    fault: {type: proxy_down, proxy: cache}
assertions:
  - name: the outage shows
    type: eventually
    from_s: 1
    within_s: 3
    check: {name: no PONG, probe: {type: command, command: [redis-cli, -h, "${proxies.cache.host}",
      -p, "${proxies.cache.port}", ping]}, expect: {min: 1}}
"""

WITH_POSTGRES = """\
id: needs-postgres
title: a PostgreSQL service
services:
  db: {kind: postgres}
"""


def test_the_plain_install_declares_none_of_the_shop_stack() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = " ".join(project["dependencies"]).lower()
    assert [name for name in HEAVY if name in core] == []
    shop = " ".join(project["optional-dependencies"]["shop"]).lower()
    assert [name for name in HEAVY if name != "starlette" and name not in shop] == []


@pytest.fixture(scope="module")
def light_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with ``pip install .``: no extra."""
    venv = tmp_path_factory.mktemp("light") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    installed = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert installed.returncode == 0, installed.stderr[-2000:]
    return venv


def run(venv: Path, *argv: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join([str(venv / "bin"), os.environ.get("PATH", "")])
    return subprocess.run(
        list(argv),
        cwd=cwd,
        env={**os.environ, "PATH": path, "VIRTUAL_ENV": str(venv)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_pip_install_without_extras_brings_none_of_the_shop_stack(light_venv: Path) -> None:
    frozen = run(light_venv, str(light_venv / "bin" / "pip"), "freeze").stdout.lower()
    names = {line.split("==")[0].split(" @ ")[0].replace("_", "-") for line in frozen.split()}
    assert "chaosgate" in names
    assert sorted(n for n in names if n in HEAVY or n == "psycopg-binary") == []


def test_the_light_install_validates_and_runs_a_scenario_of_a_service_not_in_python(
    light_venv: Path, tmp_path: Path
) -> None:
    validated = run(light_venv, "chaosgate", "validate", "scenarios")
    assert validated.returncode == 0, validated.stdout + validated.stderr
    scenario = tmp_path / "light.yaml"
    scenario.write_text(REDIS_BEHIND_TOXIPROXY)
    ran = run(
        light_venv, "chaosgate", "run", str(scenario), "--report-dir", str(tmp_path / "reports")
    )
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert list((tmp_path / "reports").glob("run-*/report.html"))


def test_what_needs_an_extra_names_the_pip_install(light_venv: Path, tmp_path: Path) -> None:
    scenario = tmp_path / "pg.yaml"
    scenario.write_text(WITH_POSTGRES)
    ran = run(
        light_venv, "chaosgate", "run", str(scenario), "--report-dir", str(tmp_path / "reports")
    )
    said = " ".join((ran.stdout + ran.stderr).split())
    assert ran.returncode == 2, said
    assert "pip install 'chaosgate[postgres]'" in said
    assert "Traceback" not in said

    shop = run(light_venv, "shop", "db", "upgrade")
    assert shop.returncode == 2
    assert "pip install 'chaosgate[shop]'" in shop.stderr
    assert "Traceback" not in shop.stderr
    assert run(light_venv, "shop", "--help").returncode == 0  # help needs none of it
