"""Developer and CI sessions: ``nox -s tests``, ``lint``, ``typecheck``, ``bench``, ``chaos``.

The system programs the tests need (redis-server, PostgreSQL, toxiproxy-server) are installed by
``./run`` (see README); nox installs only Python packages.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

SOURCES = ["harness", "resilience", "tests", "benchmarks", "noxfile.py"]


@nox.session
def tests(session: nox.Session) -> None:
    """Unit and integration tests against real Redis, PostgreSQL and Toxiproxy."""
    session.install("-e", ".[dev]")
    session.run("pytest", "-n", _test_workers(), *(session.posargs or ["tests"]))


def _test_workers() -> str:
    """pytest-xdist workers: one more than the cores (the tests mostly wait on servers and
    timelines), at most eight; ``CHAOSGATE_TEST_WORKERS`` overrides, ``0`` runs in one process.
    Every worker starts its own Redis, PostgreSQL and Toxiproxy on free ports."""
    return os.environ.get("CHAOSGATE_TEST_WORKERS") or str(min(8, (os.cpu_count() or 1) + 1))


@nox.session
def unit(session: nox.Session) -> None:
    """The fast lane alone: unit tests on fakes and a virtual clock, no server started."""
    session.install("-e", ".[dev]")
    session.run("pytest", "tests/unit", "tests/test_docs.py", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff format --check and ruff check."""
    session.install("ruff>=0.4")
    session.run("ruff", "format", "--check", *SOURCES)
    session.run("ruff", "check", *SOURCES)


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on harness/ and resilience/."""
    session.install("-e", ".[dev]")
    session.run("mypy")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks, each measured side by side in one run; JSON results in reports/bench/."""
    session.install("-e", ".[dev]")
    session.run("python", "-m", "benchmarks.webhook_intake", *session.posargs)
    session.run("python", "-m", "benchmarks.queue_limiter")
    session.run("python", "-m", "benchmarks.order_flood")
    session.run("python", "-m", "benchmarks.audit_cost")
    session.run("python", "-m", "benchmarks.report_render")
    session.run("python", "-m", "benchmarks.provisioning")
    session.run("python", "-m", "benchmarks.chaos_suite")
    session.run("python", "-m", "benchmarks.cli_startup")
    session.install("chaostoolkit", "chaostoolkit-toxiproxy")  # the tool compared side by side
    session.run("python", "-m", "benchmarks.chaostoolkit_compare")


@nox.session
def mutate(session: nox.Session) -> None:
    """Mutation testing of the resilience components, the chaos scenarios as the killing
    tests, within a budget (``nox -s mutate -- --budget 600``); resumable; report in
    reports/mutation/ (docs/mutation.md)."""
    session.install("-e", ".[dev]")
    session.run(
        "python", "-m", "harness.mutation", "run", *(session.posargs or ["--budget", "1800"])
    )


@nox.session
def chaos(session: nox.Session) -> None:
    """The chaos suite against the reference service; reports land in reports/."""
    # the shop (the system under test), PostgreSQL probes, Locust for load steps, --env docker
    session.install("-e", ".[shop,postgres,load,containers]")
    session.run("chaosgate", "runbooks", "lint")  # a runbook that drifted fails here first
    session.run("chaosgate", "run", *(session.posargs or ["scenarios"]), "--report-dir", "reports")


@nox.session
def example(session: nox.Session) -> None:
    """A system this project did not write: Kinto (from PyPI, in a venv of its own, as a team's
    service would be) on PostgreSQL behind Toxiproxy; reports in reports/examples/."""
    session.install("-e", ".[postgres,load]")  # the harness without the shop, as a team has it
    kinto = Path(session.virtualenv.location).parent / "kinto-env"
    if not (kinto / "bin" / "kinto").exists():
        session.run("python", "-m", "venv", str(kinto))
        session.run(
            str(kinto / "bin" / "pip"),
            "install",
            "-q",
            "-r",
            "examples/kinto/requirements.txt",
            external=True,
        )
    path = os.pathsep.join([str(session.bin), str(kinto / "bin"), os.environ.get("PATH", "")])
    session.run(
        "chaosgate",
        "run",
        *(session.posargs or ["examples"]),
        "--report-dir",
        "reports/examples",
        env={"PATH": path},
    )
    if not session.posargs:  # the README's walk-through, as written, in a directory of its own
        here = Path(session.create_tmp()).resolve() / "walk-through"
        shutil.rmtree(here, ignore_errors=True)
        here.mkdir()
        shutil.copy("examples/kinto/kinto.ini", here)
        with session.chdir(here):
            session.run(
                "bash", "-euo", "pipefail", "-c", walk_through(), external=True, env={"PATH": path}
            )


def walk_through() -> str:
    """The commands of the README's "your own service" walk-through: the bash block after its
    marker."""
    after = Path(__file__).with_name("README.md").read_text().split("<!-- walk-through:", 1)[1]
    return after.split("```bash\n", 1)[1].split("```", 1)[0]
