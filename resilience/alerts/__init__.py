"""The escalation policy: alerts P0-P3 with a dedup key, fired → acknowledged → resolved;
routing to Slack, email and SMS; response windows that re-notify and escalate; grouping,
inhibition (a P0 mutes the P1s it explains) and silences, so a storm of failures pages once.

:class:`~resilience.alerts.engine.Escalation` decides; :mod:`.notifiers` deliver (thin httpx and
SMTP adapters whose failures are recorded, never raised); :mod:`.policy` reads the routing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from resilience.lazy import lazy_attributes

if TYPE_CHECKING:
    from resilience.alerts.engine import Escalation, Signal
    from resilience.alerts.policy import Channel, Policy, Severity

__all__ = ["Channel", "Escalation", "Policy", "Severity", "Signal"]

# Imported on first use: the engine pulls in SQLAlchemy and httpx, which reading the policy
# (every `shop` command's settings) does not need.
_HOMES = {
    "Escalation": "resilience.alerts.engine",
    "Signal": "resilience.alerts.engine",
    "Channel": "resilience.alerts.policy",
    "Policy": "resilience.alerts.policy",
    "Severity": "resilience.alerts.policy",
}


__getattr__ = lazy_attributes(__name__, _HOMES)
