"""Prometheus probes: one sample of a service's text exposition."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from harness import httpclient
from harness.probes import PROBES, Observation
from harness.provision.backend import Stack
from harness.provision.templates import TemplateContext, resolve
from harness.scenario.model import PrometheusProbe

__all__: list[str] = []


@PROBES.register("prometheus")
def _prometheus(probe: PrometheusProbe, stack: Stack, context: TemplateContext) -> Observation:
    url = stack.services[probe.service].endpoint.url + resolve(
        probe.path, context, where="probe.path"
    )
    try:
        response = httpclient.request("GET", url, timeout=probe.timeout_s)
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
