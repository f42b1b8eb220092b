"""The container backend's settings and errors that need no daemon: image names from the
environment, Docker missing or down, the owner check of the sweep, and the local backend refusing
a container-only fault before anything starts."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from harness.errors import DockerUnavailable
from harness.provision.docker import daemon as backend
from harness.provision.images import Images
from harness.provision.local import LocalProvisioner
from harness.run import ScenarioRunner
from harness.scenario import Scenario
from harness.scenario.loader import LoadedScenario


def test_images_default_to_public_names_and_settings_override_them() -> None:
    assert Images.from_env({}) == Images()
    assert Images().postgres.startswith("postgres:") and Images().pull == "missing"
    images = Images.from_env({"CHAOSGATE_REDIS_IMAGE": "mirror/redis:7", "CHAOSGATE_PULL": "never"})
    assert images.redis == "mirror/redis:7" and images.pull == "never"
    with pytest.raises(ValueError, match="CHAOSGATE_PULL='sometimes'"):
        Images.from_env({"CHAOSGATE_PULL": "sometimes"})


def test_each_service_takes_its_image_from_its_setting_or_its_own_key() -> None:
    images = Images(app="shop:1", harness="cg:1")
    spec = Scenario.model_validate(
        {
            "id": "s",
            "title": "t",
            "services": {
                "db": {"kind": "postgres"},
                "provider": {"kind": "fake-provider"},
                "api": {"command": ["shop", "serve"]},
                "erp": {"command": ["erp"], "image": "vendor/erp:2"},
            },
        }
    )
    got = {n: images.for_service(n, s) for n, s in spec.services.items()}
    assert got == {
        "db": (Images().postgres, "CHAOSGATE_POSTGRES_IMAGE"),
        "provider": ("cg:1", "CHAOSGATE_HARNESS_IMAGE"),
        "api": ("shop:1", "CHAOSGATE_APP_IMAGE"),
        "erp": ("vendor/erp:2", "services.erp.image"),
    }


def test_a_recipe_refuses_an_image_key_naming_its_setting() -> None:
    with pytest.raises(ValueError, match="CHAOSGATE_REDIS_IMAGE"):
        Scenario.model_validate(
            {"id": "s", "title": "t", "services": {"r": {"kind": "redis", "image": "redis:6"}}}
        )


def test_without_the_sdk_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "docker", None)  # import docker -> ImportError
    with pytest.raises(DockerUnavailable, match=r"pip install 'chaosgate\[containers\]'"):
        backend.connect()


def test_docker_not_installed_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setattr(backend.shutil, "which", lambda name: None)
    real_exists = Path.exists
    monkeypatch.setattr(
        Path,
        "exists",
        lambda self: False if str(self) == "/var/run/docker.sock" else real_exists(self),
    )
    with pytest.raises(DockerUnavailable) as caught:
        backend.connect()
    assert "Docker is not installed" in str(caught.value)
    assert "apt-get install docker.io" in str(caught.value) and "--env local" in str(caught.value)


def test_a_daemon_that_does_not_answer_is_named_with_its_address(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/none.sock")
    with pytest.raises(DockerUnavailable) as caught:
        backend.connect()
    assert f"does not answer at unix://{tmp_path}/none.sock" in str(caught.value)
    assert "start it" in str(caught.value)


def test_the_sweep_takes_only_what_a_dead_process_on_this_host_left() -> None:
    host = backend.socket.gethostname()
    assert backend._owner_gone(f"{host}:{os.getpid()}") is False  # alive: ours
    assert backend._owner_gone(f"{host}:{2**22 + 12345}") is True  # no such process
    assert backend._owner_gone(f"another-host:{2**22 + 12345}") is False  # not ours to judge
    assert backend._owner_gone("garbage") is False


def test_the_local_backend_refuses_disconnect_before_anything_starts(tmp_path: Path) -> None:
    scenario = Scenario.model_validate(
        {
            "id": "cut-off",
            "title": "t",
            "services": {"app": {"command": ["/nonexistent/never-started"]}},
            "method": [
                {
                    "name": "cut the app off",
                    "at_s": 0,
                    "duration_s": 1,
                    "fault": {"type": "disconnect", "service": "app"},
                }
            ],
        }
    )
    with LocalProvisioner() as provisioner:
        record = ScenarioRunner(provisioner, seed=1, time_scale=1.0).run(
            LoadedScenario(tmp_path / "s.yaml", scenario), tmp_path
        )
    assert record.status == "errored"
    assert record.reason is not None
    assert "method.0 (cut the app off): fault 'disconnect'" in record.reason
    assert "--env docker" in record.reason
    assert record.services == {}  # nothing was provisioned
