"""The container backend on a real Docker daemon and the images the settings name: services
reach each other by name and through the Toxiproxy container, the harness through loopback
ports; container faults read back from the daemon; nothing is left, after a failure, a Ctrl-C,
or a harness killed outright (the next start sweeps it)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis
import yaml

from harness.errors import ImageMissing, ProcessExited, ProvisionError, ServiceNeverReady
from harness.provision.docker import (
    LABEL_MANAGED,
    LABEL_OWNER,
    LABEL_SCENARIO,
    DockerProvisioner,
    connect,
    sweep,
)
from harness.provision.images import Images
from harness.run import ScenarioRunner
from harness.scenario import Scenario
from harness.scenario.loader import LoadedScenario

pytestmark = pytest.mark.docker

# In the project's image: GET / reports the CG_* environment; GET /redis pings CG_REDIS.
APP = (
    "import http.server, json, os, sys, redis\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        if self.path == '/redis':\n"
    "            try:\n"
    "                body = {'ping': redis.Redis.from_url(os.environ['CG_REDIS'],"
    " socket_timeout=0.5, socket_connect_timeout=0.5).ping()}\n"
    "            except Exception as exc:\n"
    "                body = {'error': type(exc).__name__}\n"
    "        else:\n"
    "            body = {k: v for k, v in os.environ.items() if k.startswith('CG_')}\n"
    "        data = json.dumps(body).encode()\n"
    "        self.send_response(200); self.end_headers(); self.wfile.write(data)\n"
    "    def log_message(self, *a): pass\n"
    "print('app up', flush=True)\n"
    "http.server.ThreadingHTTPServer(('0.0.0.0', int(sys.argv[1])), H).serve_forever()\n"
)


def scenario(**services: dict[str, Any]) -> Scenario:
    base: dict[str, Any] = {
        "redis": {"kind": "redis"},
        "db": {"kind": "postgres", "database": "shop"},
        "toxiproxy": {"kind": "toxiproxy"},
        "app": {
            "command": ["python", "-c", APP, "${services.app.port}"],
            "env": {
                "CG_REDIS": "${proxies.cache.url}",
                "CG_DB": "${services.db.url}",
                "CG_WINDOW": "${scaled:3600}",
            },
            "ready": {"http": "/"},
            "stop_timeout_s": 2,
        },
    }
    base.update(services)
    return Scenario.model_validate(
        {
            "id": "docker-provisioning",
            "title": "t",
            "services": base,
            "proxies": {"cache": {"upstream": "redis"}},
        }
    )


@pytest.fixture
def provisioner() -> Iterator[DockerProvisioner]:
    with DockerProvisioner(time_scale=0.5, images=Images.from_env()) as p:
        yield p


def labelled(label: str) -> list[str]:
    """Containers and networks with this label (``key=value``) that are still there."""
    client = connect()
    # A container removed between docker-py's listing and its inspection is not there any more.
    listed = client.containers.list(all=True, filters={"label": label}, ignore_removed=True)
    networks = client.networks.list(filters={"label": label})
    return [f"container {c.name}" for c in listed] + [f"network {n.name}" for n in networks]


def scenario_labelled(run: str) -> list[str]:
    return labelled(f"{LABEL_SCENARIO}={run}")


def owned_by(pid: int) -> list[str]:
    """What a harness process on this host made that is still there."""
    return labelled(f"{LABEL_OWNER}={socket.gethostname()}:{pid}")


def volumes(client: Any) -> set[str]:
    return {v.name for v in client.volumes.list()}


def test_services_reach_each_other_by_name_and_through_the_toxiproxy_container(
    provisioner: DockerProvisioner, tmp_path: Path
) -> None:
    client = connect()
    volumes_before = volumes(client)
    stack = provisioner.start(scenario(), tmp_path)
    run = provisioner._run
    try:
        app = stack.services["app"].endpoint
        seen = httpx.get(app.url + "/", timeout=5).json()
        # Inside the network, references resolve to service names and container ports ...
        assert seen["CG_REDIS"] == "redis://toxiproxy:20000/0"
        assert seen["CG_DB"] == "postgresql://postgres@db:5432/shop"
        assert seen["CG_WINDOW"] == "1800"
        # ... the harness reaches the same services on loopback ports.
        with psycopg.connect(stack.services["db"].endpoint.url) as conn:
            assert conn.execute("select current_database()").fetchone() == ("shop",)
        assert redis.Redis.from_url(stack.proxies["cache"].url).ping()
        # The app's Redis goes through the proxy: down, it fails; up again, it answers.
        assert httpx.get(app.url + "/redis", timeout=5).json() == {"ping": True}
        assert stack.toxiproxy is not None
        stack.toxiproxy.set_enabled("cache", False)
        assert "error" in httpx.get(app.url + "/redis", timeout=5).json()
        stack.toxiproxy.set_enabled("cache", True)
        assert httpx.get(app.url + "/redis", timeout=5).json() == {"ping": True}
        # Every published port is on loopback only.
        for container in client.containers.list(filters={"label": f"{LABEL_SCENARIO}={run}"}):
            for bindings in container.ports.values():
                assert bindings and {b["HostIp"] for b in bindings} == {"127.0.0.1"}
        assert len(scenario_labelled(run)) == 5  # four containers, one network
    finally:
        problems = provisioner.stop(stack)
    assert problems == []
    assert scenario_labelled(run) == []
    assert volumes(client) == volumes_before
    # Logs are kept in the run directory.
    assert "app up" in (tmp_path / "services" / "app" / "app.log").read_text()
    assert "ready to accept connections" in (tmp_path / "services" / "db" / "db.log").read_text()


def test_container_faults_read_back_from_the_daemon(
    provisioner: DockerProvisioner, tmp_path: Path
) -> None:
    stack = provisioner.start(scenario(), tmp_path)
    try:
        app = stack.services["app"]
        control = app.control
        assert control is not None and control.label.startswith("container cg-")

        def answers() -> bool:
            try:
                return httpx.get(app.endpoint.url + "/", timeout=1).is_success
            except httpx.HTTPError:
                return False

        killed = control.kill()
        assert killed.fired and "exit code 137" in killed.evidence
        assert not answers()
        started = control.start()
        assert started.fired and answers()  # ready again, at the same loopback port

        paused = control.pause()
        assert paused.fired and "paused" in paused.evidence
        assert not answers()
        assert control.unpause().fired and answers()

        stopped = control.stop()
        assert stopped.fired and not answers()
        assert control.start().fired and answers()

        restarted = control.restart()
        assert restarted.fired and answers()

        cut = control.disconnect()
        assert cut.fired and not answers()
        back = control.reconnect()
        assert back.fired
        deadline = time.monotonic() + 10
        while not answers() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert answers()
        # Its peers find it by name again: Toxiproxy (in the network) proxies to it.
        assert stack.toxiproxy is not None
        stack.toxiproxy.create_proxy("to-app", listen="0.0.0.0:20001", upstream="app:8000")
    finally:
        assert provisioner.stop(stack) == []


def test_a_container_that_exits_while_starting_is_reported_with_its_log(
    provisioner: DockerProvisioner, tmp_path: Path
) -> None:
    broken = scenario(
        app={
            "command": ["python", "-c", "print('bad config'); raise SystemExit(3)"],
            "ready": {"http": "/"},
        }
    )
    with pytest.raises(ProcessExited) as caught:
        provisioner.start(broken, tmp_path)
    assert caught.value.returncode == 3 and "bad config" in caught.value.log_tail
    assert owned_by(os.getpid()) == []


def test_a_container_never_ready_is_reported_and_removed(
    provisioner: DockerProvisioner, tmp_path: Path
) -> None:
    silent = scenario(
        app={
            "command": ["python", "-c", "import time; time.sleep(60)"],
            "ready": {"http": "/"},
            "ready_timeout_s": 2,
        }
    )
    with pytest.raises(ServiceNeverReady) as caught:
        provisioner.start(silent, tmp_path)
    assert "GET / answers 2xx" in str(caught.value)
    assert owned_by(os.getpid()) == []


def test_a_missing_image_is_named_with_its_setting_before_anything_starts(
    tmp_path: Path,
) -> None:
    images = dataclasses.replace(
        Images.from_env(), redis="chaosgate-offline/absent:1", pull="never"
    )
    with DockerProvisioner(images=images) as provisioner:
        with pytest.raises(ImageMissing) as caught:
            provisioner.start(scenario(), tmp_path)
        assert owned_by(os.getpid()) == []
    message = str(caught.value)
    assert "'chaosgate-offline/absent:1'" in message and "CHAOSGATE_REDIS_IMAGE" in message
    assert "docker/offline/build-images" in message


# -- whole runs ---------------------------------------------------------------------------------

FAULTED = {
    "id": "container-faults",
    "title": "container faults mid-scenario",
    "services": {
        "redis": {"kind": "redis"},
        "app": {
            "command": ["python", "-c", APP, "${services.app.port}"],
            "env": {"CG_REDIS": "${services.redis.url}"},
            "ready": {"http": "/"},
            "stop_timeout_s": 2,
        },
    },
    "method": [
        {
            "name": "kill the app",
            "at_s": 0,
            "duration_s": 1,
            "fault": {"type": "kill", "service": "app"},
        },
        {
            "name": "pause redis",
            "at_s": 2,
            "duration_s": 4,
            "fault": {"type": "pause", "service": "redis"},
        },
        {
            "name": "cut the app off",
            "at_s": 6.5,
            "duration_s": 1,
            "fault": {"type": "disconnect", "service": "app"},
        },
    ],
    "assertions": [
        {
            "name": "the app answers while redis is paused",
            "type": "always",
            "from_s": 2.5,
            "until_s": 5,
            "check": {
                "name": "ping",
                "probe": {
                    "type": "http",
                    "service": "app",
                    "path": "/redis",
                    "json_path": "ping",
                    "timeout_s": 2,
                },
                "expect": {"equals": True},
            },
        }
    ],
}


def test_faults_mid_scenario_are_reported_and_everything_is_torn_down(tmp_path: Path) -> None:
    client = connect()
    volumes_before = volumes(client)
    with DockerProvisioner() as provisioner:
        runner = ScenarioRunner(provisioner, seed=1, time_scale=1.0)
        record = runner.run(
            LoadedScenario(tmp_path / "s.yaml", Scenario.model_validate(FAULTED)), tmp_path
        )
        run = provisioner._run
    faults = {s.name: s for s in record.steps if s.kind == "fault"}
    assert faults["kill the app"].fired is True
    assert any("exit code 137" in e for e in faults["kill the app"].evidence)
    assert any("started again" in e for e in faults["kill the app"].evidence)
    assert faults["pause redis"].fired is True
    assert faults["cut the app off"].fired is True
    assert any("reconnected" in e for e in faults["cut the app off"].evidence)
    # Redis paused: the app's ping fails, so the scenario fails — and still tears down.
    assert record.status == "failed"
    assert "the app answers while redis is paused" in (record.reason or "")
    assert record.teardown_problems == []
    assert scenario_labelled(run) == []
    assert volumes(client) == volumes_before


def chaosgate(*args: str, **kwargs: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "harness.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        **kwargs,
    )


def wait_for_containers(owner_pid: int, count: int, timeout_s: float = 60) -> list[str]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = [f for f in owned_by(owner_pid) if f.startswith("container ")]
        if len(found) >= count:
            return found
        time.sleep(0.2)
    raise AssertionError(f"chaosgate (pid {owner_pid}) did not start {count} containers")


LONG = {
    **FAULTED,
    "id": "long-running",
    "method": [
        {
            "name": "wait",
            "at_s": 0,
            "duration_s": 120,
            "fault": {"type": "pause", "service": "redis"},
        }
    ],
    "assertions": [],
}


def test_ctrl_c_mid_scenario_rolls_back_and_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "long.yaml"
    path.write_text(yaml.safe_dump(LONG))
    proc = chaosgate("run", str(path), "--env", "docker", "--report-dir", str(tmp_path / "r"))
    try:
        wait_for_containers(proc.pid, 2)
        time.sleep(1.5)  # the pause is in force
        os.killpg(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 2, out
    assert "interrupted" in out
    journal = json.loads(next((tmp_path / "r").glob("run-*/journal.json")).read_text())
    assert journal["environment"] == "docker"
    assert journal["scenarios"][0]["teardown_problems"] == []
    assert owned_by(proc.pid) == []


def test_what_a_killed_harness_left_is_swept_by_the_next_start(tmp_path: Path) -> None:
    path = tmp_path / "long.yaml"
    path.write_text(yaml.safe_dump(LONG))
    proc = chaosgate("run", str(path), "--env", "docker", "--report-dir", str(tmp_path / "r"))
    try:
        wait_for_containers(proc.pid, 2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # no teardown at all
        proc.communicate(timeout=30)
    left = owned_by(proc.pid)  # the dead harness's containers and network are still there ...
    assert any(f.startswith("network cg-long-running-") for f in left) and len(left) >= 3
    with DockerProvisioner() as next_start:
        assert set(left) <= set(next_start.swept)
    assert owned_by(proc.pid) == []  # ... and gone after the next start's sweep


def test_a_container_another_run_removes_while_the_sweep_lists_is_no_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # docker-py lists, then inspects each container; with --jobs another run removes its own
    # containers in between. Here that removal lands right before the first inspection.
    client = connect()
    run = f"swept-{os.getpid()}-{time.monotonic_ns()}"
    labels = {LABEL_MANAGED: "true", LABEL_SCENARIO: run}
    image = Images.from_env().redis
    made = [client.containers.create(image, labels=labels, name=f"{run}-{i}") for i in (0, 1)]
    inspect = client.api.inspect_container
    vanished: list[str] = []

    def removed_by_another_run_first(container_id: str) -> Any:
        if not vanished:
            vanished.append(container_id)
            client.api.remove_container(container_id, force=True)
        return inspect(container_id)

    monkeypatch.setattr(client.api, "inspect_container", removed_by_another_run_first)
    try:
        removed = sweep(client, scenario=run)
    finally:
        monkeypatch.undo()
        for container in made:
            with contextlib.suppress(Exception):
                container.remove(force=True)
    assert len(vanished) == 1
    survivor = next(c.name for c in made if c.id != vanished[0])
    assert removed == [f"container {survivor}"]
    assert scenario_labelled(run) == []


def test_a_daemon_that_does_not_answer_exits_2_saying_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "long.yaml"
    path.write_text(yaml.safe_dump(LONG))
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-daemon.sock"}
    proc = chaosgate(
        "run", str(path), "--env", "docker", "--report-dir", str(tmp_path / "r"), env=env
    )
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "the Docker daemon does not answer at unix://" in out
    assert "start it" in out and "--env local" in out
    assert not (tmp_path / "r").exists() or not list((tmp_path / "r").glob("run-*"))


def test_before_start_runs_once_in_a_container_of_the_image(
    provisioner: DockerProvisioner, tmp_path: Path
) -> None:
    marker = tmp_path.resolve() / "migrated"
    once = ["python", "-c", f"open({str(marker)!r}, 'a').write('x'); print('migrated')"]
    app = {**scenario().model_dump()["services"]["app"], "before_start": once}
    stack = provisioner.start(scenario(app=app), tmp_path)
    try:
        control = stack.services["app"].control
        assert control is not None
        assert control.restart().fired
        assert marker.read_text() == "x"  # once, before the first start; not on the restart
    finally:
        assert provisioner.stop(stack) == []
    assert "migrated" in stack.services["app"].log_path.read_text()
    assert owned_by(os.getpid()) == []  # the one-shot container is gone too

    failing = {
        **app,
        "before_start": ["python", "-c", "print('no such table'); raise SystemExit(4)"],
    }
    with pytest.raises(ProvisionError, match=r"(?s)before_start: .* exited 4.*no such table"):
        provisioner.start(scenario(app=failing), tmp_path / "2")
    assert owned_by(os.getpid()) == []


def test_a_database_template_runs_against_the_container_before_its_dependents(
    provisioner: DockerProvisioner, tmp_path: Path
) -> None:
    migrate = (
        "import os, psycopg\n"
        "with psycopg.connect(os.environ['DATABASE_URL'], autocommit=True) as conn:\n"
        "    conn.execute('create table notes (id int)')\n"
        "print('migrated')\n"
    )
    db = {
        "kind": "postgres",
        "database": "shop",
        "template": {
            "command": [sys.executable, "-c", migrate],
            "env": {"DATABASE_URL": "${services.db.url}"},
        },
    }
    spec = Scenario.model_validate({"id": "tpl", "title": "t", "services": {"db": db}})
    stack = provisioner.start(spec, tmp_path)
    try:
        url = stack.services["db"].endpoint.url
        with psycopg.connect(url) as conn:
            assert conn.execute("select count(*) from notes").fetchone() == (0,)
        assert "migrated" in (tmp_path / "services" / "db" / "template.log").read_text()
    finally:
        assert provisioner.stop(stack) == []
