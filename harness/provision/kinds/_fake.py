"""Starting one of the harness's own fakes (provider, capture, ERP) as a local process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from harness.provision.process import ManagedProcess

__all__ = ["start_fake"]


def start_fake(
    name: str, argv: list[str], directory: Path, ready: Callable[[], bool], describe: str
) -> ManagedProcess:
    """Start a fake and wait until ``ready``; stopped again if it never is."""
    process = ManagedProcess(name, argv, log_path=directory / f"{name}.log")
    process.start()
    try:
        process.wait_ready(ready, timeout_s=30, describe=describe)
    except BaseException:
        process.stop()
        raise
    return process
