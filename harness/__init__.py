"""chaosgate: break a system on purpose and check, from evidence, that it behaves as its
runbooks say."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("chaosgate")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"

__all__ = ["__version__"]
