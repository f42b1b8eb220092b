"""``${...}`` references, checked when a scenario file is loaded, before anything runs.

The forms (resolved when the string is used, by ``harness/provision/templates.py``):

- ``${services.NAME.host|port|url}`` — a service's address (a ``notify-capture`` service also
  has ``smtp_port``); inside a container network, the address there;
- ``${proxies.NAME.host|port|url}`` — a Toxiproxy proxy's address (point the system at it);
- ``${vars.NAME}`` — a value an ``http`` action captured (``capture: {NAME: json.path}``);
- ``${run.dir}``, ``${run.seed}`` — the scenario's run directory, the run's seed;
- ``${env.NAME}`` — the harness's environment variable ``NAME`` (a secret kept out of files);
- ``${scaled:SECONDS}`` — SECONDS times the run's ``--time-scale``;
- ``${key}`` — in an ``acknowledged`` invariant's ``each`` check, the key checked.

An unknown service, proxy, var or attribute is a problem at its YAML path, so ``chaosgate
validate`` names it with its line and nothing is provisioned.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from harness.scenario.model import Scenario

__all__ = ["FORMS", "reference_problems"]

_REFERENCE = re.compile(r"\$\{([^}]*)\}")
_ATTRIBUTES = ("host", "port", "url")
#: attributes some kinds offer besides host, port and url
_EXTRA = {"notify-capture": ("smtp_port",), "fake-provider": ("paypal_roots",)}
FORMS = (
    "${services.NAME.host|port|url}, ${proxies.NAME.host|port|url}, ${vars.NAME}, "
    "${run.dir}, ${run.seed}, ${env.NAME}, ${scaled:SECONDS}"
)


def _strings(node: Any, path: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], str]]:
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _strings(value, (*path, i))


def _captured(scenario: Scenario) -> set[str]:
    names: set[str] = set()
    for action in [*scenario.setup, *scenario.rollbacks]:
        names.update(getattr(action, "capture", {}) or {})
    for step in scenario.method:
        names.update(getattr(step.action, "capture", {}) or {})
    return names


def _problem(ref: str, scenario: Scenario, captured: set[str]) -> str | None:
    parts = ref.split(".")
    if ref in ("run.dir", "run.seed"):
        return None
    if ref.startswith("scaled:"):
        number = ref.removeprefix("scaled:")
        try:
            float(number)
        except ValueError:
            return f"${{{ref}}}: {number!r} is not a number of seconds"
        return None
    if parts[0] == "env" and len(parts) == 2 and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", parts[1]):
        return None
    if parts[0] == "vars" and len(parts) == 2:
        if parts[1] in captured:
            return None
        known = ", ".join(sorted(captured)) or "none is captured"
        return f"${{{ref}}}: no action captures {parts[1]!r} (captured: {known})"
    if parts[0] in ("services", "proxies") and len(parts) == 3:
        table = scenario.services if parts[0] == "services" else scenario.proxies
        what = "service" if parts[0] == "services" else "proxy"
        if parts[1] not in table:
            known = ", ".join(sorted(table)) or "none"
            return f"${{{ref}}}: no {what} {parts[1]!r} (known: {known})"
        extra = _EXTRA.get(scenario.services[parts[1]].kind, ()) if parts[0] == "services" else ()
        if parts[2] not in (*_ATTRIBUTES, *extra):
            return f"${{{ref}}}: {parts[0]} have {', '.join((*_ATTRIBUTES, *extra))}"
        return None
    return f"${{{ref}}} is not a reference; use {FORMS}"


def _template_problem(ref: str, service: str) -> str | None:
    """A database template is made once and shared: only its own address and the harness's
    environment may go into it."""
    parts = ref.split(".")
    if parts[0] == "env" or (parts[0] == "services" and parts[1:2] == [service]):
        return None
    return (
        f"${{{ref}}}: a template is made once and copied into every scenario that has it, so it "
        f"may use only ${{services.{service}.host|port|url}} and ${{env.NAME}}"
    )


def reference_problems(
    scenario: Scenario, data: dict[str, Any]
) -> list[tuple[tuple[str | int, ...], str]]:
    """Every ``${...}`` in the file that names nothing, with its YAML path."""
    captured = _captured(scenario)
    problems = []
    for path, text in _strings(data, ()):
        in_each = len(path) > 2 and path[0] == "invariants" and path[2] == "each"
        in_template = len(path) > 2 and path[0] == "services" and path[2] == "template"
        template_of = path[1] if in_template else None
        for ref in _REFERENCE.findall(text):
            if ref.strip() == "key" and in_each:
                continue  # an acknowledged invariant's per-key check
            message = _problem(ref.strip(), scenario, captured)
            if message is None and template_of is not None:
                message = _template_problem(ref.strip(), str(template_of))
            if message is not None:
                problems.append((path, message))
    return problems
