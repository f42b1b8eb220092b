"""Which image each service runs in the container backend.

Image names are settings, with public defaults; a scenario names an image only for its own
``kind: process`` services (``image:``), and even that defaults to a setting, so one file runs
on any machine. ``docker/offline/build-images`` builds equivalent images without a registry and
prints the settings that select them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Literal

from harness.provision.kinds import KINDS
from harness.scenario.model import Service

__all__ = ["Images", "PullPolicy"]

PullPolicy = Literal["missing", "never"]


@dataclass(frozen=True)
class Images:
    """Image names by role; each field is read from ``CHAOSGATE_<FIELD>_IMAGE``.

    Attributes:
        redis: ``kind: redis`` (run as ``redis-server``).
        postgres: ``kind: postgres`` (the official image's entrypoint contract:
            ``POSTGRES_DB``, ``POSTGRES_HOST_AUTH_METHOD``).
        toxiproxy: ``kind: toxiproxy`` (entrypoint the Toxiproxy server).
        harness: the harness's fakes (``fake-provider``, ``notify-capture``): an image with
            chaosgate installed, the project's own Dockerfile.
        app: ``kind: process`` services without ``image:`` (the reference shop is in the
            project's image too).
        pull: ``missing`` pulls an image not on this machine; ``never`` fails at once
            (``CHAOSGATE_PULL``).
    """

    redis: str = "redis:7-bookworm"
    postgres: str = "postgres:16-bookworm"
    toxiproxy: str = "ghcr.io/shopify/toxiproxy:2.12.0"
    harness: str = "chaosgate:latest"
    app: str = "chaosgate:latest"
    pull: PullPolicy = "missing"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Images:
        env = os.environ if environ is None else environ
        values: dict[str, str] = {}
        for f in fields(cls):
            if f.name == "pull":
                continue
            value = env.get(cls.setting(f.name), "").strip()
            if value:
                values[f.name] = value
        pull = env.get("CHAOSGATE_PULL", "").strip() or "missing"
        if pull not in ("missing", "never"):
            raise ValueError(f"CHAOSGATE_PULL={pull!r}: give 'missing' or 'never'")
        return cls(**values, pull=pull)  # type: ignore[arg-type]

    @staticmethod
    def setting(role: str) -> str:
        return f"CHAOSGATE_{role.upper()}_IMAGE"

    def for_service(self, name: str, service: Service) -> tuple[str, str]:
        """``(image, where its name comes from)`` for a scenario's service."""
        if service.image is not None:
            return service.image, f"services.{name}.image"
        role = KINDS.get_kind(service.kind).image_role  # each recipe says which it runs
        image: str = getattr(self, role)
        return image, self.setting(role)
