"""A tamper-evident audit trail: one row per critical action, written in the action's own
database transaction, each row chained to the previous one by a hash (HMAC when a key is set).

:class:`~resilience.audit.trail.AuditTrail` writes and verifies; on PostgreSQL the table is
partitioned by month (:mod:`.partitions`) and refuses UPDATE, DELETE and TRUNCATE itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from resilience.lazy import lazy_attributes

if TYPE_CHECKING:
    from resilience.audit.models import AuditLog
    from resilience.audit.trail import Actor, AuditEntry, AuditTrail, Verification

__all__ = ["Actor", "AuditEntry", "AuditLog", "AuditTrail", "Verification"]

# Imported on first use: the trail pulls in SQLAlchemy, which `shop --help` does not need.
_HOMES = {"AuditLog": "resilience.audit.models"} | dict.fromkeys(
    ("Actor", "AuditEntry", "AuditTrail", "Verification"), "resilience.audit.trail"
)


__getattr__ = lazy_attributes(__name__, _HOMES)
