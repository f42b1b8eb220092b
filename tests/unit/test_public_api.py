"""Every module's ``__all__`` lists names that exist, and every public module declares one."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import harness
import resilience

MODULES = sorted(
    info.name
    for package in (harness, resilience)
    for info in pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}.")
    # loaded by Locust only: importing them here would let gevent patch pytest.
    if ".migrations" not in info.name
    and info.name
    not in {
        "harness.loadshape",
        "harness.locust_history",
        "harness.locust_arrivals",
        "harness.locust_worker_rates",
    }
)


@pytest.mark.parametrize("name", ["harness", "resilience", *MODULES])
def test_all_is_declared_and_true(name: str) -> None:
    module = importlib.import_module(name)
    assert hasattr(module, "__all__"), f"{name} has no __all__"
    missing = [n for n in module.__all__ if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names what it does not define: {missing}"
