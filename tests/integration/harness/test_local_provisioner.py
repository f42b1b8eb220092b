"""The local backend on real servers: dependency order, ${...} references, proxies in the path,
and nothing left running — after success, a crash while starting, or a service never ready."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import httpx
import psycopg
import pytest
import redis

from harness.errors import ProcessExited, ProvisionError, ServiceNeverReady
from harness.provision.local import LocalProvisioner
from harness.provision.process import ManagedProcess, port_is_open
from harness.provision.servers import PostgresTemplate
from harness.provision.waves import start_order
from harness.scenario import Scenario
from tests.support.processes import left_running

PY = sys.executable
# A tiny HTTP service that reports the environment it was given.
ECHO_ENV = (
    "import http.server, json, os, sys\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        body = json.dumps({k: v for k, v in os.environ.items() if k.startswith('CG_')})\n"
    "        self.send_response(200); self.end_headers(); self.wfile.write(body.encode())\n"
    "    def log_message(self, *a): pass\n"
    "http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()\n"
)


def scenario(**services: dict[str, object]) -> Scenario:
    base: dict[str, object] = {
        "redis": {"kind": "redis"},
        "db": {"kind": "postgres", "database": "shop"},
        "toxiproxy": {"kind": "toxiproxy"},
        "app": {
            "command": [PY, "-c", ECHO_ENV, "${services.app.port}"],
            "env": {
                "CG_REDIS": "${proxies.cache.url}",
                "CG_DB": "${services.db.url}",
                "CG_WINDOW": "${scaled:3600}",
                "CG_SEED": "${run.seed}",
            },
            "ready": {"http": "/"},
        },
    }
    base.update(services)
    return Scenario.model_validate(
        {
            "id": "provisioning",
            "title": "t",
            "services": base,
            "proxies": {"cache": {"upstream": "redis"}},
        }
    )


def gone(pid: int | None) -> bool:
    if pid is None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split()[2] == "Z"


def test_start_order_follows_declared_and_referenced_dependencies() -> None:
    order = start_order(scenario())
    assert order.index("app") > max(order.index(n) for n in ("redis", "db", "toxiproxy"))


def test_full_stack_starts_wired_and_stops_clean(tmp_path: Path) -> None:
    provisioner = LocalProvisioner(seed=42, time_scale=0.01)
    stack = provisioner.start(scenario(), tmp_path)
    try:
        app = stack.services["app"].endpoint
        env = httpx.get(app.url, timeout=5).json()
        proxy = stack.proxies["cache"]
        assert env["CG_REDIS"] == f"redis://127.0.0.1:{proxy.port}/0"
        assert env["CG_DB"].endswith("/shop")
        assert (env["CG_WINDOW"], env["CG_SEED"]) == ("36", "42")

        with redis.Redis.from_url(env["CG_REDIS"], socket_timeout=2) as through_proxy:
            assert through_proxy.ping()
        with psycopg.connect(env["CG_DB"]) as conn:
            assert conn.execute("select current_database()").fetchone() == ("shop",)
        assert stack.toxiproxy is not None
        assert "cache" in stack.toxiproxy.proxies()
    finally:
        pids = [s.process.pid for s in stack.services.values() if s.process]
        ports = [s.endpoint.port for s in stack.services.values()] + [stack.proxies["cache"].port]
        assert provisioner.stop(stack) == []
    assert all(gone(pid) for pid in pids)
    assert not any(port_is_open("127.0.0.1", port) for port in ports)
    assert (tmp_path / "services" / "db" / "postgres.log").exists()
    assert (tmp_path / "services" / "redis" / "redis.log").exists()


def test_a_service_that_crashes_while_starting_stops_the_rest(
    tmp_path: Path, spawned: list[ManagedProcess]
) -> None:
    crash = {
        "command": [PY, "-c", "import sys; print('boom: bad config'); sys.exit(3)"],
        "depends_on": ["redis"],
        "ready": {"tcp": True},
    }
    with pytest.raises(ProcessExited, match="boom: bad config"):
        LocalProvisioner().start(scenario(broken=crash), tmp_path)
    # Redis, PostgreSQL and Toxiproxy started before the crash; none of them is left.
    assert {p.name for p in spawned} >= {"redis", "postgres", "toxiproxy", "broken"}
    assert left_running(spawned) == []


def test_a_service_never_ready_is_an_error_and_stops_the_rest(
    tmp_path: Path, spawned: list[ManagedProcess]
) -> None:
    marker = "import time; time.sleep(61.2345)"
    idle = {"command": [PY, "-c", marker], "ready": {"tcp": True}, "ready_timeout_s": 1}
    with pytest.raises(
        ServiceNeverReady, match=r"'idle' was not ready after 1 s \(port \d+ open\)"
    ):
        LocalProvisioner().start(
            Scenario.model_validate({"id": "x", "title": "t", "services": {"idle": idle}}),
            tmp_path,
        )
    assert [p.name for p in spawned] == ["idle"]
    assert left_running(spawned) == []


def test_missing_program_and_bad_reference_are_clear_errors(tmp_path: Path) -> None:
    missing = {"command": ["no-such-program-cg", "--serve"]}
    with pytest.raises(ProvisionError, match="'no-such-program-cg' is not installed"):
        LocalProvisioner().start(
            Scenario.model_validate({"id": "x", "title": "t", "services": {"a": missing}}), tmp_path
        )
    bad_ref = {"command": [PY, "-c", "pass"], "env": {"X": "${services.nope.url}"}}
    with pytest.raises(
        ProvisionError, match=r"services.a.env.X: cannot resolve \$\{services.nope.url\}"
    ):
        LocalProvisioner().start(
            Scenario.model_validate({"id": "x", "title": "t", "services": {"a": bad_ref}}), tmp_path
        )


def test_before_start_runs_once_and_a_restart_does_not_repeat_it(tmp_path: Path) -> None:
    marker = tmp_path / "migrated"
    once = [PY, "-c", f"import sys; open({str(marker)!r}, 'a').write('x'); print('migrated')"]
    service = {
        "command": [PY, "-c", ECHO_ENV, "${services.app.port}"],
        "before_start": once,
        "ready": {"http": "/"},
    }
    provisioner = LocalProvisioner()
    stack = provisioner.start(
        Scenario.model_validate({"id": "x", "title": "t", "services": {"app": service}}), tmp_path
    )
    try:
        control = stack.services["app"].control
        assert control is not None
        assert control.restart().fired
        assert marker.read_text() == "x"  # once, not again on the restart
        assert "migrated" in stack.services["app"].log_path.read_text()
    finally:
        provisioner.stop(stack)


def test_a_before_start_that_fails_names_it_and_starts_nothing(
    tmp_path: Path, spawned: list[ManagedProcess]
) -> None:
    failing = [PY, "-c", "import sys; print('no such table'); sys.exit(4)"]
    service = {"command": [PY, "-c", ECHO_ENV, "${services.app.port}"], "before_start": failing}
    with pytest.raises(
        ProvisionError, match=r"(?s)services.app.before_start: .* exited 4.*no such table"
    ):
        LocalProvisioner().start(
            Scenario.model_validate({"id": "x", "title": "t", "services": {"app": service}}),
            tmp_path,
        )
    assert spawned == []


# A template command: the system's migrations, here one table with one row, counted in a file.
MIGRATE = (
    "import os, psycopg, sys\n"
    "with psycopg.connect(os.environ['DATABASE_URL'], autocommit=True) as conn:\n"
    "    conn.execute('create table notes (id int primary key, body text)')\n"
    "    conn.execute(\"insert into notes values (1, 'from the template')\")\n"
    "open(sys.argv[1], 'a').write('built\\n')\n"
    "print('migrated')\n"
)


def templated(marker: Path, command: list[str] | None = None) -> Scenario:
    db = {
        "kind": "postgres",
        "database": "shop",
        "template": {
            "command": command or [PY, "-c", MIGRATE, str(marker)],
            "env": {"DATABASE_URL": "${services.db.url}"},
        },
    }
    return Scenario.model_validate({"id": "t", "title": "t", "services": {"db": db}})


def notes(url: str) -> list[tuple[int, str]]:
    with psycopg.connect(url) as conn:
        return [(int(r[0]), str(r[1])) for r in conn.execute("select id, body from notes")]


def test_a_database_template_is_made_once_per_run_and_each_scenario_gets_a_copy(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "builds"
    templates = PostgresTemplate()
    first = LocalProvisioner(postgres_templates=templates)
    second = LocalProvisioner(postgres_templates=templates)  # another scenario at once
    try:
        one = first.start(templated(marker), tmp_path / "one")
        two = second.start(templated(marker), tmp_path / "two")
        try:
            url_one, url_two = one.services["db"].endpoint.url, two.services["db"].endpoint.url
            assert url_one != url_two  # two clusters
            assert notes(url_one) == notes(url_two) == [(1, "from the template")]
            with psycopg.connect(url_one, autocommit=True) as conn:
                conn.execute("insert into notes values (2, 'only in one')")
            assert notes(url_two) == [(1, "from the template")]  # never another's data
            assert marker.read_text() == "built\n"  # the command ran once for both
            log_one = tmp_path / "one" / "services" / "db" / "template.log"
            log_two = tmp_path / "two" / "services" / "db" / "template.log"
            assert "migrated" in log_one.read_text()
            assert "earlier scenario" in log_two.read_text()
        finally:
            first.stop(one)
            second.stop(two)
        made = templates.directories()
        assert len(made) == 2 and all(d.exists() for d in made)  # initdb'd, and migrated
    finally:
        templates.close()
    assert not any(d.exists() for d in made)


def test_a_failing_template_names_itself_and_is_not_run_again(tmp_path: Path) -> None:
    marker = tmp_path / "attempts"
    failing = [
        PY,
        "-c",
        f"import sys; open({str(marker)!r}, 'a').write('x'); print('relation nope'); sys.exit(3)",
    ]
    templates = PostgresTemplate()
    try:
        for attempt in ("first", "second"):
            with pytest.raises(
                ProvisionError, match=r"(?s)services\.db\.template: .* exited 3: relation nope"
            ) as caught:
                LocalProvisioner(postgres_templates=templates).start(
                    templated(marker, failing), tmp_path / attempt
                )
        assert "not tried again" in str(caught.value)
        assert marker.read_text() == "x"  # once: the second scenario got the first's error
    finally:
        templates.close()
