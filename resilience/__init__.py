"""Resilience components and the reference shop service that uses them."""

from __future__ import annotations

__all__ = ["__version__"]


def __getattr__(name: str) -> str:
    # Read from the installed metadata on first use: importlib.metadata costs every shop
    # process tens of milliseconds, and most never print a version.
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        value = version("chaosgate")
    except PackageNotFoundError:  # pragma: no cover - a source tree without install
        value = "0+unknown"
    globals()["__version__"] = value
    return value
