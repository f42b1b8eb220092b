"""A typed client for Toxiproxy's HTTP API (the real server, v2).

Our own because toxiproxy-python is unmaintained and keeps its host in class globals. One client
per server; every call raises :class:`ToxiproxyError` naming what failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import httpx

from harness.errors import HarnessError

__all__ = ["TOXIC_TYPES", "Proxy", "Toxic", "ToxiproxyClient", "ToxiproxyError"]

#: Toxic types the server knows, with the attributes each takes.
TOXIC_TYPES: dict[str, tuple[str, ...]] = {
    "latency": ("latency", "jitter"),
    "bandwidth": ("rate",),
    "slow_close": ("delay",),
    "timeout": ("timeout",),
    "reset_peer": ("timeout",),
    "slicer": ("average_size", "size_variation", "delay"),
    "limit_data": ("bytes",),
}

Stream = Literal["upstream", "downstream"]


class ToxiproxyError(HarnessError):
    pass


@dataclass(frozen=True)
class Proxy:
    name: str
    listen: str
    upstream: str
    enabled: bool

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])


@dataclass(frozen=True)
class Toxic:
    name: str
    type: str
    stream: str
    toxicity: float
    attributes: dict[str, Any]


class ToxiproxyClient:
    """``ToxiproxyClient("http://127.0.0.1:8474")``; ``transport`` lets tests pass a fake."""

    def __init__(
        self, api_url: str, *, timeout_s: float = 5.0, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.api_url = api_url
        self._http = httpx.Client(base_url=api_url, timeout=timeout_s, transport=transport)

    def _call(self, method: str, path: str, what: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ToxiproxyError(
                f"{what}: Toxiproxy at {self.api_url} did not answer ({exc})"
            ) from exc
        if response.status_code >= 400:
            raise ToxiproxyError(
                f"{what}: Toxiproxy answered {response.status_code}: {response.text.strip()}"
            )
        return response.json() if response.content else None

    def version(self) -> str:
        return str(self._call("GET", "/version", "reading the version"))

    def create_proxy(self, name: str, *, listen: str, upstream: str) -> Proxy:
        data = self._call(
            "POST",
            "/proxies",
            f"creating proxy {name!r}",
            json={"name": name, "listen": listen, "upstream": upstream, "enabled": True},
        )
        return _proxy(data)

    def proxies(self) -> dict[str, Proxy]:
        data = self._call("GET", "/proxies", "listing proxies")
        return {name: _proxy(p) for name, p in data.items()}

    def set_enabled(self, name: str, enabled: bool) -> Proxy:
        what = f"{'enabling' if enabled else 'disabling'} proxy {name!r}"
        return _proxy(self._call("POST", f"/proxies/{name}", what, json={"enabled": enabled}))

    def delete_proxy(self, name: str) -> None:
        self._call("DELETE", f"/proxies/{name}", f"deleting proxy {name!r}")

    def add_toxic(
        self,
        proxy: str,
        toxic_type: str,
        *,
        attributes: dict[str, Any],
        name: str | None = None,
        stream: Stream = "downstream",
        toxicity: float = 1.0,
    ) -> Toxic:
        if toxic_type not in TOXIC_TYPES:
            raise ToxiproxyError(
                f"unknown toxic type {toxic_type!r}; known: {', '.join(TOXIC_TYPES)}"
            )
        unknown = set(attributes) - set(TOXIC_TYPES[toxic_type])
        if unknown:
            raise ToxiproxyError(
                f"toxic {toxic_type!r} takes {', '.join(TOXIC_TYPES[toxic_type])}; "
                f"not {', '.join(sorted(unknown))}"
            )
        body = {
            "name": name or f"{toxic_type}_{stream}",
            "type": toxic_type,
            "stream": stream,
            "toxicity": toxicity,
            "attributes": attributes,
        }
        data = self._call(
            "POST", f"/proxies/{proxy}/toxics", f"adding {toxic_type} to {proxy!r}", json=body
        )
        return _toxic(data)

    def toxics(self, proxy: str) -> list[Toxic]:
        return [_toxic(t) for t in self._call("GET", f"/proxies/{proxy}/toxics", "listing toxics")]

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._call("DELETE", f"/proxies/{proxy}/toxics/{name}", f"removing toxic {name!r}")

    def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        self._call("POST", "/reset", "resetting")

    def close(self) -> None:
        self._http.close()


def _proxy(data: dict[str, Any]) -> Proxy:
    return Proxy(data["name"], data["listen"], data["upstream"], bool(data["enabled"]))


def _toxic(data: dict[str, Any]) -> Toxic:
    return Toxic(
        data["name"],
        data["type"],
        data["stream"],
        float(data["toxicity"]),
        dict(data.get("attributes") or {}),
    )
