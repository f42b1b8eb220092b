"""Resilience components and the reference shop service that uses them."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("chaosgate")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"

__all__ = ["__version__"]
