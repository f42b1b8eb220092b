"""Probes observe the system under test; expectations judge what they saw.

One function per probe ``type``, registered in :data:`PROBES`. A probe never raises for a
system that misbehaves: a refused connection is an observation (``error``), which an
expectation then fails.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import redis
from prometheus_client.parser import text_string_to_metric_families

from harness.commands import run_command
from harness.provision.backend import Stack
from harness.provision.templates import TemplateContext, resolve
from harness.scenario.model import (
    CommandProbe,
    Expect,
    HttpProbe,
    Probe,
    PrometheusProbe,
    RedisProbe,
    SqlProbe,
)

__all__ = ["PROBES", "Observation", "dig", "judge", "observe"]


@dataclass(frozen=True)
class Observation:
    value: Any
    detail: str = ""
    error: str | None = None


def dig(document: Any, path: str) -> Any:
    """``dig({"a": [{"b": 1}]}, "a.0.b") == 1``; ``KeyError`` naming the missing part."""
    node = document
    for part in path.split("."):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise KeyError(f"{path!r}: no {part!r} in {str(node)[:80]}")
    return node


def _http(probe: HttpProbe, stack: Stack, context: TemplateContext) -> Observation:
    url = stack.services[probe.service].endpoint.url + resolve(
        probe.path, context, where="probe.path"
    )
    try:
        response = httpx.request(
            probe.method, url, json=probe.json_body, headers=probe.headers, timeout=probe.timeout_s
        )
    except httpx.HTTPError as exc:
        return Observation(None, error=f"{probe.method} {url}: {type(exc).__name__}: {exc}")
    detail = f"{probe.method} {url} -> {response.status_code} {response.text[:200]}"
    if probe.json_path is None:
        return Observation(response.status_code, detail)
    try:
        return Observation(dig(response.json(), probe.json_path), detail)
    except (ValueError, KeyError) as exc:
        return Observation(None, detail, error=str(exc))


def _command(probe: CommandProbe, stack: Stack, context: TemplateContext) -> Observation:
    outcome = run_command(
        probe.command, probe.env, context, timeout_s=probe.timeout_s, where="probe"
    )
    if outcome.error is not None:
        return Observation(None, error=outcome.error)
    output = outcome.output
    detail = f"{outcome.line} -> exit {outcome.returncode}: {output[-300:]}"
    if probe.regex is None:
        return Observation(outcome.returncode, detail)
    match = re.search(probe.regex, output)
    if match is None:
        return Observation(None, detail, error=f"output does not match {probe.regex!r}")
    return Observation(match[1] if match.groups() else match[0], detail)


def _sql(probe: SqlProbe, stack: Stack, context: TemplateContext) -> Observation:
    url = stack.services[probe.service].endpoint.url
    query = resolve(probe.query, context, where="probe.query")
    try:
        with psycopg.connect(url, connect_timeout=max(1, round(probe.timeout_s))) as conn:
            cursor = conn.execute(query.encode())
            rows = cursor.fetchall() if probe.rows else [cursor.fetchone()]
    except psycopg.Error as exc:
        return Observation(None, error=f"{query!r}: {type(exc).__name__}: {exc}")
    if probe.rows:
        values = [row[0] for row in rows if row is not None]
        return Observation(values, f"{query} -> {len(values)} row(s)")
    value = rows[0][0] if rows[0] else None
    return Observation(value, f"{query} -> {value!r}")


def _redis(probe: RedisProbe, stack: Stack, context: TemplateContext) -> Observation:
    url = stack.services[probe.service].endpoint.url
    command = [resolve(part, context, where="probe.command") for part in probe.command]
    try:
        with redis.Redis.from_url(url, socket_timeout=probe.timeout_s) as client:
            value = client.execute_command(*command)
    except redis.RedisError as exc:
        return Observation(None, error=f"{' '.join(command)[:200]}: {exc}")
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    elif isinstance(value, list | set | tuple):
        value = [v.decode(errors="replace") if isinstance(v, bytes) else v for v in value]
    return Observation(value, f"{' '.join(command)[:200]} -> {value!r}")


def _prometheus(probe: PrometheusProbe, stack: Stack, context: TemplateContext) -> Observation:
    url = stack.services[probe.service].endpoint.url + resolve(
        probe.path, context, where="probe.path"
    )
    try:
        response = httpx.get(url, timeout=probe.timeout_s)
        response.raise_for_status()
        families = list(text_string_to_metric_families(response.text))
    except (httpx.HTTPError, ValueError) as exc:
        return Observation(None, error=f"GET {url}: {type(exc).__name__}: {exc}")
    for family in families:
        for sample in family.samples:
            if sample.name == probe.metric and all(
                sample.labels.get(k) == v for k, v in probe.labels.items()
            ):
                return Observation(sample.value, f"{sample.name}{sample.labels} = {sample.value}")
    return Observation(None, error=f"no sample {probe.metric}{probe.labels} at {url}")


PROBES: dict[str, Callable[[Any, Stack, TemplateContext], Observation]] = {
    "prometheus": _prometheus,
    "http": _http,
    "command": _command,
    "sql": _sql,
    "redis": _redis,
}


def observe(probe: Probe, stack: Stack, context: TemplateContext) -> Observation:
    return PROBES[probe.type](probe, stack, context)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def judge(expect: Expect, observation: Observation) -> tuple[bool, str]:
    """Whether ``observation`` meets ``expect``, and why not."""
    if observation.error is not None:
        return False, observation.error
    value = observation.value
    if expect.equals is not None:
        same = value == expect.equals or (
            _number(value) is not None and _number(value) == _number(expect.equals)
        )
        if not same:
            return False, f"observed {value!r}, expected {expect.equals!r}"
    if expect.min is not None or expect.max is not None:
        number = _number(value)
        if number is None:
            return False, f"observed {value!r}, not a number"
        if expect.min is not None and number < expect.min:
            return False, f"observed {number:g}, below the minimum {expect.min:g}"
        if expect.max is not None and number > expect.max:
            return False, f"observed {number:g}, above the maximum {expect.max:g}"
    if expect.matches is not None and not re.search(expect.matches, str(value)):
        return False, f"observed {value!r}, does not match {expect.matches!r}"
    return True, f"observed {value!r}"
