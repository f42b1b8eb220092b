"""Parse human durations such as ``90s``, ``15m``, ``1h`` or ``2d`` (CLI options such as
``--since``)."""

from __future__ import annotations

import re
from datetime import timedelta

__all__ = ["parse_duration"]

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")


def parse_duration(text: str) -> timedelta:
    """``"1h"`` -> ``timedelta(hours=1)``.

    Raises:
        ValueError: naming the text and the accepted form.
    """
    match = _PATTERN.match(text)
    if match is None:
        raise ValueError(
            f"{text!r} is not a duration; write a number and a unit: 500ms, 30s, 15m, 1h, 2d"
        )
    return timedelta(seconds=float(match[1]) * _UNITS[match[2]])
