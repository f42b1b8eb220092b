"""Redis probes: the answer to one command."""

from __future__ import annotations

import redis

from harness.probes import PROBES, Observation
from harness.provision.backend import Stack
from harness.provision.templates import TemplateContext, resolve
from harness.scenario.model import RedisProbe

__all__: list[str] = []


@PROBES.register("redis")
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
