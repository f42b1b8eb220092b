"""The error tree of the harness.

Every error the harness raises on purpose derives from :class:`HarnessError`. A ``HarnessError``
means the harness could not do its job (a scenario *errored*, exit code 2), as opposed to the
system under test misbehaving (a scenario *failed*, exit code 1)::

    HarnessError
    ├── ScenarioInvalid                a scenario file is broken (every problem, with its line)
    ├── RunbookInvalid                 a runbook file is broken (every problem, with its line)
    ├── FaultError                     a fault could not be applied or reverted
    └── ProvisionError                 a service could not be started or stopped
        ├── MissingBinary              a program is not installed
        ├── DockerUnavailable          no Docker SDK, or the daemon does not answer
        ├── ImageMissing               an image is neither local nor pullable
        ├── PortInUse                  a port the harness needs is taken
        ├── ProcessExited              a service died while starting or running
        └── ServiceNeverReady          a service did not pass its readiness check in time
"""

from __future__ import annotations

__all__ = [
    "DockerUnavailable",
    "FaultError",
    "HarnessError",
    "ImageMissing",
    "MissingBinary",
    "PortInUse",
    "ProcessExited",
    "ProvisionError",
    "RunbookInvalid",
    "ScenarioInvalid",
    "ServiceNeverReady",
]


class HarnessError(Exception):
    """Base of every error that the harness raises on purpose."""


class ScenarioInvalid(HarnessError):
    """A scenario file cannot be used.

    Attributes:
        path: the file.
        problems: every problem found, as ``(yaml path, line or None, message)``.
    """

    def __init__(self, path: str, problems: list[tuple[str, int | None, str]]) -> None:
        self.path = path
        self.problems = problems
        lines = [
            f"  {path}{f':{line}' if line else ''}: {where or '(file)'}: {message}"
            for where, line, message in problems
        ]
        super().__init__(
            f"{path}: {len(problems)} problem(s) in the scenario file:\n" + "\n".join(lines)
        )


class RunbookInvalid(HarnessError):
    """A runbook file cannot be used, or has drifted from the system it describes.

    Attributes:
        path: the file.
        problems: every problem found, as ``(line or None, message)``.
    """

    def __init__(self, path: str, problems: list[tuple[int | None, str]]) -> None:
        self.path = path
        self.problems = problems
        lines = [f"  {path}{f':{line}' if line else ''}: {message}" for line, message in problems]
        super().__init__(f"{path}: {len(problems)} problem(s) in the runbook:\n" + "\n".join(lines))


class FaultError(HarnessError):
    """A fault could not be applied (the harness's problem, not the system's)."""


class ProvisionError(HarnessError):
    """A service of the system under test could not be started or stopped."""


class DockerUnavailable(ProvisionError):
    """``--env docker`` cannot run: the Docker SDK is not installed or the daemon does not
    answer. The message says which, and what to do."""


class ImageMissing(ProvisionError):
    """An image a service needs is not on this machine and could not be pulled.

    Attributes:
        image: the image name.
        setting: where the name came from (a setting or a scenario key).
    """

    def __init__(self, image: str, setting: str, why: str, hint: str) -> None:
        self.image = image
        self.setting = setting
        super().__init__(
            f"image {image!r} ({setting}) is not on this machine and could not be pulled "
            f"({why}); {hint}"
        )


class MissingBinary(ProvisionError):
    """``name`` is not installed where the harness looked.

    Attributes:
        name: the program, e.g. ``redis-server``.
        searched: the places looked in, in order.
        install_hint: the command or step that installs it.
    """

    def __init__(self, name: str, searched: tuple[str, ...], install_hint: str) -> None:
        self.name = name
        self.searched = searched
        self.install_hint = install_hint
        super().__init__(
            f"{name} is not installed (looked in: {', '.join(searched)}); {install_hint}"
        )


class PortInUse(ProvisionError):
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        super().__init__(
            f"port {port} on {host} is already in use; stop what listens there or choose "
            "another port"
        )


class ProcessExited(ProvisionError):
    """A service's process ended while it should be running."""

    def __init__(self, name: str, returncode: int, log_tail: str) -> None:
        self.name = name
        self.returncode = returncode
        self.log_tail = log_tail
        super().__init__(
            f"service {name!r} exited with code {returncode}; last lines of its log:\n{log_tail}"
        )


class ServiceNeverReady(ProvisionError):
    """A service did not pass its readiness check within ``timeout_s``."""

    def __init__(self, name: str, timeout_s: float, check: str, log_tail: str) -> None:
        self.name = name
        self.timeout_s = timeout_s
        self.check = check
        self.log_tail = log_tail
        super().__init__(
            f"service {name!r} was not ready after {timeout_s:g} s ({check}); "
            f"last lines of its log:\n{log_tail}"
        )
