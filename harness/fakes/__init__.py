"""Fakes the harness runs as real servers: payment providers' APIs with failure schedules."""

__all__: list[str] = []
