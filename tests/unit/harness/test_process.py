"""ManagedProcess against real child processes: readiness, crash reports, and clean stops."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from harness.errors import MissingBinary, ProcessExited, ServiceNeverReady
from harness.provision import ManagedProcess, find_binary, free_port, port_is_open
from harness.provision.binaries import BinarySpec

PY = sys.executable


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is dead for our purpose.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_ready_when_the_server_listens(tmp_path: Path) -> None:
    port = free_port()
    server = (
        "import http.server as h; "
        f"h.HTTPServer(('127.0.0.1', {port}), h.BaseHTTPRequestHandler).serve_forever()"
    )
    with ManagedProcess("http", [PY, "-c", server], log_path=tmp_path / "http.log") as proc:
        proc.wait_ready(lambda: port_is_open("127.0.0.1", port), timeout_s=10)
        assert port_is_open("127.0.0.1", port)
    assert not port_is_open("127.0.0.1", port)


def test_a_crash_while_starting_is_reported_with_its_log(tmp_path: Path) -> None:
    crash = "import sys; print('config file /etc/x.conf: bad line 3', flush=True); sys.exit(3)"
    with (
        ManagedProcess("svc", [PY, "-c", crash], log_path=tmp_path / "svc.log") as proc,
        pytest.raises(ProcessExited) as info,
    ):
        proc.wait_ready(lambda: False, timeout_s=10)
    assert info.value.returncode == 3
    assert "bad line 3" in str(info.value)


def test_never_ready_times_out_on_the_injected_clock(tmp_path: Path) -> None:
    now = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    with (
        ManagedProcess(
            "idle", [PY, "-c", "import time; time.sleep(60)"], log_path=tmp_path / "idle.log"
        ) as proc,
        pytest.raises(ServiceNeverReady) as info,
    ):
        proc.wait_ready(
            lambda: False,
            timeout_s=3,
            interval_s=1,
            describe="GET /health",
            clock=lambda: now[0],
            sleep=sleep,
        )
    assert sleeps == [1, 1, 1]
    assert "not ready after 3 s (GET /health)" in str(info.value)


def test_stop_reaches_children_and_escalates_to_sigkill(tmp_path: Path) -> None:
    # The parent ignores SIGTERM and has a child: both must be gone after stop().
    script = (
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        f"child = subprocess.Popen([{PY!r}, '-c', 'import time; time.sleep(60)'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    log = tmp_path / "stubborn.log"
    proc = ManagedProcess("stubborn", [PY, "-c", script], log_path=log, stop_timeout_s=0.5)
    proc.start()
    proc.wait_ready(lambda: log.read_text().strip() != "", timeout_s=10)
    child = int(log.read_text().split()[0])
    parent = proc.pid
    assert parent is not None and alive(child)

    started = time.monotonic()
    code = proc.stop()
    assert code == -signal.SIGKILL
    assert time.monotonic() - started < 5
    deadline = time.monotonic() + 5
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child)
    assert proc.stop() == -signal.SIGKILL  # a second stop is harmless


def test_empty_argv_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="argv is empty"):
        ManagedProcess("x", [], log_path=tmp_path / "x.log")


def test_missing_binary_names_where_it_looked_and_how_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(MissingBinary) as info:
        find_binary("redis-server")
    assert info.value.searched == ("PATH",)
    assert "apt-get install redis-server" in str(info.value)


def test_env_var_override_must_be_an_executable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    not_exec = tmp_path / "toxiproxy-server"
    not_exec.write_text("")
    monkeypatch.setenv("TOXIPROXY_SERVER", str(not_exec))
    with pytest.raises(MissingBinary, match="is not an executable file"):
        find_binary("toxiproxy-server")
    not_exec.chmod(0o755)
    assert find_binary("toxiproxy-server") == not_exec


def test_versioned_directories_are_searched_newest_first(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for version in ("9", "15", "13"):
        binary = tmp_path / version / "bin" / "initdb"
        binary.parent.mkdir(parents=True)
        binary.write_text("#!/bin/sh\n")
        binary.chmod(0o755)
    monkeypatch.setenv("PATH", "/nonexistent")
    spec = BinarySpec(None, (str(tmp_path / "*" / "bin"),), "install it")
    assert find_binary("initdb", spec=spec) == tmp_path / "15" / "bin" / "initdb"
