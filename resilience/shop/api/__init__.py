"""The shop's HTTP API (FastAPI)."""

from resilience.shop.api.app import create_app

__all__ = ["create_app"]
