"""Registries of kinds keyed by their YAML ``type:`` name: faults, probes, actions, invariants,
loads, service kinds, report formats.

A kind is one module in its package that registers its implementation with the package's
registry::

    @FAULTS.register("proxy_down")
    def proxy_down(fault: ProxyDownFault, stack: Stack, key: str) -> ActiveFault: ...

The registry imports every module of its package the first time it is asked for a kind, so
adding a kind is its module plus its entry in the scenario model; ``tests/unit/harness/
test_registries.py`` proves every ``type`` the published schema admits has an implementation,
and every implementation a schema entry. An unknown name is an error that lists the known ones.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Generic, TypeVar

from harness.errors import HarnessError

__all__ = ["Registry", "UnknownKind"]

K = TypeVar("K")


class UnknownKind(HarnessError):
    """A ``type:`` (or ``kind:``) no implementation is registered for.

    Attributes:
        what: the kind of kind ("fault", "probe", ...).
        name: the name asked for.
        known: the names registered.
    """

    def __init__(self, what: str, name: str, known: list[str]) -> None:
        self.what = what
        self.name = name
        self.known = known
        super().__init__(f"unknown {what} type {name!r}; known: {', '.join(known) or 'none'}")


class Registry(Generic[K], Mapping[str, K]):
    """Implementations of one kind, by name.

    Parameters:
        what: what the kind is called in messages ("fault").
        package: the package whose modules register into it (imported on first use); None
            for a registry filled by hand (a test's overrides).
    """

    def __init__(self, what: str, package: str | None = None) -> None:
        self.what = what
        self._package = package
        self._kinds: dict[str, K] = {}
        self._loaded = package is None
        self._lock = threading.Lock()

    def register(self, name: str) -> Callable[[K], K]:
        """Register the decorated implementation as ``name``; a name taken twice is a bug."""

        def add(kind: K) -> K:
            if name in self._kinds:
                raise ValueError(f"{self.what} type {name!r} is registered twice")
            self._kinds[name] = kind
            return kind

        return add

    def _load(self) -> None:
        if self._loaded:
            return
        with self._lock:
            if self._loaded or self._package is None:
                return
            package = importlib.import_module(self._package)
            for info in pkgutil.iter_modules(package.__path__):
                if not info.name.startswith("_"):
                    importlib.import_module(f"{self._package}.{info.name}")
            self._loaded = True

    def get_kind(self, name: str) -> K:
        """The implementation of ``name``.

        Raises:
            UnknownKind: nothing is registered as ``name``; the message lists what is.
        """
        self._load()
        try:
            return self._kinds[name]
        except KeyError:
            raise UnknownKind(self.what, name, sorted(self._kinds)) from None

    def overriding(self, **kinds: K) -> Registry[K]:
        """A copy where ``kinds`` replace (or add to) the registered ones: a test's fakes."""
        self._load()
        copy: Registry[K] = Registry(self.what)
        copy._kinds = {**self._kinds, **kinds}
        return copy

    # Mapping: names and implementations, e.g. ``set(FAULTS)``.
    def __getitem__(self, name: str) -> K:
        return self.get_kind(name)

    def __iter__(self) -> Iterator[str]:
        self._load()
        return iter(sorted(self._kinds))

    def __len__(self) -> int:
        self._load()
        return len(self._kinds)
