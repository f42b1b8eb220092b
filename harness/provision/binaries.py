"""Find the programs a system needs, or say exactly how to install them."""

from __future__ import annotations

import glob
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from harness.errors import MissingBinary

__all__ = ["KNOWN_BINARIES", "BinarySpec", "find_binary"]

TOXIPROXY_VERSION = "v2.12.0"


@dataclass(frozen=True)
class BinarySpec:
    """Where to look for a program beyond ``PATH`` and how to install it.

    Attributes:
        env_var: an environment variable that, when set, is the program's path.
        extra_globs: more directories to search (glob patterns, newest version first).
        install_hint: what to do when it is missing.
    """

    env_var: str | None
    extra_globs: tuple[str, ...]
    install_hint: str


_PG = BinarySpec(
    env_var=None,
    extra_globs=("/usr/lib/postgresql/*/bin",),
    install_hint="install PostgreSQL: apt-get install postgresql (Debian/Ubuntu)",
)
_TOXI = (
    f"install it with Go: go install github.com/Shopify/toxiproxy/v2/cmd/server@{TOXIPROXY_VERSION}"
    " and put the binary on PATH as toxiproxy-server, or set TOXIPROXY_SERVER to its path"
)

KNOWN_BINARIES: dict[str, BinarySpec] = {
    "redis-server": BinarySpec(
        None, (), "install Redis: apt-get install redis-server (Debian/Ubuntu)"
    ),
    "postgres": _PG,
    "initdb": _PG,
    "pg_ctl": _PG,
    "toxiproxy-server": BinarySpec("TOXIPROXY_SERVER", (), _TOXI),
}


def find_binary(name: str, *, spec: BinarySpec | None = None) -> Path:
    """The path of program ``name``.

    Looks, in order, at the spec's environment variable, ``PATH``, then the spec's extra
    directories (newest version directory first).

    Raises:
        MissingBinary: naming every place looked at and how to install the program.
    """
    spec = spec or KNOWN_BINARIES.get(name, BinarySpec(None, (), f"install {name}"))
    searched: list[str] = []
    if spec.env_var:
        searched.append(f"${spec.env_var}")
        value = os.environ.get(spec.env_var)
        if value:
            path = Path(value)
            if path.is_file() and os.access(path, os.X_OK):
                return path
            raise MissingBinary(
                name, tuple(searched), f"${spec.env_var}={value!r} is not an executable file"
            )
    searched.append("PATH")
    found = shutil.which(name)
    if found:
        return Path(found)
    for pattern in spec.extra_globs:
        searched.append(pattern)
        for directory in sorted(glob.glob(pattern), key=_version_key, reverse=True):
            candidate = Path(directory) / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return candidate
    raise MissingBinary(name, tuple(searched), spec.install_hint)


def _version_key(path: str) -> tuple[int, ...]:
    # /usr/lib/postgresql/15/bin -> (15,): numeric, so 15 sorts above 9.
    return tuple(int(p) for p in Path(path).parent.name.split(".") if p.isdigit())
