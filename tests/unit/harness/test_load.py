"""Load steps: a missing Locust is a clear harness error (exit 2), never a silent no-load."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.load import LoadError, start_load
from harness.load import locust as load_module
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


def test_locust_history_becomes_series_of_the_aggregated_rows(tmp_path: Path) -> None:
    history = tmp_path / "locust_stats_history.csv"
    history.write_text(
        "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,"
        "99.9%,99.99%,100%,Total Request Count,Total Failure Count\n"
        "1700000000,1,,Aggregated,0.000000,0.000000,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,"
        "N/A,0,0\n"
        "1700000001,6,POST,/orders,8.0,0.0,12,13,14,15,20,25,30,31,40,40,40,8,0\n"
        "1700000001,6,,Aggregated,8.300000,0.500000,12,13,14,15,20,25,30,31,40,40,40,8,1\n"
    )
    series = load_module.read_history(history)
    assert series["requests/s"] == [[1700000000.0, 0.0], [1700000001.0, 8.3]]
    assert series["failures/s"] == [[1700000000.0, 0.0], [1700000001.0, 0.5]]
    assert series["p95 latency (ms)"] == [[1700000001.0, 25.0]]  # N/A is left out
    assert load_module.read_history(tmp_path / "missing.csv") == {}
