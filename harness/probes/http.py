"""HTTP probes: a status code, or a value from the JSON answer."""

from __future__ import annotations

import httpx

from harness import httpclient
from harness.probes import PROBES, Observation, dig
from harness.provision.backend import Stack
from harness.provision.templates import TemplateContext, resolve
from harness.scenario.model import HttpProbe

__all__: list[str] = []


@PROBES.register("http")
def _http(probe: HttpProbe, stack: Stack, context: TemplateContext) -> Observation:
    url = stack.services[probe.service].endpoint.url + resolve(
        probe.path, context, where="probe.path"
    )
    try:
        response = httpclient.request(
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
