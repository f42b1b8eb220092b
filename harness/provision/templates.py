"""``${...}`` references in scenario strings, resolved when a service starts.

``${services.NAME.host|port|url}`` (a ``notify-capture`` service also has ``smtp_port``, a
``fake-provider`` ``paypal_roots``: the PEM of the root its PayPal certificate chains to),
``${proxies.NAME.host|port|url}``, ``${run.dir}``,
``${run.seed}``, ``${vars.NAME}`` (captured by an earlier http action), ``${env.NAME}`` (the
harness's environment) and ``${scaled:SECONDS}``
(SECONDS times the run's time scale, so a system's windows shrink with the scenario's).
Anything else is an error naming the reference.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from harness.errors import ProvisionError

__all__ = ["Endpoint", "TemplateContext", "references", "resolve"]

_REFERENCE = re.compile(r"\$\{([^}]*)\}")


@dataclass(frozen=True)
class Endpoint:
    """Where a service or proxy answers."""

    host: str
    port: int
    url: str
    #: further ports or addresses a recipe offers (a capture server's ``smtp_port``)
    extra: Mapping[str, str] = field(default_factory=dict)

    def attribute(self, name: str) -> str:
        value = {"host": self.host, "port": str(self.port), "url": self.url, **self.extra}.get(name)
        if value is None:
            raise KeyError(name)
        return value


@dataclass(frozen=True)
class TemplateContext:
    services: Mapping[str, Endpoint]
    proxies: Mapping[str, Endpoint]
    run_dir: str
    seed: int
    time_scale: float
    vars: Mapping[str, str] = field(default_factory=dict)


def references(texts: Iterable[str]) -> set[tuple[str, str]]:
    """``{("services", "redis"), ("proxies", "db")}`` named in ``texts``: what must exist first."""
    found: set[tuple[str, str]] = set()
    for text in texts:
        for ref in _REFERENCE.findall(text):
            parts = ref.split(".")
            if len(parts) == 3 and parts[0] in {"services", "proxies"}:
                found.add((parts[0], parts[1]))
    return found


def resolve(text: str, context: TemplateContext, *, where: str) -> str:
    """Replace every ``${...}`` in ``text``.

    Raises:
        ProvisionError: a reference is unknown or not available yet, naming it and ``where``.
    """

    def one(match: re.Match[str]) -> str:
        ref = match[1]
        parts = ref.split(".")
        try:
            if ref == "run.dir":
                return context.run_dir
            if ref == "run.seed":
                return str(context.seed)
            if ref.startswith("vars."):
                return context.vars[ref.removeprefix("vars.")]
            if ref.startswith("env."):
                return os.environ[ref.removeprefix("env.")]
            if ref.startswith("scaled:"):
                seconds = float(ref.removeprefix("scaled:"))
                return f"{seconds * context.time_scale:g}"
            if len(parts) == 3 and parts[0] in {"services", "proxies"}:
                table = context.services if parts[0] == "services" else context.proxies
                return table[parts[1]].attribute(parts[2])
        except (KeyError, ValueError):
            pass
        if ref.startswith("env."):
            raise ProvisionError(
                f"{where}: ${{{ref}}}: the environment variable {ref.removeprefix('env.')} is "
                "not set; set it where chaosgate runs"
            )
        raise ProvisionError(
            f"{where}: cannot resolve ${{{ref}}}; use ${{services.NAME.host|port|url}}, "
            "${proxies.NAME.host|port|url}, ${run.dir}, ${run.seed}, ${vars.NAME}, "
            "${env.NAME} or ${scaled:SECONDS}"
        )

    return _REFERENCE.sub(one, text)
