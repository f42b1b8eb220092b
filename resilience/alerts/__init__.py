"""The escalation policy: alerts P0-P3 with a dedup key, fired → acknowledged → resolved;
routing to Slack, email and SMS; response windows that re-notify and escalate; grouping,
inhibition (a P0 mutes the P1s it explains) and silences, so a storm of failures pages once.

:class:`~resilience.alerts.engine.Escalation` decides; :mod:`.notifiers` deliver (thin httpx and
SMTP adapters whose failures are recorded, never raised); :mod:`.policy` reads the routing.
"""

from resilience.alerts.engine import Escalation, Signal
from resilience.alerts.policy import Channel, Policy, Severity

__all__ = ["Channel", "Escalation", "Policy", "Severity", "Signal"]
