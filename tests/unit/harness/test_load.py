"""Load steps: a missing Locust is a clear harness error (exit 2), never a silent no-load."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import load as load_module
from harness.load import LoadError, start_load
from harness.provision.backend import RunningService, Stack
from harness.provision.templates import Endpoint, TemplateContext
from harness.scenario.model import LocustLoad


def test_a_missing_locust_names_the_interpreter_and_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(load_module.importlib.util, "find_spec", lambda _name: None)
    endpoint = Endpoint("127.0.0.1", 1, "http://127.0.0.1:1")
    stack = Stack(services={"api": RunningService("api", "process", endpoint, tmp_path / "a.log")})
    context = TemplateContext({"api": endpoint}, {}, str(tmp_path), 1, 1.0)
    spec = LocustLoad(type="locust", service="api")
    with pytest.raises(LoadError, match=r"pip install 'chaosgate\[load\]'"):
        start_load(spec, 5, stack, context, tmp_path, "step_0")
    assert not (tmp_path / "load").exists()  # nothing started, nothing written
