"""What the CLI and the suite share, light enough to import at start-up: the exit codes a
release gate reads, and the environments services run in."""

from __future__ import annotations

import enum

__all__ = ["EXIT_ERRORED", "EXIT_FAILED", "EXIT_PASSED", "Environment"]

#: every scenario passed
EXIT_PASSED = 0
#: a scenario failed: the system broke a promise
EXIT_FAILED = 1
#: a scenario errored (the harness could not run it), a file is broken, or bad usage
EXIT_ERRORED = 2


class Environment(enum.StrEnum):
    """Where services run: ``local`` processes or ``docker`` containers."""

    local = "local"
    docker = "docker"
